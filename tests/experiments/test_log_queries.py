"""The analyses in DuckDB over the event log's files equal the in-memory path on the same data."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests._eventlog import DAY, T0, same, spec_of, write_log

from limelight.core.errors import InvalidInputError, StorageError
from limelight.experiments import (
    analyze_event_log,
    analyze_events,
    analyze_log,
    daily_series,
    exposure_log,
    exposure_log_from_events,
    parse_as_of,
)
from limelight.store._event_table import open_event_log
from limelight.store.event_queries import scan_events
from limelight.store.events import IMPRESSION_SCHEMA, read_events

CASES = [
    (0, 300, 6000, 2, True),
    (1, 800, 12000, 3, True),
    (2, 150, 2500, 2, False),
]


@pytest.mark.parametrize(("seed", "users", "n", "variants", "cuped"), CASES)
def test_the_analysis_in_duckdb_equals_the_in_memory_one(
    tmp_path: Path, seed: int, users: int, n: int, variants: int, cuped: bool
) -> None:
    spec = spec_of(variants)
    write_log(tmp_path, spec, seed=seed, users=users, n=n)
    imp, fb = read_events(str(tmp_path), "impressions"), read_events(str(tmp_path), "feedback")
    memory = analyze_events(imp, fb, spec, use_cuped=cuped)
    sql = analyze_event_log(str(tmp_path), spec, use_cuped=cuped)
    assert memory.undecided_exposures > 0 and memory.unattributed_exposures > 0
    assert memory.conflicting_users > 0 and memory.unknown_variant_exposures > 0
    same(memory, sql)
    assert all(isinstance(s, int) for s in sql.snapshots.values()), sql.snapshots
    if cuped:
        assert any(r.estimate and r.estimate.method == "cuped" for r in sql.results)

    # the per-user arrays, the daily series and the exposure counts too
    mem_log = exposure_log(imp, fb, spec)
    sql_log = exposure_log_from_events(str(tmp_path), spec)
    a, b = mem_log.users_until(), sql_log.users_until()
    order = np.argsort(np.asarray(a.user_ids.to_pylist()))
    assert b.user_ids.to_pylist() == sorted(a.user_ids.to_pylist())
    for name in ("variant", "first_exposure", "impressions", "plays", "play_value", "pre_plays"):
        np.testing.assert_allclose(getattr(a, name)[order], getattr(b, name), rtol=1e-9)
    np.testing.assert_array_equal(mem_log.exposures_by_variant(), sql_log.exposures_by_variant())
    for metric in spec.metrics:
        same(
            daily_series(mem_log, metric, use_cuped=cuped),
            daily_series(sql_log, metric, use_cuped=cuped),
        )


@pytest.mark.parametrize(("seed", "users", "n"), [(20, 3, 30), (21, 5, 12), (22, 40, 200)])
def test_tiny_arms_give_the_same_notes(tmp_path: Path, seed: int, users: int, n: int) -> None:
    spec = spec_of(3)
    write_log(tmp_path, spec, seed=seed, users=users, n=n)
    imp, fb = read_events(str(tmp_path), "impressions"), read_events(str(tmp_path), "feedback")
    try:
        memory = analyze_events(imp, fb, spec)
    except InvalidInputError as exc:
        with pytest.raises(InvalidInputError, match="no ex"):
            analyze_event_log(str(tmp_path), spec)
        assert "no ex" in str(exc)
        return
    same(memory, analyze_event_log(str(tmp_path), spec))


def test_an_experiment_without_start_or_stop_and_an_until_cut(tmp_path: Path) -> None:
    spec = spec_of(2, start=None)
    write_log(tmp_path, spec, seed=4, users=200, n=3000)
    imp, fb = read_events(str(tmp_path), "impressions"), read_events(str(tmp_path), "feedback")
    same(analyze_events(imp, fb, spec), analyze_event_log(str(tmp_path), spec))
    same(
        daily_series(exposure_log(imp, fb, spec)),
        daily_series(exposure_log_from_events(str(tmp_path), spec)),
    )
    cut = T0 + 2.5 * DAY
    started = spec_of(2)
    same(
        analyze_events(imp, fb, started, until=cut),
        analyze_event_log(str(tmp_path), started, until=cut),
    )


def test_partition_pruning_reads_only_the_days_of_the_window(tmp_path: Path) -> None:
    spec = spec_of(2)
    write_log(tmp_path, spec, seed=5, users=100, n=2000)
    days = {f.rsplit("date=", 1)[1][:10] for f in scan_events(str(tmp_path), "impressions").files}
    imp_scan = scan_events(str(tmp_path), "impressions", since=spec.start, until=spec.stop)
    kept = {f.rsplit("date=", 1)[1][:10] for f in imp_scan.files}
    assert kept < days and min(kept) == "2023-11-15" and max(kept) == "2023-11-20"


def test_a_daily_series_of_other_days_than_the_log_sums_is_refused(tmp_path: Path) -> None:
    spec = spec_of(2)
    write_log(tmp_path, spec, seed=6, users=100, n=1500)
    log = exposure_log_from_events(str(tmp_path), spec)
    with pytest.raises(InvalidInputError, match="sums events per 86400 s"):
        daily_series(log, day=3600.0)
    totals = exposure_log_from_events(str(tmp_path), spec, day=math.inf)
    with pytest.raises(InvalidInputError, match="sums events per inf s"):
        daily_series(totals)
    same(analyze_log(totals), analyze_log(log))
    assert analyze_log(log).counts == analyze_event_log(str(tmp_path), spec).counts


def test_a_window_without_data_says_so(tmp_path: Path) -> None:
    spec = spec_of(2)
    write_log(tmp_path, spec, seed=7, users=50, n=500)
    later = dataclasses.replace(spec, start=T0 + 100 * DAY, stop=T0 + 101 * DAY)
    with pytest.raises(InvalidInputError, match=r"no exposures .* \(0 impression file\(s\)"):
        analyze_event_log(str(tmp_path), later)
    with pytest.raises(InvalidInputError, match="no exposures"):
        analyze_event_log(str(tmp_path / "empty"), spec)


def _data_file(root: Path, day: str) -> Path:
    """A data file of the impressions table holding events of ``day`` (inside the experiment)."""
    return next(Path(f) for f in scan_events(str(root), "impressions").files if day in f)


def test_a_truncated_file_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    spec = spec_of(2)
    write_log(tmp_path, spec, seed=8, users=50, n=800)
    victim = _data_file(tmp_path, "2023-11-16")
    victim.write_bytes(victim.read_bytes()[:200])
    with pytest.raises(StorageError, match=rf"{victim.name} is not a readable Parquet file"):
        analyze_event_log(str(tmp_path), spec)


def test_a_file_of_the_wrong_schema_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    spec = spec_of(2)
    write_log(tmp_path, spec, seed=9, users=50, n=800)
    bad = _data_file(tmp_path, "2023-11-16")  # a data file of the table, overwritten
    pq.write_table(
        pa.table(
            {
                "ts": ["yesterday"],
                "user_id": ["u1"],
                "experiments": [["ab"]],
                "variants": [["control"]],
            }
        ),
        bad,
    )
    with pytest.raises(StorageError, match=rf"{bad.name} has column 'ts' of type string"):
        analyze_event_log(str(tmp_path), spec)


def test_as_of_is_parsed_strictly() -> None:
    assert parse_as_of("impressions=12,feedback=34") == {"impressions": 12, "feedback": 34}
    assert parse_as_of(" feedback = 7 ") == {"feedback": 7}
    assert parse_as_of(None) == {} and parse_as_of("") == {}
    for garbage, why in (
        ("12", "KIND=SNAPSHOT"),
        ("clicks=1", "KIND=SNAPSHOT"),
        ("impressions=abc", "whole number"),
        ("impressions=1,impressions=2", "named twice"),
        ("impressions=-3", "not negative"),
    ):
        with pytest.raises(InvalidInputError, match=why):
            parse_as_of(garbage)


def test_an_unknown_snapshot_is_refused_naming_it(tmp_path: Path) -> None:
    spec = spec_of(2)
    write_log(tmp_path, spec, seed=10, users=50, n=500)
    with pytest.raises(InvalidInputError, match="has no snapshot 1;"):
        analyze_event_log(str(tmp_path), spec, as_of={"impressions": 1})


def test_as_of_reproduces_the_analysis_of_a_snapshot(tmp_path: Path) -> None:
    """Events committed after an analysis change the latest read-out, not the one ``as_of``
    names: that one comes back equal, from the same snapshots."""
    spec = spec_of(2)
    write_log(tmp_path, spec, seed=11, users=100, n=1500)
    first = analyze_event_log(str(tmp_path), spec)
    write_log(tmp_path / "more", spec, seed=12, users=100, n=1500)
    log = open_event_log(str(tmp_path))
    for kind in ("impressions", "feedback"):
        log.append(kind, read_events(str(tmp_path / "more"), kind))
    latest = analyze_event_log(str(tmp_path), spec)
    assert latest.snapshots != first.snapshots
    assert latest.results != first.results
    again = analyze_event_log(str(tmp_path), spec, as_of=first.snapshots)
    same(first, again)
    assert again.snapshots == first.snapshots


def _with_rows(root: Path, rows: list[dict[str, object]]) -> None:
    """Add impressions (missing columns null) as one more segment of the log at ``root``."""
    table = pa.Table.from_pylist(rows, schema=IMPRESSION_SCHEMA)
    folder = root / "impressions" / "date=2023-11-16"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "extra.parquet")


def test_an_impression_listing_the_experiment_twice_counts_each_entry(tmp_path: Path) -> None:
    """Each entry of the experiment in an impression is an exposure (as in memory): twice in
    one row with the same variant counts two impressions; with two variants the user conflicts."""
    spec = spec_of(2)
    write_log(tmp_path, spec, seed=30, users=200, n=3000)
    cases = [
        ("u00001", ["control", "control"]),
        ("new1", ["treatment", "treatment"]),
        ("new2", ["control", "treatment"]),
    ]
    twice = [
        {"request_id": f"t{i}", "ts": T0 + DAY + i, "user_id": user, "items": ["i0"]}
        | {"experiments": [spec.name, spec.name], "variants": variants, "decided": [True, True]}
        for i, (user, variants) in enumerate(cases)
    ]
    _with_rows(tmp_path, twice)
    imp, fb = read_events(str(tmp_path), "impressions"), read_events(str(tmp_path), "feedback")
    memory = analyze_events(imp, fb, spec)
    sql = analyze_event_log(str(tmp_path), spec)
    same(memory, sql)
    old = pa.array([not r.startswith("t") for r in imp["request_id"].to_pylist()])
    without = analyze_events(imp.filter(old), fb, spec)
    assert memory.conflicting_users == without.conflicting_users + 1
    assert sum(memory.counts) == sum(without.counts) + 1  # new1 joins; new2 conflicts


def test_an_experiment_of_plain_values_ignores_decided_the_same_way(tmp_path: Path) -> None:
    """Variants that name no model: every entry counts, whatever ``decided`` says."""
    steered = spec_of(2)
    plain = dataclasses.replace(
        steered,
        variants=tuple(
            dataclasses.replace(v, value=f"colour-{i}") for i, v in enumerate(steered.variants)
        ),
    )
    assert not plain.steered_models
    write_log(tmp_path, plain, seed=31, users=300, n=5000)
    imp, fb = read_events(str(tmp_path), "impressions"), read_events(str(tmp_path), "feedback")
    memory = analyze_events(imp, fb, plain)
    assert memory.undecided_exposures == 0 and memory.conflicting_users > 0
    same(memory, analyze_event_log(str(tmp_path), plain))
