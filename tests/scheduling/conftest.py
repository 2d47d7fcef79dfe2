from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from limelight.core import clock


@pytest.fixture
def sched_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home whose runs use the inline executor (no worker pool: lean tests)."""
    monkeypatch.setenv("LIMELIGHT_EXECUTOR", "inline")
    return home


@pytest.fixture
def sim_clock() -> Iterator[clock.SimulatedClock]:
    """A simulated clock (set for the test, the wall clock again after it) that tests advance."""
    simulated = clock.SimulatedClock(1_780_000_000.0, speed=1.0)
    old = clock.set_clock(simulated)
    yield simulated
    clock.set_clock(old)
