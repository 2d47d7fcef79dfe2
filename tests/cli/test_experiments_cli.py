"""``limelight experiments create|start``: name rules and the overlap check, as typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli._run import run_cli

from limelight.experiments.store import list_experiments
from limelight.registry import Registry
from limelight.store import open_store

_cli = run_cli


VARIANTS = ["--variant", "control=recs/1:0.5", "--variant", "treatment=recs/2:0.5"]


@pytest.fixture
def recs(home: Path) -> Registry:
    registry = Registry()
    registry.register("recs", [1])
    registry.register("recs", [2])
    return registry


@pytest.mark.parametrize("name", ["../../x", "a/b", "<script>", "x" * 5000, "", "a b"])
def test_bad_experiment_names_are_refused(
    recs: Registry, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, _, err = _cli(capsys, "experiments", "create", name, *VARIANTS)
    assert code == 2 and "is not an experiment name" in err and "Traceback" not in err
    assert len(err) < 400, "a 5,000-character name is not echoed whole"
    assert list_experiments(open_store().metadata) == []


@pytest.mark.parametrize("name", ["fuzz-ab", "rows.v2", "Home_Row-3"])
def test_valid_experiment_names(
    recs: Registry, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert _cli(capsys, "experiments", "create", name, *VARIANTS)[0] == 0
    code, out, _ = _cli(capsys, "experiments", "show", name)
    assert code == 0 and f'"name": "{name}"' in out


def test_a_second_experiment_on_the_same_model_needs_allow_overlap(
    recs: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(capsys, "experiments", "create", "ab", *VARIANTS, "--start")[0] == 0
    code, _, err = _cli(capsys, "experiments", "create", "fuzz-ab", *VARIANTS, "--start")
    assert code == 2 and "running experiment 'ab' also steers" in err and "--allow-overlap" in err
    assert [s.name for s in list_experiments(open_store().metadata)] == ["ab"], "nothing stored"
    assert _cli(capsys, "experiments", "create", "fuzz-ab", *VARIANTS)[0] == 0
    code, _, err = _cli(capsys, "experiments", "start", "fuzz-ab")
    assert code == 2 and "running experiment 'ab' also steers" in err
    code, out, _ = _cli(capsys, "experiments", "start", "fuzz-ab", "--allow-overlap")
    assert code == 0 and "running since" in out
    code, _, err = _cli(capsys, "experiments", "create", "c", *VARIANTS, "--allow-overlap")
    assert code == 2 and "--allow-overlap goes with --start" in err
    code, out, _ = _cli(
        capsys, "experiments", "create", "d", *VARIANTS, "--start", "--allow-overlap"
    )
    assert code == 0 and "started it" in out
