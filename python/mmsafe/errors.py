"""Exceptions raised by mmsafe.

Every failure of an mmsafe call is one of these (or a ``TypeError`` for an
argument of the wrong type); none of them can take the interpreter down.
"""

from __future__ import annotations

__all__ = ["MmsafeError", "SpecError", "Interrupted"]


class MmsafeError(Exception):
    """An mmsafe operation failed (unreachable target, unreadable store, …).

    The message is the one the ``mmsafe`` command prints after ``error:``.
    """


class SpecError(MmsafeError, ValueError):
    """A spec or value mmsafe does not accept: an unknown attack, judge,
    suite, policy or target scheme, or a bad parameter. The message carries
    the command line's did-you-mean when there is a close name."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a scan. Its run is in the store and resumable:
    ``mmsafe.scan(target=..., resume=e.run_id, store=e.store)``."""

    def __init__(self, message: str, run_id: str, store: str, recorded: int) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.store = store
        self.recorded = recorded
