import itertools
import multiprocessing as mp
import os
from pathlib import Path

import numpy as np
import pytest

import limelight
from limelight import Flow, Param, current, step
from limelight.core.config import resolve_config
from limelight.core.errors import InvalidInputError, NotFoundError, SerializerError
from limelight.registry import (
    CustomGate,
    GateRefused,
    IntervalGate,
    MetricGate,
    Registry,
    UsageGate,
    parse_model_ref,
)


class TrainAndRegister(Flow):
    usage = Param(default="production")
    ndcg = Param(default=0.3)

    @step
    def start(self):
        current.use_dataset("interactions", f"v-{self.usage}", license="internal", usage=self.usage)
        self.weights = np.full(8, self.ndcg, dtype=np.float32)
        version = current.register_model("recs", self.weights, metrics={"ndcg@10": self.ndcg})
        self.version = version.version
        self.next(self.end)

    @step
    def end(self):
        pass


def test_register_in_a_step_records_full_lineage(home: Path) -> None:
    run = TrainAndRegister.run(ndcg=0.4)
    version = limelight.models.get("recs")
    assert version.version == run.data.version == 1
    assert version.run_id == run.id and version.task_id == run["start"].task.id
    assert version.code_hash == run.code_hash and version.code_hash
    assert version.lineage["params"] == {"usage": "production", "ndcg": 0.4}
    assert version.lineage["datasets"] == [
        {
            "name": "interactions",
            "version": "v-production",
            "license": "internal",
            "usage": "production",
        }
    ]
    np.testing.assert_array_equal(
        limelight.models.load("recs/1"), np.full(8, 0.4, dtype=np.float32)
    )


def test_versions_count_up_and_refs_resolve(home: Path) -> None:
    registry = Registry()
    for i in range(3):
        registry.register("m", {"weights": [i]}, metrics={"auc": 0.5 + i / 10})
    assert [v.version for v in registry.versions("m")] == [1, 2, 3]
    registry.set_alias("m", "champion", 2, why="first")
    assert registry.load("m@champion") == {"weights": [1]}
    assert registry.load("m/1") == {"weights": [0]}
    assert registry.load("m") == {"weights": [2]}


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        ("nope", NotFoundError, "there is no model 'nope'"),
        ("m/9", NotFoundError, "has no version 9; the latest is 1"),
        ("m@gold", NotFoundError, "has no alias 'gold'"),
        ("m/zero", InvalidInputError, "a version is a positive integer"),
        ("bad name", InvalidInputError, "is not a model name"),
        ("m@1x", InvalidInputError, "is not an alias"),
    ],
)
def test_unknown_models_versions_and_aliases(
    home: Path, ref: str, error: type, message: str
) -> None:
    Registry().register("m", [1])
    with pytest.raises(error, match=message):
        Registry().get(ref)


def test_bad_registrations(home: Path) -> None:
    registry = Registry()
    with pytest.raises(SerializerError, match="cannot be pickled"):
        registry.register("m", lambda x: x)
    with pytest.raises(InvalidInputError, match="must be a number"):
        registry.register("m", [1], metrics={"auc": "high"})
    assert registry.models() == [], "a refused registration leaves nothing behind"
    version = registry.register("m", [1], metrics={"auc": float("nan")})
    assert np.isnan(version.metrics["auc"]), "NaN metrics are stored and shown as NaN"


def test_alias_moves_are_audited(home: Path) -> None:
    registry = Registry()
    for _ in range(3):
        registry.register("m", [1])
    registry.set_alias("m", "champion", 1, why="launch", who="ana")
    registry.set_alias("m", "champion", 3, why="better offline", who="bo")
    registry.remove_alias("m", "champion", why="rollback", who="ana")
    history = registry.history("m")
    assert [(e.from_version, e.to_version, e.outcome, e.who, e.why) for e in history] == [
        (None, 1, "moved", "ana", "launch"),
        (1, 3, "moved", "bo", "better offline"),
        (3, None, "removed", "ana", "rollback"),
    ]


def test_metric_gate_refuses_and_changes_nothing(home: Path) -> None:
    registry = Registry()
    registry.register("m", [1], metrics={"ndcg": 0.40})
    registry.register("m", [2], metrics={"ndcg": 0.405})
    registry.register("m", [3], metrics={"ndcg": 0.45})
    registry.set_gates("m", [MetricGate("ndcg", margin=0.01)])
    registry.set_alias("m", "champion", 1, why="first")
    with pytest.raises(
        GateRefused, match=r"refused by metric ndcg: ndcg 0.405 does not beat version 1's 0.4"
    ):
        registry.set_alias("m", "champion", 2, why="tiny gain")
    assert registry.get("m@champion").version == 1
    registry.set_alias("m", "champion", 3, why="real gain")
    assert registry.get("m@champion").version == 3
    registry.set_alias("m", "staging", 1, why="gates apply to champion only")


