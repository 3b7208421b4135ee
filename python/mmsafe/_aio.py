"""The asyncio loop that runs ``async def`` targets.

One loop on one daemon thread per process, started on first use: the scan's
Rust side schedules each coroutine here with ``run_coroutine_threadsafe`` and
is told of the result by a done-callback, so no Rust thread waits on Python.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Awaitable, Optional

_loop: Optional[asyncio.AbstractEventLoop] = None
_lock = threading.Lock()


def _ensure_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            t = threading.Thread(target=loop.run_forever, name="mmsafe-asyncio", daemon=True)
            t.start()
            _loop = loop
        return _loop


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def submit(awaitable: Awaitable[Any]) -> "concurrent.futures.Future[Any]":
    """Run ``awaitable`` on the mmsafe loop; a future of its result."""
    loop = _ensure_loop()
    if asyncio.iscoroutine(awaitable):
        return asyncio.run_coroutine_threadsafe(awaitable, loop)
    # Any other awaitable (a Task-like object, an object with __await__).
    return asyncio.run_coroutine_threadsafe(_await(awaitable), loop)
