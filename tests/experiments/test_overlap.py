"""Two running experiments outside one layer may not both steer a model, unless allowed."""

from __future__ import annotations

import pytest

from limelight.core.errors import InvalidInputError
from limelight.experiments import ExperimentSpec, ExperimentStatus, Variant, check_overlap
from limelight.experiments.store import (
    create_experiment,
    get_experiment,
    list_experiments,
    running_experiments,
    set_experiment_status,
)
from limelight.store import MetadataStore


def spec(name: str, control: object, treatment: object, **kw: object) -> ExperimentSpec:
    variants = (Variant("control", 0.5, control), Variant("treatment", 0.5, treatment))
    return ExperimentSpec(name=name, salt=name, variants=variants, **kw)  # type: ignore[arg-type]


RUNNING = ExperimentStatus.RUNNING


def test_the_models_an_experiment_steers() -> None:
    assert spec("a", "recs@champion", "recs/3").steered_models == {"recs"}
    assert spec("b", "recs@champion", "art@x").steered_models == {"recs", "art"}
    assert spec("c", "blue", {"colour": "red"}).steered_models == set(), "data, not models"


def test_starting_a_second_experiment_on_the_same_model_is_refused(
    metadata: MetadataStore,
) -> None:
    create_experiment(metadata, spec("ab", "recs@champion", "recs@challenger", status=RUNNING))
    create_experiment(metadata, spec("fuzz-ab", "recs@champion", "recs/7"))
    with pytest.raises(
        InvalidInputError,
        match=r"'fuzz-ab' steers model 'recs', which the running experiment 'ab' also steers.*"
        r"--allow-overlap",
    ):
        set_experiment_status(metadata, "fuzz-ab", "running")
    assert get_experiment(metadata, "fuzz-ab").status is ExperimentStatus.DRAFT
    with pytest.raises(InvalidInputError, match="running experiment 'ab' also steers"):
        create_experiment(metadata, spec("third", "recs/1", "recs/2", status=RUNNING))
    assert [s.name for s in list_experiments(metadata)] == ["ab", "fuzz-ab"], "nothing stored"


def test_allowed_overlap_one_layer_and_other_models_start(metadata: MetadataStore) -> None:
    create_experiment(metadata, spec("ab", "recs@champion", "recs@challenger", status=RUNNING))
    create_experiment(metadata, spec("art", "art@champion", "art@challenger", status=RUNNING))
    create_experiment(metadata, spec("button", "blue", "red", status=RUNNING))
    create_experiment(metadata, spec("forced", "recs/1", "recs/2"))
    set_experiment_status(metadata, "forced", "running", allow_overlap=True)
    assert {s.name for s in running_experiments(metadata)} == {"ab", "art", "button", "forced"}


def test_experiments_of_one_layer_may_share_a_model(metadata: MetadataStore) -> None:
    layered = {"layer": "home", "status": RUNNING}
    create_experiment(metadata, spec("a", "recs/1", "recs/2", layer_slice=(0, 0.5), **layered))
    create_experiment(metadata, spec("b", "recs/1", "recs/3", layer_slice=(0.5, 1), **layered))
    with pytest.raises(InvalidInputError, match="running experiment 'a' also steers"):
        create_experiment(metadata, spec("c", "recs/1", "recs/3", layer="other", status=RUNNING))


def test_a_stopped_or_disjoint_in_time_experiment_does_not_overlap(
    metadata: MetadataStore,
) -> None:
    create_experiment(metadata, spec("old", "recs/1", "recs/2", status=RUNNING))
    set_experiment_status(metadata, "old", "stopped")
    create_experiment(metadata, spec("new", "recs/1", "recs/2", status=RUNNING))
    early = spec("early", "recs/1", "recs/2", start=100.0, stop=200.0, status=RUNNING)
    late = spec("late", "recs/1", "recs/2", start=200.0, stop=300.0, status=RUNNING)
    check_overlap([early], late)  # back to back: no user is in both at once
    with pytest.raises(InvalidInputError, match="'early' also steers"):
        check_overlap([early], spec("mid", "recs/1", "recs/2", start=150.0))
