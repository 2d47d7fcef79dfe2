"""``limelight models alias|gates``: the usage-rights gate and strict versions, as typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli._run import run_cli

from limelight import Flow, current, step
from limelight.registry import Registry


class Research(Flow):
    @step
    def start(self):
        current.use_dataset("clicks", "v1", license="internal", usage="research-only")
        current.register_model("research", [1.0])
        self.next(self.end)

    @step
    def end(self):
        pass


_cli = run_cli


def test_research_only_model_is_refused_champion_until_the_gate_is_switched_off(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Research.run()
    alias = ["models", "alias", "research", "1", "champion", "--why", "best offline"]
    code, _, err = _cli(capsys, *alias)
    assert code == 2 and "refused by usage rights" in err and "clicks (research-only)" in err
    code, _, err = _cli(capsys, "models", "gates", "research", "--no-usage-gate")
    assert code == 2 and "needs a why" in err
    code, _, err = _cli(capsys, "models", "gates", "research", "--why", "study")
    assert code == 2 and "--why goes with --usage-gate or --no-usage-gate" in err
    assert Registry().usage_gate("research").on, "refused switches change nothing"
    code, out, _ = _cli(
        capsys, "models", "gates", "research", "--no-usage-gate", "--why", "internal study"
    )
    assert code == 0 and "usage-rights gate on champion: OFF" in out and "internal study" in out
    code, out, _ = _cli(capsys, *alias)
    assert code == 0 and "research@champion: - -> 1" in out
    code, out, _ = _cli(capsys, "models", "history", "research")
    assert "usage-gate-off" in out and "internal study" in out
    code, out, _ = _cli(capsys, "models", "show", "research")
    assert "usage-rights gate on champion: OFF" in out
    code, out, _ = _cli(capsys, "models", "gates", "research", "--usage-gate")
    assert code == 0 and "usage-rights gate on champion: on" in out
    code, _, err = _cli(capsys, *alias)
    assert code == 2 and "refused by usage rights" in err


def test_champion_without_datasets_needs_a_real_why(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Registry().register("m", [1])
    code, _, err = _cli(capsys, "models", "alias", "m", "1", "champion", "--why", " ")
    assert code == 2 and "no dataset in its lineage" in err and "give a why" in err
    code, _, err = _cli(capsys, "models", "alias", "m", "1", "champion")
    assert code == 2 and "Missing option '--why'" in err
    code, out, _ = _cli(capsys, "models", "alias", "m", "1", "champion", "--why", "baseline")
    assert code == 0 and "m@champion: - -> 1" in out


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("99999999999999999999", "from 1 to 9223372036854775807"),
        ("1_0", "digits 0-9 only"),
        ("0", "from 1 to"),
        ("\u0663", "digits 0-9 only"),
        ("x", "digits 0-9 only"),
    ],
)
def test_alias_versions_are_parsed_strictly(
    home: Path, capsys: pytest.CaptureFixture[str], version: str, message: str
) -> None:
    Registry().register("m", [1])
    code, _, err = _cli(capsys, "models", "alias", "m", version, "champion", "--why", "x")
    assert code == 2 and message in err and "Traceback" not in err
    assert Registry().history("m") == []


def test_latest_cannot_be_set_from_the_cli(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Registry().register("m", [1])
    code, _, err = _cli(capsys, "models", "alias", "m", "1", "latest", "--why", "x")
    assert code == 2 and "'latest' is reserved" in err


def test_gates_options_that_do_not_go_together(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Registry().register("m", [1])
    code, _, err = _cli(capsys, "models", "gates", "m", "--margin", "0.1")
    assert code == 2 and "--margin and --lower-is-better go with --metric" in err
    code, _, err = _cli(capsys, "models", "gates", "nope", "--no-usage-gate", "--why", "x")
    assert code == 2 and "there is no model 'nope'" in err
    code, out, _ = _cli(capsys, "models", "gates", "m")
    assert code == 0 and "usage-rights gate on champion: on" in out


def test_models_delete_and_rename_from_the_cli(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = Registry()
    for i in range(3):
        registry.register("m", [i])
    registry.set_alias("m", "live", 3, why="launch")
    code, _, err = _cli(capsys, "models", "delete", "m/3", "--why", "bad")
    assert code == 2 and "m@live points at version 3" in err
    code, _, err = _cli(capsys, "models", "delete", "m/3")
    assert code == 2 and "--why" in err
    code, _, err = _cli(capsys, "models", "delete", "m@live", "--why", "x")
    assert code == 2 and "by its number" in err
    code, out, _ = _cli(capsys, "models", "delete", "m/2", "--why", "trained on the wrong day")
    assert code == 0 and "deleted m/2" in out
    code, _, err = _cli(capsys, "models", "rename", "m", "m2")
    assert code == 2 and "m@live" in err
    registry.remove_alias("m", "live", why="retired")
    code, _, err = _cli(capsys, "models", "rename", "m", "not a name")
    assert code == 2 and "is not a model name" in err
    code, out, _ = _cli(capsys, "models", "rename", "m", "m2")
    assert code == 0 and "renamed m to m2" in out
    assert [v.version for v in registry.versions("m2")] == [1, 3]
    code, _, err = _cli(capsys, "models", "delete", "m2", "--why", "obsolete")
    assert code == 2 and "its 2 version(s): add --yes" in err
    assert registry.models() == ["m2"], "a whole model is deleted only with --yes"
    code, out, _ = _cli(capsys, "models", "delete", "m2", "--why", "obsolete", "--yes")
    assert code == 0 and "deleted model m2 (2 version(s))" in out
    assert registry.models() == []
    code, _, err = _cli(capsys, "models", "delete", "m2", "--why", "again", "--yes")
    assert code == 2 and "there is no model 'm2'" in err
