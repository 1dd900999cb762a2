"""Time as onboardkit reads it: a callable returning seconds since the epoch (UTC).

Everything that depends on the time takes a ``clock`` argument defaulting to :func:`time.time`, so
tests can use :class:`onboardkit.testing.FrozenClock` instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

__all__ = ["Clock", "system_clock", "utc_datetime"]

Clock = Callable[[], float]

system_clock: Clock = time.time


def utc_datetime(clock: Clock) -> datetime:
    """The clock's current time as an aware UTC datetime."""
    return datetime.fromtimestamp(clock(), tz=timezone.utc)