def test_usage_gate_keeps_research_only_data_out_of_champion(home: Path) -> None:
    TrainAndRegister.run(usage="research-only", ndcg=0.9)
    registry = Registry()
    registry.set_gates("recs", [UsageGate()])
    with pytest.raises(GateRefused, match=r"usage rights.*interactions \(research-only\)"):
        registry.set_alias("recs", "champion", 1, why="best offline")
    assert registry.alias_versions("recs") == {}
    registry.set_alias("recs", "research", 1, why="fine for a paper")
    refused = registry.history("recs")[0]
    assert refused.outcome == "refused" and not refused.gates[0]["passed"]


def test_interval_gate_for_off_policy_estimates(home: Path) -> None:
    registry = Registry()
    registry.register("policy", [0], metrics={"dr": 0.050, "dr.low": 0.045, "dr.high": 0.055})
    registry.register("policy", [1], metrics={"dr": 0.058, "dr.low": 0.050, "dr.high": 0.064})
    registry.register("policy", [2], metrics={"dr": 0.070, "dr.low": 0.060, "dr.high": 0.080})
    registry.set_gates("policy", [IntervalGate("dr")])
    registry.set_alias("policy", "champion", 1, why="first")
    with pytest.raises(
        GateRefused, match=r"lower bound 0\.05 of dr is not above version 1's estimate 0\.05"
    ):
        registry.set_alias("policy", "champion", 2, why="overlaps the champion's interval")
    assert registry.get("policy@champion").version == 1
    registry.set_alias("policy", "champion", 3, why="clearly better")
    assert registry.get("policy@champion").version == 3


def always_no(candidate: object, holder: object, alias: str) -> tuple[bool, str]:
    return False, f"version {candidate.version} is not allowed on {alias} by policy"


def test_custom_gate(home: Path) -> None:
    registry = Registry()
    registry.register("m", [1])
    registry.set_gates("m", [CustomGate(f"{__name__}:always_no")])
    with pytest.raises(GateRefused, match="not allowed on champion by policy"):
        registry.set_alias("m", "champion", 1, why="try")
    registry.set_gates("m", [CustomGate("no.such.module:check")])
    with pytest.raises(GateRefused, match="cannot import the check"):
        registry.set_alias("m", "champion", 1, why="try")


def _mover(home: str, version: int, count: int) -> None:
    os.environ["LIMELIGHT_HOME"] = home
    registry = Registry(resolve_config())
    for _ in range(count):
        registry.set_alias("m", "champion", version, why=f"p{version}")


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_racing_alias_moves_keep_the_audit_log_consistent(
    home: Path, backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "postgresql":
        monkeypatch.setenv("LIMELIGHT_DB", request.getfixturevalue("postgres_url"))
    registry = Registry(resolve_config())
    registry.register("m", [1])
    registry.register("m", [2])
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_mover, args=(str(home), v, 25)) for v in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    events = registry.history("m")
    assert len(events) == 50
    for before, after in itertools.pairwise(events):
        assert after.from_version == before.to_version, "each move starts where the last one ended"
    assert registry.get("m@champion").version == events[-1].to_version


def test_register_an_artifact_of_a_finished_run(home: Path) -> None:
    run = TrainAndRegister.run()
    task = run["start"].task
    version = Registry().register_artifact(f"{task.pathspec}:weights", "copied", metrics={"x": 1.0})
    assert version.lineage["run"] == run.pathspec
    assert version.artifact.key == task.artifacts["weights"].key, "no copy: the same blob"
    with pytest.raises(NotFoundError, match="has no artifact 'nope'"):
        Registry().register_artifact(f"{task.pathspec}:nope", "copied")
    with pytest.raises(InvalidInputError, match="is not FLOW/RUN/STEP/TASK:artifact"):
        Registry().register_artifact("Flow/1:weights", "copied")


def test_parse_model_ref() -> None:
    assert parse_model_ref("recs@champion") == ("recs", "champion", None)
    assert parse_model_ref("recs/3") == ("recs", None, 3)
    assert parse_model_ref("recs") == ("recs", None, None)


