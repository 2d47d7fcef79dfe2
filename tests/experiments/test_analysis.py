"""The analysis job: event-log tables to per-user arrays to a read-out, on known data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pyarrow as pa
import pytest

from limelight.core.errors import InvalidInputError
from limelight.experiments import (
    ExperimentSpec,
    Variant,
    allocate_many,
    analyze,
    analyze_events,
    daily_series,
    exposure_log,
    write_series_svg,
)

DAY = 86400.0
T0 = 1_000_000.0


def make_spec(**kw: object) -> ExperimentSpec:
    base: dict[str, object] = {
        "name": "exp",
        "salt": "exp-salt",
        "variants": (Variant("control", 0.5), Variant("treatment", 0.5)),
        "start": T0,
        "stop": T0 + 3 * DAY,
        "status": "running",
        "secondary_metrics": ("plays_per_impression", "impressions_per_user"),
    }
    base.update(kw)
    return ExperimentSpec(**base)  # type: ignore[arg-type]


def impressions(rows: list[tuple[str, float, list[str], list[str]]]) -> pa.Table:
    return pa.table(
        {
            "request_id": [f"r{i}" for i in range(len(rows))],
            "ts": pa.array([r[1] for r in rows], pa.float64()),
            "user_id": [r[0] for r in rows],
            "items": pa.array([["i1", "i2"]] * len(rows), pa.list_(pa.string())),
            "experiments": pa.array([r[2] for r in rows], pa.list_(pa.string())),
            "variants": pa.array([r[3] for r in rows], pa.list_(pa.string())),
        }
    )


def feedback(rows: list[tuple[str, float, str, float | None]]) -> pa.Table:
    return pa.table(
        {
            "request_id": ["r"] * len(rows),
            "ts": pa.array([r[1] for r in rows], pa.float64()),
            "user_id": [r[0] for r in rows],
            "item_id": ["i1"] * len(rows),
            "event": [r[2] for r in rows],
            "value": pa.array([r[3] for r in rows], pa.float64()),
        }
    )


def by_user(table: object, column: str) -> dict[str, float]:
    ids = table.user_ids.to_pylist()  # type: ignore[attr-defined]
    return dict(zip(ids, getattr(table, column).tolist(), strict=True))


def test_per_user_arrays_from_a_tiny_log() -> None:
    imp = impressions(
        [
            ("u1", T0 + 10, ["exp"], ["control"]),
            ("u1", T0 + DAY + 5, ["other", "exp"], ["x", "control"]),
            ("u2", T0 + 20, ["exp"], ["treatment"]),
            ("u4", T0 - 500, ["exp"], ["control"]),  # before the start: not exposed
            ("u5", T0 + 30, [], []),  # in no experiment
        ]
    )
    fb = feedback(
        [
            ("u1", T0 - 100, "play", 5.0),  # pre-period
            ("u1", T0 + 5, "play", 7.0),  # in the window but before u1's first exposure
            ("u1", T0 + 15, "play", 30.0),
            ("u1", T0 + 16, "pause", 1.0),
            ("u2", T0 + 30, "play", None),
            ("u5", T0 + 40, "play", 1.0),
        ]
    )
    log = exposure_log(imp, fb, make_spec())
    users = log.users_until()
    assert sorted(users.user_ids.to_pylist()) == ["u1", "u2"]
    assert by_user(users, "variant") == {"u1": 0, "u2": 1}
    assert by_user(users, "impressions") == {"u1": 2.0, "u2": 1.0}
    assert by_user(users, "plays") == {"u1": 1.0, "u2": 1.0}
    assert by_user(users, "play_value") == {"u1": 30.0, "u2": 0.0}
    assert by_user(users, "pre_plays") == {"u1": 1.0, "u2": 0.0}
    assert by_user(users, "pre_play_value") == {"u1": 5.0, "u2": 0.0}
    first_day = log.users_until(T0 + DAY)
    assert by_user(first_day, "impressions") == {"u1": 1.0, "u2": 1.0}
    assert log.users_until(T0 + 15).user_ids.to_pylist() == ["u1"]


def test_users_logged_in_two_variants_or_unknown_variants_are_dropped_and_counted() -> None:
    imp = impressions(
        [
            ("u1", T0 + 1, ["exp"], ["control"]),
            ("u1", T0 + 2, ["exp"], ["treatment"]),
            ("u2", T0 + 3, ["exp"], ["treatment"]),
            ("u3", T0 + 4, ["exp"], ["mystery"]),
        ]
    )
    log = exposure_log(imp, feedback([]), make_spec())
    assert log.conflicting_users == 1 and log.unknown_variant_exposures == 1
    assert log.users_until().user_ids.to_pylist() == ["u2"]


def synthetic_log(
    n_users: int = 4000, effect: float = 0.3, seed: int = 0
) -> tuple[pa.Table, pa.Table, ExperimentSpec]:
    """Users hashed into two arms, arriving over three days; treatment plays more."""
    rng = np.random.default_rng(seed)
    spec = make_spec()
    ids = [f"user-{i}" for i in range(n_users)]
    arm = allocate_many(ids, spec.salt, spec.shares)
    appetite = rng.gamma(2.0, 0.5, n_users)
    arrive = T0 + rng.uniform(0, 3 * DAY, n_users)
    n_imp = rng.poisson(3, n_users) + 1
    imp_user = np.repeat(np.arange(n_users), n_imp)
    imp_ts = np.minimum(arrive[imp_user] + rng.uniform(0, DAY, imp_user.size), T0 + 3 * DAY - 1)
    names = np.array(spec.variant_names)
    n_plays = rng.poisson(appetite * (1 + effect * arm))
    play_user = np.repeat(np.arange(n_users), n_plays)
    play_ts = np.minimum(arrive[play_user] + rng.uniform(0, DAY, play_user.size), T0 + 3 * DAY - 1)
    n_pre = rng.poisson(appetite * 2)
    pre_user = np.repeat(np.arange(n_users), n_pre)
    pre_ts = T0 - rng.uniform(1, 20 * DAY, pre_user.size)
    uid = np.array(ids)
    imp = impressions(
        [
            (str(uid[u]), float(t), ["exp"], [str(names[arm[u]])])
            for u, t in zip(imp_user, imp_ts, strict=True)
        ]
    )
    all_users = np.concatenate([play_user, pre_user])
    fb = feedback(
        [
            (str(uid[u]), float(t), "play", 1.0)
            for u, t in zip(all_users, np.concatenate([play_ts, pre_ts]), strict=True)
        ]
    )
    return imp, fb, spec


def test_the_job_reads_out_every_metric_with_srm_and_corrections() -> None:
    imp, fb, spec = synthetic_log()
    res = analyze_events(imp, fb, spec)
    assert sum(res.counts) == 4000 and not res.srm.flagged
    primary = res.result("plays_per_user")
    assert primary.primary and primary.estimate is not None and primary.sequential is not None
    assert primary.estimate.method == "cuped"
    assert primary.estimate.ci_low < 0.3 < primary.estimate.ci_high
    seq = primary.sequential
    assert seq.ci_low <= primary.estimate.ci_low and seq.ci_high >= primary.estimate.ci_high
    ratio = res.result("plays_per_impression")
    assert ratio.estimate is not None and ratio.estimate.method == "delta"
    for r in res.results:
        assert r.estimate is not None and r.adjusted_p >= r.estimate.p_value
    text = res.table()
    for word in ("plays_per_user *", "plays_per_impression", "sample ratio check", "holm"):
        assert word in text
    no_cuped = analyze_events(imp, fb, spec, use_cuped=False, correction="bh")
    plain = no_cuped.result("plays_per_user").estimate
    assert plain is not None and plain.method == "welch" and plain.se > primary.estimate.se


def test_daily_series_and_its_svg(tmp_path: object) -> None:
    imp, fb, spec = synthetic_log()
    log = exposure_log(imp, fb, spec)
    series = daily_series(log)
    assert series.day_end.tolist() == [T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY]
    assert np.all(np.diff(series.n) > 0)
    assert np.all(np.diff(series.seq_p_value) <= 0)
    assert np.all(series.seq_low <= series.ci_low) and np.all(series.seq_high >= series.ci_high)
    final = analyze(log.users_until(), spec, planned_n=series.n[-1])
    assert series.diff[-1] == pytest.approx(final.result("plays_per_user").estimate.diff)
    root = ET.fromstring(series.svg())
    assert root.tag.endswith("svg") and len(list(root)) > 5
    path = write_series_svg(series, tmp_path / "series.svg")  # type: ignore[operator]
    assert path.read_text().startswith("<svg")


def test_a_metric_with_zero_variance_is_reported_not_crashed() -> None:
    imp = impressions(
        [(f"u{i}", T0 + i, ["exp"], ["control" if i % 2 else "treatment"]) for i in range(20)]
    )
    fb = feedback([(f"u{i}", T0 + 100 + i, "play", 1.0) for i in range(20)])
    res = analyze_events(imp, fb, make_spec())
    flat = res.result("impressions_per_user")
    assert flat.estimate is not None and flat.estimate.se == 0.0
    assert "zero variance" in flat.note and np.isnan(flat.adjusted_p)
    assert "zero variance" in res.table()


def test_an_arm_without_users_is_reported_per_metric() -> None:
    imp = impressions([(f"u{i}", T0 + i, ["exp"], ["control"]) for i in range(30)])
    res = analyze_events(imp, feedback([]), make_spec())
    assert res.srm.flagged
    assert res.result("plays_per_user").estimate is None
    assert "at least 2 users" in res.result("plays_per_user").note
    assert "not analysed" in res.table() and "MISMATCH" in res.table()


def test_an_experiment_with_no_exposures_is_a_clear_error() -> None:
    imp = impressions([("u1", T0 + 1, ["another"], ["a"])])
    with pytest.raises(InvalidInputError, match="no exposures"):
        analyze_events(imp, feedback([]), make_spec())


@pytest.mark.parametrize(
    ("imp", "message"),
    [
        (pa.table({"ts": [1.0]}), "lacks column"),
        (impressions([("u1", T0 + 1, ["exp", "x"], ["control"])]), "parallel lists"),
        ("not a table", "pyarrow.Table"),
    ],
)
def test_malformed_event_tables_are_rejected(imp: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        exposure_log(imp, feedback([]), make_spec())  # type: ignore[arg-type]


def test_a_wrongly_typed_column_is_named() -> None:
    bad = impressions([("u1", T0 + 1, ["exp"], ["control"])]).set_column(
        1, "ts", pa.array(["yesterday"])
    )
    with pytest.raises(InvalidInputError, match="'ts'"):
        exposure_log(bad, feedback([]), make_spec())


def test_daily_series_rejects_unknown_metric_or_variant() -> None:
    imp, fb, spec = synthetic_log(n_users=200)
    log = exposure_log(imp, fb, spec)
    with pytest.raises(InvalidInputError, match="unknown metric"):
        daily_series(log, "revenue")
    with pytest.raises(InvalidInputError, match="not a treatment"):
        daily_series(log, variant="control")
