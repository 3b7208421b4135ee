"""mmsafe: evaluate, attack and defend multimodal LLMs, from Python.

The toolkit's Rust core runs in-process; your model can be a target spec
(``"openai-compatible:http://127.0.0.1:8000/v1#llava"``, ``"local:smollm2"``)
or any Python callable that takes OpenAI-style ``messages``::

    import mmsafe

    def model(messages):
        return "I can't help with that."

    run = mmsafe.scan(target=model, suite="quick", attacks=["none", "figstep"])
    run.summary()["asr"]
    run.to_pandas()

See docs/python.md for the whole API.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from . import _check as check
from . import _native
from . import attacks, guard
from .errors import Interrupted, MmsafeError, SpecError

__all__ = [
    "scan",
    "Run",
    "Store",
    "open_store",
    "judge",
    "attacks",
    "guard",
    "MmsafeError",
    "SpecError",
    "Interrupted",
    "__version__",
]

__version__: str = _native.__version__

#: What ``target`` may be: a target spec, or a callable taking ``messages``
#: and returning a ``str`` or a dict with ``content`` (sync or ``async def``).
Target = Union[str, Callable[[List[Dict[str, Any]]], Any]]

_SCAN_OPTIONS = {
    "max_tokens",
    "repeats",
    "seed",
    "run_name",
    "resume",
    "retry_errors",
    "timeout",
    "rate",
    "no_cache",
    "skip_broken",
    "target_name",
}


class Run:
    """One run in a store: the plan, its attempts and its verdicts.

    A ``Run`` reads the store each time it is asked, so it sees what a
    resumed or re-judged run added.
    """

    def __init__(self, store: Union[str, "os.PathLike[str]"], run_id: str) -> None:
        self.store: str = check.path("Run", "store", store)
        self.id: str = check.string("Run", "run_id", run_id)

    def __repr__(self) -> str:
        return f"Run(store={self.store!r}, run_id={self.id!r})"

    def info(self) -> Dict[str, Any]:
        """The stored run: ``id``, ``name``, ``created``, ``status``, ``plan``, ``seed``, ``versions``."""
        return json.loads(_native.store_run(self.store, self.id))

    @property
    def status(self) -> str:
        """``running``, ``completed``, ``interrupted`` or ``failed``."""
        return self.info()["status"]

    def summary(self, judge: Optional[str] = None) -> Dict[str, Any]:
        """The run's figures: the same JSON object as ``mmsafe scan --json``
        (ASR and over-refusal with intervals, per attack / defense / hazard
        breakdowns), under ``judge`` (default: the run's first judge)."""
        judge = check.opt_string("Run.summary", "judge", judge)
        return json.loads(_native.run_summary(self.store, self.id, judge))

    def attempts(self) -> List[Dict[str, Any]]:
        """One dict per attempt: ``case_id``, ``attack``, ``defense``,
        ``repeat``, ``hazard``, ``expect``, ``prompt``, ``response`` (``None``
        for an error), ``finish_reason``, ``error_kind``, ``error``,
        ``latency_ms``, tokens, and ``verdicts`` (a list of dicts)."""
        return json.loads(_native.run_attempts(self.store, self.id))

    def verdicts(self) -> List[Dict[str, Any]]:
        """One dict per verdict: the attempt's ``key``, ``case_id``,
        ``attack``, ``defense``, ``repeat``, ``expect``, then ``judge``,
        ``label`` (``refused``, ``complied``, ``undecided``, ``error``),
        ``score`` and ``rationale``."""
        out = []
        for a in self.attempts():
            for v in a["verdicts"]:
                out.append(
                    {
                        "key": a["key"],
                        "case_id": a["case_id"],
                        "attack": a["attack"],
                        "defense": a["defense"],
                        "repeat": a["repeat"],
                        "expect": a["expect"],
                        "judge": v.get("judge"),
                        "label": v.get("label"),
                        "score": v.get("score"),
                        "rationale": v.get("rationale", ""),
                    }
                )
        return out

    def to_pandas(self, verdicts: bool = False) -> Any:
        """A ``pandas.DataFrame``: one row per attempt (with ``judge`` and
        ``label`` of the run's first judge, and ``labels``: every judge's
        label), or with ``verdicts=True`` one row per verdict. Needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Run.to_pandas() needs pandas: pip install pandas") from None
        if check.boolean("Run.to_pandas", "verdicts", verdicts):
            return pd.DataFrame(self.verdicts())
        plan = self.info()["plan"]
        first = plan["judges"][0] if plan.get("judges") else None
        rows = []
        for a in self.attempts():
            vs = a.pop("verdicts")
            labels = {v["judge"]: v["label"] for v in vs}
            primary = next((v for v in vs if v["judge"] == first), vs[0] if vs else None)
            a["judge"] = primary["judge"] if primary else None
            a["label"] = primary["label"] if primary else None
            a["score"] = primary.get("score") if primary else None
            a["labels"] = labels
            rows.append(a)
        return pd.DataFrame(rows)


class Store:
    """A run store (SQLite file) written by ``mmsafe.scan`` or ``mmsafe scan``."""

    def __init__(self, path: Union[str, "os.PathLike[str]"]) -> None:
        self.path: str = check.path("open_store", "path", path)

    def __repr__(self) -> str:
        return f"Store({self.path!r})"

    def runs(self) -> List[Run]:
        """Every run in the store, newest first."""
        return [Run(self.path, r["id"]) for r in self.list()]

    def list(self) -> List[Dict[str, Any]]:
        """Every run as a dict (the ``mmsafe runs list --json`` rows)."""
        return json.loads(_native.store_runs(self.path))

    def run(self, run: str) -> Run:
        """A run by id or name."""
        run = check.string("Store.run", "run", run)
        info = json.loads(_native.store_run(self.path, run))
        return Run(self.path, info["id"])


def open_store(path: Union[str, "os.PathLike[str]"] = "mmsafe.db") -> Store:
    """Open an existing run store (reading never creates one)."""
    return Store(path)


def _is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)
    return call is not None and inspect.iscoroutinefunction(call)


def _target_name(fn: Any) -> str:
    """A name for the run's target spec (``inproc:NAME``): the callable's
    qualified name, so resuming with the same function finds the run's
    target again."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    name = str(name).replace("<locals>.", "")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.-")
    return name or "python"


