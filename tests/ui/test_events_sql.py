"""The dashboard's figures, aggregated in DuckDB, equal the in-memory computation they replaced.

The oracle below is the page code as it was before the pages moved to SQL: it reads the whole
log with ``read_events`` and reduces it with ``pyarrow.compute`` and numpy.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from tests._eventlog import same, spec_of, write_log

from limelight.core.config import resolve_config
from limelight.core.errors import InvalidInputError
from limelight.experiments import analyze_log, daily_series, exposure_log
from limelight.store import open_store
from limelight.store.events import IMPRESSION_SCHEMA, read_events
from limelight.ui._events import _BUCKETS, bandit_stats, experiment_report, serving_stats


def _arms_in_memory(imp: pa.Table, fb: pa.Table) -> tuple[list[tuple], list[float]]:
    items = imp["items"].combine_chunks()
    parent = pc.list_parent_indices(items)
    shown = pa.table(
        {
            "request_id": pc.take(imp["request_id"], parent),
            "item_id": pc.list_flatten(items),
            "artwork": pc.list_flatten(imp["artworks"].combine_chunks()),
            "propensity": pc.list_flatten(imp["propensities"].combine_chunks()),
        }
    )
    shown = shown.filter(pc.is_valid(shown["artwork"]))
    plays = (
        fb.filter(pc.fill_null(pc.equal(fb["event"], "play"), False))
        .select(["request_id", "item_id"])
        .group_by(["request_id", "item_id"])
        .aggregate([])
    )
    plays = plays.append_column("played", pa.array(np.ones(plays.num_rows, dtype=np.int64)))
    joined = shown.join(plays, ["request_id", "item_id"], join_type="left outer")
    joined = joined.set_column(
        joined.schema.get_field_index("played"), "played", pc.fill_null(joined["played"], 0)
    )
    grouped = joined.group_by("artwork").aggregate(
        [("played", "sum"), ("played", "count"), ("propensity", "mean")]
    )
    arms = sorted(
        (str(a), int(n), int(p), float(m))
        for a, p, n, m in zip(
            grouped["artwork"].to_pylist(),
            grouped["played_sum"].to_pylist(),
            grouped["played_count"].to_pylist(),
            grouped["propensity_mean"].to_pylist(),
            strict=True,
        )
    )
    return arms, [float(v) for v in shown["propensity"].to_pylist() if v is not None]


def _shown_rounds(imp: pa.Table, fb: pa.Table) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every item shown with an artwork and a propensity: arm, propensity, played (0/1)."""
    items = imp["items"].combine_chunks()
    parent = pc.list_parent_indices(items)
    rows = pa.table(
        {
            "request_id": pc.take(imp["request_id"], parent),
            "item_id": pc.list_flatten(items),
            "artwork": pc.list_flatten(imp["artworks"].combine_chunks()),
            "propensity": pc.list_flatten(imp["propensities"].combine_chunks()),
        }
    )
    rows = rows.filter(pc.and_(pc.is_valid(rows["artwork"]), pc.is_valid(rows["propensity"])))
    plays = {
        (r, i)
        for r, i, e in zip(
            fb["request_id"].to_pylist(),
            fb["item_id"].to_pylist(),
            fb["event"].to_pylist(),
            strict=True,
        )
        if e == "play"
    }
    played = np.array(
        [
            (r, i) in plays
            for r, i in zip(
                rows["request_id"].to_pylist(), rows["item_id"].to_pylist(), strict=True
            )
        ],
        dtype=np.float64,
    )
    return rows["artwork"].to_pylist(), np.asarray(rows["propensity"].to_numpy()), played


def _serving_in_memory(imp: pa.Table, max_points: int = 120) -> dict:
    ts = np.asarray(imp["ts"].to_numpy(zero_copy_only=False), dtype=np.float64)
    latency = np.asarray(
        pc.fill_null(imp["latency_ms"], float("nan")).to_numpy(zero_copy_only=False), np.float64
    )
    known = latency[np.isfinite(latency)]
    t0, t1 = float(ts.min()), float(ts.max())
    span = max(t1 - t0, 1.0)
    bucket = next((b for b in _BUCKETS if span / b <= max_points), _BUCKETS[-1])
    index = ((ts - t0) // bucket).astype(np.int64)
    p50, p99 = [], []
    for b in range(int(index.max()) + 1):
        values = latency[(index == b) & np.isfinite(latency)]
        p50.append(float(np.percentile(values, 50)) if values.size else math.nan)
        p99.append(float(np.percentile(values, 99)) if values.size else math.nan)
    traffic: dict[str, int] = {}
    for entry in pc.value_counts(pc.list_flatten(imp["models"].combine_chunks())).to_pylist():
        traffic[str(entry["values"])] = int(entry["counts"])
    empty = int(pc.sum(pc.equal(pc.fill_null(pc.list_value_length(imp["items"]), 0), 0)).as_py())
    return {
        "requests": imp.num_rows,
        "empty": empty,
        "bucket": bucket,
        "counts": np.bincount(index).tolist(),
        "p50": p50,
        "p99": p99,
        "percentiles": {f"p{q}": float(np.percentile(known, q)) for q in (50, 90, 95, 99)},
        "traffic": dict(sorted(traffic.items())),
    }


@pytest.mark.parametrize("seed", [0, 1])
def test_the_pages_figures_equal_the_in_memory_ones(tmp_path: Path, seed: int) -> None:
    config = resolve_config(home=tmp_path, cwd=tmp_path, environ={})
    store = open_store(config)
    spec = spec_of(2 + seed)
    write_log(Path(config.events), spec, seed=seed, users=300, n=4000)
    imp, fb = read_events(config.events, "impressions"), read_events(config.events, "feedback")

    arms, propensities = _arms_in_memory(imp, fb)
    stats = bandit_stats(store)
    same(arms, [(a.arm, a.impressions, a.plays, a.mean_propensity) for a in stats.arms])
    counts, _ = np.histogram(np.clip(propensities, 0, 1), bins=20, range=(0.0, 1.0))
    assert stats.counts == counts.tolist() and stats.choices == len(propensities)

    expected = _serving_in_memory(imp)
    got = serving_stats(store)
    assert (got.requests, got.empty, got.bucket) == (
        expected["requests"],
        expected["empty"],
        expected["bucket"],
    )
    assert [round(r * got.bucket) for r in got.rate] == expected["counts"]
    same(got.p50, expected["p50"])
    same(got.p99, expected["p99"])
    same(got.percentiles, expected["percentiles"])
    assert got.model_traffic == expected["traffic"]

    report = experiment_report(store, spec)
    log = exposure_log(imp, fb, spec)
    same(report.analysis, analyze_log(log))
    same(report.series, daily_series(log))
    assert report.exposures == [
        int(n) for n in np.bincount(log.variant[log.exposure_user], minlength=len(spec.variants))
    ]
    assert all(isinstance(s, int) for s in report.snapshots.values()), report.snapshots


def test_artworks_of_the_wrong_shape_are_a_clear_error(tmp_path: Path) -> None:
    config = resolve_config(home=tmp_path, cwd=tmp_path, environ={})
    write_log(Path(config.events), spec_of(2), seed=3, users=20, n=200)
    bad = [{"request_id": "x", "ts": 1.0, "user_id": "u", "items": ["a", "b"], "artworks": ["z"]}]
    folder = Path(config.events) / "impressions" / "date=1970-01-01"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(bad, schema=IMPRESSION_SCHEMA), folder / "x.parquet")
    with pytest.raises(InvalidInputError, match="'artworks' must list one entry per shown item"):
        bandit_stats(open_store(config))
