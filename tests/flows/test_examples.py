"""The flows in examples/ run as their docstrings say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from limelight.flows import Run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LIMELIGHT = [sys.executable, "-c", "from limelight.cli import main; main()"]


def _limelight(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [*LIMELIGHT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_hello(home: Path) -> None:
    result = _limelight("run", str(EXAMPLES / "hello.py"), "--name", "Ada")
    assert result.returncode == 0, result.stderr
    run = Run("HelloFlow/1")
    assert run.data.loud == "HELLO, ADA!"
    assert run["start"].task.stdout == "Hello, Ada!\n"


def test_foreach_sweep(home: Path) -> None:
    result = _limelight(
        "run", str(EXAMPLES / "foreach_sweep.py"), "--alphas", "[0.1, 1000]", "--max-workers", "2"
    )
    assert result.returncode == 0, result.stderr
    data = Run("RidgeSweep/1").data
    assert set(data.scores) == {0.1, 1000.0}
    assert data.best["alpha"] == 0.1  # a tiny penalty beats a huge one with 400 rows
    assert data.best["rmse"] == min(data.scores.values())


def test_resume_after_failure(home: Path) -> None:
    path = str(EXAMPLES / "resume_after_failure.py")
    failed = _limelight("run", path, env={"LIMELIGHT_EXAMPLE_FAIL": "1"})
    assert failed.returncode == 1
    assert "evaluation data is not ready" in failed.stderr
    resumed = _limelight("resume", path, env={"LIMELIGHT_EXAMPLE_FAIL": "0"})
    assert resumed.returncode == 0, resumed.stderr
    run = Run("FlakyTraining/2")
    assert run.data.error < 1e-9
    assert [run[s].task.reused for s in ("start", "prepare", "train", "evaluate", "end")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert "resumed from 1" in run["evaluate"].task.stdout
