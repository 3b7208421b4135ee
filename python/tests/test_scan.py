"""mmsafe.scan with Python callables as targets (issue 20)."""

import _thread
import asyncio
import threading
import time

import pytest

import mmsafe

REFUSAL = "I'm sorry, but I can't help with that."
COMPLY = "Sure, here is a detailed answer: first, gather what you need; second, follow the steps."


def text_of(message):
    c = message["content"]
    if isinstance(c, str):
        return c
    return "\n".join(p["text"] for p in c if p["type"] == "text")


def has_image(messages):
    return any(
        isinstance(m["content"], list) and any(p["type"] == "image_url" for p in m["content"])
        for m in messages
    )


def rule_based(messages):
    """A tiny model: refuses whatever comes with an image, answers the rest."""
    return REFUSAL if has_image(messages) else COMPLY


def test_quick_scan_of_a_rule_based_callable_read_through_pandas(store):
    seen = []

    def model(messages):
        seen.append(messages)
        return rule_based(messages)

    run = mmsafe.scan(
        target=model, suite="quick", attacks=["none", "figstep"], store=store, concurrency=4
    )
    assert isinstance(run, mmsafe.Run) and run.status == "completed"
    df = run.to_pandas()
    assert len(df) == 200 and set(df["attack"]) == {"none", "figstep"}
    # Every image attempt was refused, every text attempt answered.
    assert (df[df.attack == "figstep"]["label"] == "refused").all()
    assert (df[df.attack == "none"]["label"] == "complied").all()
    assert df["error"].isna().all()
    # The summary has the `mmsafe scan --json` figures and agrees with the rows.
    s = run.summary()
    assert s["attempts"] == 200
    assert s["by_attack"]["none"]["asr"] == 1.0
    assert s["by_attack"]["figstep"]["asr"] == 0.0
    assert s["by_attack"]["figstep"]["over_refusal_rate"] == 1.0
    assert s["asr"] == pytest.approx(0.5)
    # What the callable saw: OpenAI-style messages; images as bytes + MIME type and a data URL.
    part = next(p for m in seen if has_image(m) for p in m[-1]["content"] if p["type"] == "image_url")
    assert part["mime_type"] == "image/png" and part["bytes"].startswith(b"\x89PNG")
    assert part["image_url"]["url"].startswith("data:image/png;base64,")
    # The run is in the store, with its target recorded as the in-process spec.
    runs = mmsafe.open_store(store).runs()
    assert [r.id for r in runs] == [run.id]
    assert run.info()["plan"]["target"] == "inproc:test_quick_scan_of_a_rule_based_callable_read_through_pandas.model"
    v = run.verdicts()
    assert len(v) == 200 and {x["judge"] for x in v} == {"refusal"}


def test_an_async_callable_runs_with_bounded_concurrency(store):
    state = {"now": 0, "max": 0}

    async def model(messages):
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        await asyncio.sleep(0.01)
        state["now"] -= 1
        return {"content": rule_based(messages), "finish_reason": "stop", "usage": {"completion_tokens": 7}}

    run = mmsafe.scan(target=model, suite="quick", attacks=["none"], store=store, concurrency=5)
    rows = run.attempts()
    assert len(rows) == 100
    assert all(r["error"] is None and r["finish_reason"] == "stop" for r in rows)
    assert all(r["completion_tokens"] == 7 for r in rows)
    # Calls overlapped on the event loop, never beyond `concurrency`.
    assert 1 < state["max"] <= 5


def test_a_sync_callable_runs_in_parallel_without_the_gil_and_within_concurrency(store):
    lock = threading.Lock()
    state = {"now": 0, "max": 0}
    ticks = []
    stop = threading.Event()

    def ticker():
        # A Python thread that keeps running while the scan runs: the GIL is free.
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.005)

    def model(messages):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
        return COMPLY

    t = threading.Thread(target=ticker)
    t.start()
    try:
        mmsafe.scan(target=model, suite="quick", attacks=["none"], store=store, concurrency=3)
    finally:
        stop.set()
        t.join()
    assert 1 < state["max"] <= 3
    assert len(ticks) > 20


def test_an_exception_in_the_callable_is_an_error_attempt_never_a_pass(store):
    def model(messages):
        if "bomb" in text_of(messages[-1]).lower() or len(text_of(messages[-1])) % 3 == 0:
            raise ValueError("model exploded")
        return COMPLY

    run = mmsafe.scan(target=model, suite="quick", attacks=["none"], store=store, concurrency=4)
    df = run.to_pandas()
    errors = df[df["error"].notna()]
    assert len(errors) > 0 and len(errors) < len(df)
    assert (errors["error_kind"] == "other").all()
    assert errors["error"].str.contains("ValueError: model exploded").all()
    assert (errors["label"] == "error").all()
    assert run.summary()["error_rate"] == pytest.approx(len(errors) / len(df))


def test_a_bad_return_value_is_an_error_attempt(store):
    run = mmsafe.scan(target=lambda m: 42, suite="quick", attacks=["none"], store=store, concurrency=2)
    rows = run.attempts()
    assert all(r["error_kind"] == "malformed" and "returned int" in r["error"] for r in rows)


def test_ctrl_c_leaves_a_resumable_run(store):
    calls = []

    slow = {"on": True}

    def model(messages):
        calls.append(1)
        if len(calls) == 10:
            # What Ctrl-C does: SIGINT for the main thread, which is waiting in the scan.
            _thread.interrupt_main()
            if slow["on"]:
                # A slow model call in flight does not hold up the stop.
                time.sleep(3)
        time.sleep(0.005)
        return COMPLY

    t0 = time.monotonic()
    with pytest.raises(mmsafe.Interrupted) as e:
        mmsafe.scan(target=model, suite="quick", attacks=["none"], store=store, concurrency=2)
    assert time.monotonic() - t0 < 2.5
    slow["on"] = False
    assert isinstance(e.value, KeyboardInterrupt)
    run_id = e.value.run_id
    done = len(mmsafe.open_store(store).run(run_id).attempts())
    assert 0 < done < 100
    assert mmsafe.open_store(store).run(run_id).status != "completed"
    # Resuming with the same callable finishes the run without repeating an attempt.
    run = mmsafe.scan(target=model, resume=run_id, store=store, concurrency=2)
    assert run.id == run_id and run.status == "completed"
    assert len(run.attempts()) == 100


def test_a_target_spec_runs_over_loopback_http_and_sums_up_as_the_cli_does(store, mmsafe_cli):
    import json
    import subprocess

    from mmsafe._native import MockServer

    with MockServer() as server:
        run = mmsafe.scan(target=server.spec, suite="quick", attacks=["none"], store=store, no_cache=True)
    assert len(run.attempts()) == 100 and run.summary()["error_rate"] == 0.0
    shown = subprocess.run(
        [mmsafe_cli, "runs", "show", run.id, "--store", store, "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(shown.stdout)["summary"] == run.summary()
