"""The one place the application reads the time from.

Services and the job runner call `now()` instead of `timezone.now()`, so a test can
stop the clock at a chosen instant and move it forward. In normal running nothing
is set and `now()` is the real time.
"""

from contextlib import contextmanager
from datetime import datetime, timedelta

from django.utils import timezone

_frozen_at: datetime | None = None


def now() -> datetime:
    return _frozen_at if _frozen_at is not None else timezone.now()


def frozen_at() -> datetime | None:
    """The instant the clock was stopped at, or None while it runs.

    Code that asks the database for the time (the job runner) uses this to follow
    a stopped clock in tests and the database's own clock otherwise.
    """
    return _frozen_at


def set_now(instant: datetime | None) -> None:
    """Stop the clock at `instant` (an aware datetime), or restart it with None."""
    global _frozen_at
    if instant is not None and timezone.is_naive(instant):
        raise ValueError("the clock needs an aware datetime")
    _frozen_at = instant


def advance(delta: timedelta) -> datetime:
    """Move a stopped clock forward and answer the new instant."""
    if _frozen_at is None:
        raise RuntimeError("advance() needs a stopped clock; call set_now() first")
    set_now(_frozen_at + delta)
    return _frozen_at


@contextmanager
def stopped_at(instant: datetime):
    previous = _frozen_at
    set_now(instant)
    try:
        yield
    finally:
        set_now(previous)
