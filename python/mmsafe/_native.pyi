"""Type stub of the native module (Rust, PyO3). Use the public API in
``mmsafe`` instead: these functions take checked arguments and return JSON."""

from types import TracebackType
from typing import Any, List, Optional, Tuple

__version__: str

def run_cli(argv: List[str]) -> int: ...
def scan(
    target: Optional[str],
    callable: Optional[Any],
    target_name: Optional[str],
    is_async: bool,
    suites: List[str],
    attacks: List[str],
    defenses: List[str],
    judges: List[str],
    store: str,
    concurrency: int,
    max_tokens: Optional[int] = None,
    repeats: Optional[int] = None,
    seed: Optional[int] = None,
    run_name: Optional[str] = None,
    resume: Optional[str] = None,
    retry_errors: bool = False,
    timeout: Optional[float] = None,
    rate: Optional[float] = None,
    no_cache: bool = False,
    skip_broken: bool = False,
) -> str: ...
def store_runs(store: str) -> str: ...
def store_run(store: str, run: str) -> str: ...
def run_summary(store: str, run: str, judge: Optional[str] = None) -> str: ...
def run_attempts(store: str, run: str) -> str: ...
def attacks_list() -> str: ...
def attack_apply(spec: str, text: str, seed: int) -> List[Tuple[str, List[Tuple[str, bytes]]]]: ...
def guard_check(prompt: str, images: List[bytes], policy: str) -> str: ...
def judge(spec: str, request: str, reply: str) -> str: ...

class MockServer:
    """Loopback OpenAI-compatible server (127.0.0.1) for tests and benchmarks."""

    spec: str
    def __init__(self, latency_ms: int = 0) -> None: ...
    def stop(self) -> None: ...
    def __enter__(self) -> "MockServer": ...
    def __exit__(
        self,
        a: Optional[type],
        b: Optional[BaseException],
        c: Optional[TracebackType],
    ) -> None: ...
