"""Experiment names follow the model-name rule when stored; older stored names still load."""

from __future__ import annotations

import pytest
from tests._legacy import store_experiment_unchecked

from limelight.core.errors import InvalidInputError
from limelight.experiments import ExperimentSpec, ExperimentStatus, Variant
from limelight.experiments.store import (
    create_experiment,
    get_experiment,
    list_experiments,
    running_experiments,
    set_experiment_status,
)
from limelight.store import MetadataStore


def spec(name: str, **kw: object) -> ExperimentSpec:
    variants = (Variant("control", 0.5, "blue"), Variant("treatment", 0.5, "red"))
    return ExperimentSpec(name=name, salt="s", variants=variants, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["../../x", "a/b", "<script>", "x" * 5000, "a b", "fuzz-ab?x=1", ".x", " x"]
)
def test_bad_names_are_refused_and_nothing_is_stored(metadata: MetadataStore, name: str) -> None:
    with pytest.raises(InvalidInputError, match="is not an experiment name: start with a letter"):
        create_experiment(metadata, spec(name))
    assert list_experiments(metadata) == []


@pytest.mark.parametrize("name", ["", "  ", None])
def test_an_empty_name_is_refused_by_the_definition_itself(name: object) -> None:
    with pytest.raises(InvalidInputError, match="is not an experiment name: start with a letter"):
        spec(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["fuzz-ab", "rows.v2", "A_1", "9", "x" * 200])
def test_valid_names_are_stored(metadata: MetadataStore, name: str) -> None:
    create_experiment(metadata, spec(name))
    assert get_experiment(metadata, name).name == name


def test_a_name_stored_before_the_rule_still_loads_and_can_be_stopped(
    metadata: MetadataStore,
) -> None:
    legacy = spec("a/b", status=ExperimentStatus.RUNNING)

    store_experiment_unchecked(metadata, legacy)  # as an older release stored it
    assert [s.name for s in running_experiments(metadata)] == ["a/b"]
    assert set_experiment_status(metadata, "a/b", "stopped").status is ExperimentStatus.STOPPED
    assert [s.name for s in list_experiments(metadata)] == ["a/b"]
