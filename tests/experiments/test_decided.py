"""Impressions another experiment decided are dropped from an analysis, and counted."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from limelight.core.errors import InvalidInputError
from limelight.experiments import (
    ExperimentSpec,
    Variant,
    allocate_many,
    analyze_events,
    exposure_log,
    format_analysis,
)

DAY = 86400.0
T0 = 1_000_000.0
SPEC = ExperimentSpec(
    name="fuzz-ab",
    salt="fuzz-ab",
    variants=(Variant("control", 0.5, "recs/1"), Variant("treatment", 0.5, "recs/2")),
    start=T0,
    stop=T0 + 7 * DAY,
    status="running",
)


def contaminated_log(seed: int = 0) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """Users in fuzz-ab and in 'other'; on a third of the impressions 'other' chose the model.

    Returns impressions, feedback, and per impression whether fuzz-ab decided it.
    """
    rng = np.random.default_rng(seed)
    users = np.array([f"u{i}" for i in range(600)])
    arm = allocate_many(users.tolist(), SPEC.salt, SPEC.shares)
    n = 4000
    who = rng.integers(0, users.size, n)
    ts = T0 + rng.uniform(0, 7 * DAY, n)
    fuzz_decided = rng.random(n) > 1 / 3
    variants = np.array(["control", "treatment"])[arm[who]]
    impressions = pa.table(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "ts": ts,
            "user_id": users[who],
            "items": pa.array([["i1"]] * n, pa.list_(pa.string())),
            "experiments": pa.array([["fuzz-ab", "other"]] * n, pa.list_(pa.string())),
            "variants": pa.array([[v, "b"] for v in variants.tolist()], pa.list_(pa.string())),
            "decided": pa.array([[bool(d), not d] for d in fuzz_decided], pa.list_(pa.bool_())),
        }
    )
    # a play after an impression: more likely on treatment when fuzz-ab served it
    rate = np.where((arm[who] == 1) & fuzz_decided, 0.5, 0.3)
    played = rng.random(n) < rate
    feedback = pa.table(
        {
            "request_id": [f"r{i}" for i in np.flatnonzero(played)],
            "ts": ts[played] + 1.0,
            "user_id": users[who][played],
            "item_id": ["i1"] * int(played.sum()),
            "event": ["play"] * int(played.sum()),
            "value": pa.array([None] * int(played.sum()), pa.float64()),
        }
    )
    return impressions, feedback, fuzz_decided


def test_the_analysis_equals_that_of_the_correctly_attributed_impressions_only() -> None:
    impressions, feedback, decided = contaminated_log()
    result = analyze_events(impressions, feedback, SPEC)
    attributed = impressions.filter(pa.array(decided)).drop_columns(["decided"])
    clean = analyze_events(attributed, feedback, SPEC)
    assert result.undecided_exposures == int((~decided).sum()) > 1000
    assert clean.undecided_exposures == 0
    assert result.counts == clean.counts
    assert result.results == clean.results
    assert result.srm == clean.srm
    ignoring = analyze_events(impressions.drop_columns(["decided"]), feedback, SPEC)
    assert ignoring.result("plays_per_user").estimate != result.result("plays_per_user").estimate
    assert ignoring.unattributed_exposures == impressions.num_rows
    text = format_analysis(result)
    assert f"dropped: {result.undecided_exposures} impressions served a model that another" in text


def test_null_decided_entries_are_unknown_and_kept() -> None:
    impressions, feedback, decided = contaminated_log()
    lists = impressions["decided"].to_pylist()
    lists[0], lists[1] = None, [None, True]
    table = impressions.set_column(
        impressions.schema.get_field_index("decided"),
        "decided",
        pa.array(lists, pa.list_(pa.bool_())),
    )
    log = exposure_log(table, feedback, SPEC)
    assert log.unattributed_exposures == 2
    assert log.undecided_exposures == int((~decided[2:]).sum())


def test_decided_of_the_wrong_shape_is_a_clear_error() -> None:
    impressions, feedback, _ = contaminated_log()
    index = impressions.schema.get_field_index("decided")
    short = pa.array([[True]] * impressions.num_rows, pa.list_(pa.bool_()))
    with pytest.raises(InvalidInputError, match="'decided' must be null or parallel"):
        exposure_log(impressions.set_column(index, "decided", short), feedback, SPEC)
    text = pc.cast(impressions["decided"], pa.list_(pa.string()))
    with pytest.raises(InvalidInputError, match="expected list<bool>"):
        exposure_log(impressions.set_column(index, "decided", text), feedback, SPEC)


def test_an_experiment_whose_variants_are_data_ignores_decided() -> None:
    impressions, feedback, _ = contaminated_log()
    data_only = ExperimentSpec(
        name="fuzz-ab",
        salt="fuzz-ab",
        variants=(Variant("control", 0.5, "blue"), Variant("treatment", 0.5, "red")),
        start=T0,
        stop=T0 + 7 * DAY,
        status="running",
    )
    log = exposure_log(impressions, feedback, data_only)
    assert (log.undecided_exposures, log.unattributed_exposures) == (0, 0)
    assert log.exposure_ts.size == impressions.num_rows
