"""Time, in one place, so tests, the simulator and the scheduler can reason about it.

``now()`` is the wall clock unless a :class:`SimulatedClock` is set (``set_clock``): then time
starts where the simulated clock says and runs ``speed`` times faster, so that a scheduler's
simulated day can pass in seconds. Only code that asks this module for the time sees it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SimulatedClock", "WallClock", "get_clock", "now", "set_clock", "utcnow"]


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class WallClock:
    """The real time."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class SimulatedClock:
    """Starts at ``start`` (epoch seconds) and runs ``speed`` simulated seconds per real second.

    ``advance(seconds)`` jumps forward at once (tests); ``sleep`` waits the real time that the
    simulated ``seconds`` take.
    """

    def __init__(self, start: float, *, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError(f"a clock's speed must be positive, not {speed!r}")
        self.start, self.speed = float(start), float(speed)
        self._real_start = time.monotonic()
        self._jumped = 0.0

    def now(self) -> float:
        return self.start + self._jumped + (time.monotonic() - self._real_start) * self.speed

    def advance(self, seconds: float) -> None:
        self._jumped += seconds

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.speed)


_wall = WallClock()
_clock: Clock = _wall


def set_clock(clock: Clock | None) -> Clock:
    """Make ``clock`` the process's clock (``None``: the wall clock again); return the old one."""
    global _clock
    old, _clock = _clock, clock or _wall
    return old


def get_clock() -> Clock:
    return _clock


def now() -> float:
    """Seconds since the epoch, on the process's clock."""
    return _clock.now()


def utcnow() -> datetime:
    """The current time (on the process's clock) as an aware UTC datetime."""
    return datetime.fromtimestamp(_clock.now(), UTC)
