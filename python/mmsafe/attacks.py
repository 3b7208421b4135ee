"""Attacks in-process: list them, apply one to a prompt.

``apply`` builds exactly what ``mmsafe attack NAME --input input.txt --seed
SEED`` writes for a one-line ``input.txt`` holding the prompt: the same case
(id ``input:1``), the same per-case seed, the same image bytes.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

from . import _check as check
from . import _native

__all__ = ["list", "apply"]


def list() -> List[Dict[str, Any]]:  # noqa: A001 - the name the API promises
    """Every attack: ``name``, ``summary``, ``params`` (``name``,
    ``default``, ``help``) and ``uses_seed``, as ``mmsafe attack list --json``."""
    return json.loads(_native.attacks_list())


def _param_value(name: str, v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        s = str(v)
        if any(c in s for c in ",+") or (isinstance(v, str) and "=" in s):
            raise ValueError(
                f"apply(): parameter `{name}` = {v!r} has a `,`, `+` or `=`, which attack specs cannot carry"
            )
        return s
    raise TypeError(f"apply(): parameter `{name}` must be a str, int, float or bool, not {type(v).__name__}")


def apply(name: str, text: str, seed: int = 0, **params: Any) -> List[Dict[str, Any]]:
    """Apply attack ``name`` (a spec: ``figstep``, ``inject:corner``,
    ``template:roleplay+figstep``, …) to the prompt ``text`` and return the
    cases it makes (most attacks make one).

    ``params`` become the spec's ``key=value`` parameters
    (``apply("figstep", t, size=60)`` is ``figstep:size=60``).

    Each case is a dict: ``id``, ``prompt`` (its text), ``messages`` (image
    parts reference ``images`` by ``index``), ``images`` (a list of
    ``{"bytes", "mime_type", "sha256"}``; ``PIL.Image.open(io.BytesIO(b))``
    reads them), ``provenance`` (every attack step with its resolved
    parameters and seed), ``attack``, ``seed``, ``hazard``, ``expect``.
    """
    f = "apply"
    name = check.string(f, "name", name).strip()
    text = check.string(f, "text", text)
    seed = check.integer(f, "seed", seed, minimum=0)
    if not text.strip():
        raise ValueError("apply(): `text` is empty")
    if params:
        if "+" in name:
            raise ValueError(
                "apply(): keyword parameters apply to one attack; for a chain write them in the spec "
                "(`template:roleplay+figstep:size=60`)"
            )
        kv = ",".join(f"{k}={_param_value(k, v)}" for k, v in params.items())
        name = f"{name}:{kv}"
    out = []
    for case_json, images in _native.attack_apply(name, text, seed):
        case = json.loads(case_json)
        case["images"] = []
        for m in case["messages"]:
            for p in m["content"]:
                if p.get("type") == "image":
                    mime, data = images[p["index"]]
                    case["images"].append({"bytes": data, "mime_type": mime, "sha256": p["sha256"]})
        out.append(case)
    return out
