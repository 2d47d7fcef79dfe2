"""Experiment definitions: validation and round trips."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from limelight.core.errors import InvalidInputError
from limelight.experiments import ExperimentSpec, ExperimentStatus, Variant, check_layers


def spec(**kw: object) -> ExperimentSpec:
    base: dict[str, object] = {
        "name": "recs-v2",
        "salt": "s1",
        "variants": (
            Variant("control", 0.5, "recs@champion"),
            Variant("treatment", 0.5, "recs@challenger"),
        ),
    }
    base.update(kw)
    return ExperimentSpec(**base)  # type: ignore[arg-type]


def test_a_valid_spec_keeps_its_values_and_round_trips() -> None:
    s = spec(
        start=datetime(2026, 1, 1, tzinfo=UTC),
        stop=1767312000.0,
        secondary_metrics=["plays_per_impression"],
        status="running",
    )
    assert s.start == datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert s.status is ExperimentStatus.RUNNING
    assert s.secondary_metrics == ("plays_per_impression",)
    assert s.metrics == ("plays_per_user", "plays_per_impression")
    assert ExperimentSpec.from_dict(s.to_dict()) == s


def test_shares_may_be_floats_that_sum_to_one_within_tolerance() -> None:
    thirds = tuple(Variant(n, 1 / 3) for n in "abc")
    assert spec(variants=thirds).shares == (1 / 3, 1 / 3, 1 / 3)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"variants": (Variant("a", 0.5), Variant("b", 0.4))}, "sum to"),
        ({"variants": (Variant("a", 1.0),)}, "at least two"),
        ({"variants": (Variant("a", 0.5), Variant("a", 0.5))}, "repeats variant names"),
        ({"name": ""}, "is not an experiment name"),
        ({"salt": ""}, "non-empty string salt"),
        ({"start": 10.0, "stop": 5.0}, "stops"),
        ({"start": datetime(2026, 1, 1)}, "time zone"),
        ({"primary_metric": "revenue"}, "unknown metric"),
        ({"status": "live"}, "unknown status"),
        ({"layer_slice": (0.2, 0.5)}, "no layer"),
        ({"layer": "home", "layer_slice": (0.5, 0.5)}, "low < high"),
    ],
)
def test_bad_specs_are_rejected_with_a_clear_message(kw: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        spec(**kw)


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5, float("nan"), "half"])
def test_bad_variant_shares_are_rejected(share: object) -> None:
    with pytest.raises(InvalidInputError, match="share"):
        Variant("a", share)  # type: ignore[arg-type]


def test_variant_values_must_be_json() -> None:
    with pytest.raises(InvalidInputError, match="not JSON"):
        Variant("a", 0.5, value=object())


def test_from_dict_rejects_a_malformed_definition() -> None:
    with pytest.raises(InvalidInputError, match="not an experiment definition"):
        ExperimentSpec.from_dict({"name": "x"})


def test_is_active_honours_status_and_window() -> None:
    s = spec(start=100.0, stop=200.0, status="running")
    assert [s.is_active(t) for t in (99.0, 100.0, 199.9, 200.0)] == [False, True, True, False]
    assert not spec(status="paused").is_active(150.0)


def test_check_layers_rejects_overlapping_slices_and_duplicate_names() -> None:
    a = spec(name="a", layer="home", layer_slice=(0.0, 0.6))
    b = spec(name="b", layer="home", layer_slice=(0.5, 1.0))
    c = spec(name="c", layer="home", layer_slice=(0.6, 1.0))
    check_layers([a, c])
    with pytest.raises(InvalidInputError, match="overlap"):
        check_layers([a, b])
    with pytest.raises(InvalidInputError, match="used twice"):
        check_layers([a, a])
