"""``limelight experiments analyze`` over the event log: snapshots read, --json, --as-of."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests._eventlog import same, spec_of, write_log
from tests.cli._run import run_cli

from limelight.experiments import analyze_events
from limelight.experiments.report import analysis_dict
from limelight.experiments.store import create_experiment
from limelight.store import open_store
from limelight.store.event_queries import scan_events
from limelight.store.events import read_events


@pytest.fixture
def logged(home: Path) -> Path:
    store = open_store()
    create_experiment(store.metadata, spec_of(2))
    write_log(Path(store.config.events), spec_of(2), seed=3, users=200, n=3000)
    return Path(store.config.events)


def test_analyze_prints_the_snapshots_it_read_and_json_equals_the_in_memory_path(
    logged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "experiments", "analyze", "ab")
    assert code == 0, err
    assert re.search(r"event log read at: feedback=\d+, impressions=\d+", out), out
    code, out, err = run_cli(capsys, "experiments", "analyze", "ab", "--json", "--no-cuped")
    assert code == 0, err
    found = json.loads(out)
    assert all(isinstance(s, int) for s in found["snapshots"].values()), found
    imp, fb = read_events(str(logged), "impressions"), read_events(str(logged), "feedback")
    expected = analysis_dict(analyze_events(imp, fb, spec_of(2), use_cuped=False))
    expected["snapshots"] = found["snapshots"]
    same(json.loads(json.dumps(expected)), found)
    plot = logged.parent / "series.svg"
    code, out, err = run_cli(capsys, "experiments", "analyze", "ab", "--plot", str(plot))
    assert code == 0 and "<svg" in plot.read_text() and "plot written" in out, err


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("garbage", "KIND=SNAPSHOT"),
        ("impressions=x", "whole number"),
        ("impressions=3", "has no snapshot 3;"),
    ],
)
def test_bad_as_of_is_a_clear_error(
    logged: Path, capsys: pytest.CaptureFixture[str], as_of: str, message: str
) -> None:
    code, _, err = run_cli(capsys, "experiments", "analyze", "ab", "--as-of", as_of)
    assert code == 2 and message in err and "Traceback" not in err, err


def test_a_truncated_file_names_the_file(logged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = scan_events(str(logged), "feedback").files  # the table's own data files
    victim = next(Path(f) for f in files if "date=2023-11-16" in f)
    victim.write_bytes(b"PAR1 not really")
    code, _, err = run_cli(capsys, "experiments", "analyze", "ab")
    assert code != 0 and victim.name in err and "Traceback" not in err, err
