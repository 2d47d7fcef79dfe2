"""The usage-rights gate guards every model's champion unless switched off, audited, for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from limelight import Flow, Param, current, step
from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.registry import GateRefused, MetricGate, Registry, UsageGate


class TrainOn(Flow):
    usage = Param(default="research-only")

    @step
    def start(self):
        current.use_dataset("interactions", "v1", license="internal", usage=self.usage)
        current.register_model("research", [1.0])
        self.next(self.end)

    @step
    def end(self):
        pass


def test_research_only_data_never_becomes_champion_without_a_declared_gate(home: Path) -> None:
    TrainOn.run()
    registry = Registry()
    assert registry.gates("research") == [], "nothing was declared for this model"
    with pytest.raises(GateRefused, match=r"usage rights.*interactions \(research-only\)"):
        registry.set_alias("research", "champion", 1, why="best offline")
    assert registry.alias_versions("research") == {}
    refused = registry.history("research")[-1]
    assert (refused.outcome, refused.to_version, refused.why) == ("refused", 1, "best offline")
    registry.set_alias("research", "paper", 1, why="other aliases are not guarded")
    assert registry.get("research@paper").version == 1


def test_production_data_passes_the_default_gate(home: Path) -> None:
    TrainOn.run(usage="production")
    event = Registry().set_alias("research", "champion", 1, why="launch")
    assert event.outcome == "moved"
    assert event.gates == [
        {"gate": "usage rights", "passed": True, "reason": "all 1 dataset(s) allow 'champion'"}
    ]


def test_switching_the_gate_off_needs_a_why_and_is_audited(home: Path) -> None:
    TrainOn.run()
    registry = Registry()
    for why in ("", "   "):
        with pytest.raises(InvalidInputError, match="needs a why"):
            registry.set_usage_gate("research", False, why=why)
    assert registry.usage_gate("research").on, "a refused switch changes nothing"
    with pytest.raises(NotFoundError, match="there is no model 'nope'"):
        registry.set_usage_gate("nope", False, why="x")
    status = registry.set_usage_gate("research", False, why="internal study only", who="ana")
    assert (status.on, status.who, status.why) == (False, "ana", "internal study only")
    assert registry.usage_gate("research") == status
    registry.set_alias("research", "champion", 1, why="for the study")
    assert registry.get("research@champion").version == 1
    switched = registry.history("research")[0]
    assert (switched.outcome, switched.who, switched.why, switched.alias) == (
        "usage-gate-off",
        "ana",
        "internal study only",
        "champion",
    )


def test_switching_it_back_on_guards_champion_again(home: Path) -> None:
    TrainOn.run()
    TrainOn.run()
    registry = Registry()
    registry.set_usage_gate("research", False, why="study")
    registry.set_alias("research", "champion", 1, why="study")
    registry.set_usage_gate("research", True, who="bo")
    assert registry.usage_gate("research").on and registry.usage_gate("research").who == "bo"
    with pytest.raises(GateRefused, match="research-only"):
        registry.set_alias("research", "champion", 2, why="next")
    assert registry.get("research@champion").version == 1
    assert [e.outcome for e in registry.history("research")] == [
        "usage-gate-off",
        "moved",
        "usage-gate-on",
        "refused",
    ]


def test_declared_gates_still_apply_and_a_declared_usage_gate_is_not_doubled(home: Path) -> None:
    TrainOn.run(usage="production")
    registry = Registry()
    registry.set_gates("research", [MetricGate("ndcg"), UsageGate()])
    with pytest.raises(GateRefused, match="has no finite 'ndcg'") as refused:
        registry.set_alias("research", "champion", 1, why="x")
    assert [d.gate for d in refused.value.decisions] == ["metric ndcg", "usage rights"]


@pytest.mark.parametrize("why", ["", "  "])
def test_a_version_without_datasets_needs_a_why_for_champion(home: Path, why: str) -> None:
    registry = Registry()
    registry.register("m", [1])
    with pytest.raises(GateRefused, match=r"no dataset in its lineage.*give a why"):
        registry.set_alias("m", "champion", 1, why=why)
    assert registry.alias_versions("m") == {}
    assert registry.history("m")[-1].outcome == "refused"
    registry.set_alias("m", "challenger", 1, why=why)  # only champion is guarded
    event = registry.set_alias("m", "champion", 1, why="hand-built baseline, no training data")
    assert event.outcome == "moved"
    assert registry.history("m")[-1].why == "hand-built baseline, no training data"


def test_bad_arguments_to_the_switch(home: Path) -> None:
    Registry().register("m", [1])
    with pytest.raises(InvalidInputError, match="on must be True or False"):
        Registry().set_usage_gate("m", "off", why="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="is not a model name"):
        Registry().set_usage_gate("../m", False, why="x")


def test_latest_is_reserved_and_means_the_newest_version(home: Path) -> None:
    registry = Registry()
    registry.register("recs", [1])
    with pytest.raises(InvalidInputError, match="'latest' is reserved: recs@latest always means"):
        registry.set_alias("recs", "latest", 1, why="x")
    assert registry.alias_versions("recs") == {}
    assert registry.get("recs@latest").version == 1
    registry.register("recs", [2])
    assert registry.get("recs@latest").version == 2
    assert registry.load("recs@latest") == [2]


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (99999999999999999999, "from 1 to 9223372036854775807"),
        (0, "from 1 to"),
        (True, "is not a version"),
        ("1_0", "digits 0-9 only"),
    ],
)
def test_alias_moves_refuse_impossible_versions(home: Path, version: object, message: str) -> None:
    registry = Registry()
    registry.register("m", [1])
    with pytest.raises(InvalidInputError, match=message):
        registry.set_alias("m", "champion", version, why="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="is not a version"):
        registry.get("m/99999999999999999999")
    assert registry.history("m") == []
