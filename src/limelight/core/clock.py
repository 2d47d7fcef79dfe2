"""Time, in one place, so tests and the simulator can reason about it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["now", "utcnow"]


def now() -> float:
    """Seconds since the epoch."""
    return time.time()


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)
