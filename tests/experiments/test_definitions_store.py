import time

import pytest

from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.experiments import ExperimentSpec, ExperimentStatus, Variant, assign
from limelight.experiments.store import (
    create_experiment,
    get_experiment,
    list_experiments,
    running_experiments,
    set_experiment_status,
)
from limelight.store import MetadataStore


def spec(name: str, **kw: object) -> ExperimentSpec:
    variants = (
        Variant("control", 0.5, "recs@champion"),
        Variant("treatment", 0.5, "recs@challenger"),
    )
    return ExperimentSpec(name=name, salt=f"salt-{name}", variants=variants, **kw)  # type: ignore[arg-type]


def test_definitions_round_trip_and_drive_assignment(metadata: MetadataStore) -> None:
    create_experiment(metadata, spec("ranker", status=ExperimentStatus.RUNNING))
    create_experiment(metadata, spec("draft-one"))
    loaded = get_experiment(metadata, "ranker")
    assert loaded == spec("ranker", status=ExperimentStatus.RUNNING)
    assert [s.name for s in list_experiments(metadata)] == ["ranker", "draft-one"]
    running = running_experiments(metadata)
    assert [s.name for s in running] == ["ranker"]
    assert set(assign("user-1", running, time.time())) == {"ranker"}


def test_start_and_stop(metadata: MetadataStore) -> None:
    create_experiment(metadata, spec("e"))
    started = set_experiment_status(metadata, "e", "running")
    assert started.status is ExperimentStatus.RUNNING and started.start is not None
    stopped = set_experiment_status(metadata, "e", "stopped")
    assert stopped.stop is not None and running_experiments(metadata) == []
    with pytest.raises(InvalidInputError, match="stays stopped"):
        set_experiment_status(metadata, "e", "running")


def test_bad_definitions(metadata: MetadataStore) -> None:
    create_experiment(metadata, spec("e"))
    with pytest.raises(InvalidInputError, match="exists already"):
        create_experiment(metadata, spec("e"))
    with pytest.raises(NotFoundError, match="there is no experiment 'x'"):
        get_experiment(metadata, "x")
    with pytest.raises(InvalidInputError, match="unknown experiment status 'done'"):
        set_experiment_status(metadata, "e", "done")

    def no_models(value: object) -> None:
        raise NotFoundError(f"no model behind {value}")

    with pytest.raises(NotFoundError, match="no model behind recs@champion"):
        create_experiment(metadata, spec("f"), check_value=no_models)
    assert [s.name for s in list_experiments(metadata)] == ["e"], (
        "a refused definition is not stored"
    )


def test_overlapping_experiments_in_one_layer_cannot_both_run(metadata: MetadataStore) -> None:
    create_experiment(
        metadata,
        spec("a", layer="home-row", layer_slice=(0.0, 0.6), status=ExperimentStatus.RUNNING),
    )
    with pytest.raises(InvalidInputError):
        create_experiment(
            metadata,
            spec("b", layer="home-row", layer_slice=(0.5, 1.0), status=ExperimentStatus.RUNNING),
        )
    create_experiment(
        metadata,
        spec("c", layer="home-row", layer_slice=(0.6, 1.0), status=ExperimentStatus.RUNNING),
    )
    assert {s.name for s in running_experiments(metadata)} == {"a", "c"}