def test_a_deleted_version_is_gone_and_its_number_never_comes_back(home: Path) -> None:
    registry = Registry()
    for i in range(3):
        registry.register("m", [i])
    deleted = registry.delete_version("m/3", why="trained on the wrong day", who="ana")
    assert deleted.version == 3
    assert [v.version for v in registry.versions("m")] == [1, 2]
    with pytest.raises(NotFoundError, match="has no version 3"):
        registry.get("m/3")
    assert registry.register("m", [4]).version == 4, "a deleted number is not given again"
    registry.delete_version("m/1")
    assert [v.version for v in registry.versions("m")] == [2, 4]
    with pytest.raises(NotFoundError, match="has no version 1"):
        registry.delete_version("m/1")


@pytest.mark.parametrize("ref", ["m@champion", "m", "m/x"])
def test_a_version_is_deleted_by_its_number_only(home: Path, ref: str) -> None:
    registry = Registry()
    registry.register("m", [1])
    registry.set_alias("m", "champion", 1, why="launch")
    with pytest.raises(InvalidInputError):
        registry.delete_version(ref)
    assert [v.version for v in registry.versions("m")] == [1]


def test_what_serves_or_is_watched_is_not_deleted_or_renamed(home: Path) -> None:
    from limelight.monitoring import Monitors

    registry = Registry()
    registry.register("m", [1])
    registry.register("m", [2])
    registry.set_alias("m", "champion", 2, why="launch")
    with pytest.raises(InvalidInputError, match=r"m@champion points at version 2"):
        registry.delete_version("m/2")
    with pytest.raises(InvalidInputError, match=r"m@champion"):
        registry.delete_model("m")
    with pytest.raises(InvalidInputError, match=r"m@champion"):
        registry.rename_model("m", "m2")
    registry.delete_version("m/1")  # no alias points at it
    registry.remove_alias("m", "champion", why="retired")
    Monitors(registry.store).create("psi-m", model="m", check="psi(scores)", alert_above=0.2)
    with pytest.raises(InvalidInputError, match=r"monitor 'psi-m' watches it"):
        registry.delete_model("m")
    assert registry.models() == ["m"]
    assert [v.version for v in registry.versions("m")] == [2]


def test_a_deleted_model_can_be_registered_afresh_and_its_audit_log_is_kept(home: Path) -> None:
    import sqlalchemy as sa

    from limelight.store import ArtifactRef
    from limelight.store.schema import published_events

    registry = Registry()
    for i in range(2):
        registry.register("m", [i])
    registry.set_alias("m", "challenger", 1, why="try it", who="bo")
    registry.remove_alias("m", "challenger", why="done", who="bo")
    assert registry.delete_model("m", why="obsolete", who="ana") == [1, 2]
    assert registry.models() == []
    with pytest.raises(NotFoundError, match="there is no model 'm'"):
        registry.get("m")
    with registry.store.metadata.connect() as conn:
        payload = conn.execute(
            sa.select(published_events.c.payload).where(published_events.c.name == "model_deleted")
        ).scalar_one()
    assert payload["versions"] == [1, 2] and payload["who"] == "ana"
    kept = registry.store.artifacts.load(ArtifactRef.from_json(payload["alias_history"]))
    assert [(e["alias"], e["from"], e["to"], e["outcome"]) for e in kept] == [
        ("challenger", None, 1, "moved"),
        ("challenger", 1, None, "removed"),
    ]
    fresh = registry.register("m", [9])
    assert fresh.version == 1 and registry.history("m") == []


def test_a_renamed_model_keeps_its_versions_gates_and_history(home: Path) -> None:
    registry = Registry()
    registry.register("old", [1], metrics={"ndcg": 0.3})
    registry.register("old", [2], metrics={"ndcg": 0.4})
    registry.set_gates("old", [MetricGate("ndcg")])
    registry.set_alias("old", "staging", 2, why="check")
    registry.remove_alias("old", "staging", why="checked")
    registry.delete_version("old/1")
    registry.rename_model("old", "new", who="ana")
    assert registry.models() == ["new"]
    assert [v.version for v in registry.versions("new")] == [2]
    assert registry.load("new/2") == [2]
    assert [g.to_json() for g in registry.gates("new")] == [MetricGate("ndcg").to_json()]
    assert [e.outcome for e in registry.history("new")] == ["moved", "removed"]
    assert registry.register("new", [3]).version == 3
    with pytest.raises(NotFoundError, match="there is no model 'old'"):
        registry.get("old")
    registry.register("taken", [1])
    with pytest.raises(InvalidInputError, match="there is already a model 'taken'"):
        registry.rename_model("new", "taken")
    with pytest.raises(InvalidInputError, match="is not a model name"):
        registry.rename_model("new", "bad name")
    assert registry.models() == ["new", "taken"]