def scan(
    target: Target,
    suite: Union[str, Sequence[str]] = "quick",
    attacks: Sequence[str] = ("none", "figstep"),
    defenses: Sequence[str] = ("none",),
    judges: Sequence[str] = ("refusal",),
    store: Union[str, "os.PathLike[str]"] = "mmsafe.db",
    concurrency: int = 8,
    **options: Any,
) -> Run:
    """Run ``suite`` × ``attacks`` × ``defenses`` against ``target``, judge
    every response with ``judges``, store everything in ``store``, and
    return the :class:`Run`.

    ``target`` is a target spec string or a callable. A callable receives
    OpenAI-style ``messages`` (a list of ``{"role", "content"}`` dicts;
    ``content`` is a str, or a list of parts: ``{"type": "text", "text"}``
    and ``{"type": "image_url", "image_url": {"url": data_url}, "bytes",
    "mime_type"}``) and returns a str or a dict with ``content`` and
    optionally ``finish_reason``, ``usage`` and ``model``. It may be an
    ``async def``. At most ``concurrency`` calls are in flight; sync
    callables run on worker threads (the GIL is held only while Python
    code runs). An exception in the callable makes that attempt an
    ``error`` attempt carrying the message: never a crash, never a pass.

    Options (as ``mmsafe scan``'s flags): ``max_tokens`` (256),
    ``repeats`` (1), ``seed`` (0), ``run_name``, ``resume`` (a run id or
    name to finish; the plan comes from the store), ``retry_errors``,
    ``timeout`` (seconds per request, 120), ``rate`` (requests per
    second), ``no_cache``, ``skip_broken``, and ``target_name`` (the
    ``NAME`` of a callable's ``inproc:NAME`` spec; default: its qualified
    name).

    Ctrl-C stops the scan cleanly and raises :class:`mmsafe.Interrupted`
    (a ``KeyboardInterrupt``) whose ``run_id`` resumes it.
    """
    f = "scan"
    check.no_unknown(f, options, _SCAN_OPTIONS)
    o = dict(options)
    target_name = check.opt_string(f, "target_name", o.pop("target_name", None))
    spec: Optional[str] = None
    fn: Any = None
    if isinstance(target, str):
        spec = target
        if target_name is not None:
            raise ValueError("scan(): `target_name` names a callable target; `target` is a spec")
    elif callable(target):
        fn = target
        target_name = target_name or _target_name(fn)
    else:
        raise TypeError(
            f"scan(): `target` must be a target spec (str) or a callable, not {type(target).__name__}"
        )
    resume = check.opt_string(f, "resume", o.get("resume"))
    suites = check.strings(f, "suite", suite)
    # On resume the stored plan is the plan: the defaults of this signature
    # must not count as "flags that differ from it".
    plan_args = [
        check.strings(f, "attacks", attacks),
        check.strings(f, "defenses", defenses),
        check.strings(f, "judges", judges),
    ]
    if resume is not None:
        defaults = scan.__defaults__ or ()
        given = [suite, attacks, defenses, judges]
        suites = [] if suite == defaults[0] else suites
        plan_args = [[] if g == d else a for g, d, a in zip(given[1:], defaults[1:4], plan_args)]
    out = _native.scan(
        spec,
        fn,
        target_name,
        _is_async(fn) if fn is not None else False,
        suites,
        plan_args[0],
        plan_args[1],
        plan_args[2],
        check.path(f, "store", store),
        check.integer(f, "concurrency", concurrency, minimum=1),
        max_tokens=check.opt_integer(f, "max_tokens", o.get("max_tokens"), minimum=1),
        repeats=check.opt_integer(f, "repeats", o.get("repeats"), minimum=1),
        seed=check.opt_integer(f, "seed", o.get("seed"), minimum=0),
        run_name=check.opt_string(f, "run_name", o.get("run_name")),
        resume=resume,
        retry_errors=check.boolean(f, "retry_errors", o.get("retry_errors", False)),
        timeout=check.opt_number(f, "timeout", o.get("timeout")),
        rate=check.opt_number(f, "rate", o.get("rate")),
        no_cache=check.boolean(f, "no_cache", o.get("no_cache", False)),
        skip_broken=check.boolean(f, "skip_broken", o.get("skip_broken", False)),
    )
    res = json.loads(out)
    return Run(res["store"], res["run_id"])


def judge(name: str, request: str, reply: str) -> Dict[str, Any]:
    """Judge one reply to one request with the judge spec ``name``
    (``refusal``, ``classifier``, ``llm:<target>``, …) and return the
    verdict: ``judge``, ``label`` (``refused``, ``complied``,
    ``undecided``, ``error``), ``score`` (when the judge gives one) and
    ``rationale``."""
    f = "judge"
    return json.loads(
        _native.judge(
            check.string(f, "name", name),
            check.string(f, "request", request),
            check.string(f, "reply", reply),
        )
    )
