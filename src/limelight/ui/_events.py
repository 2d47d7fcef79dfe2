"""What the experiment, bandit and serving pages show, computed from the event log.

Impressions and feedback are read as Arrow tables and reduced with ``pyarrow.compute`` and
numpy; the statistics are the experiments package's own (no second implementation here).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from limelight.core.errors import InvalidInputError
from limelight.experiments import (
    ExperimentAnalysis,
    ExperimentSpec,
    analyze_log,
    daily_series,
    exposure_log,
)
from limelight.experiments.analysis import DailySeries
from limelight.registry import Registry
from limelight.store import Store
from limelight.tracking import RunSummary, search_runs

__all__ = [
    "ArmStats",
    "BanditStats",
    "ExperimentReport",
    "OpeRow",
    "ServingStats",
    "arm_stats",
    "bandit_stats",
    "experiment_report",
    "interleaving_runs",
    "ope_rows",
    "serving_stats",
]

INTERLEAVING_TAG = "interleaving"


@dataclass
class ExperimentReport:
    """An experiment's analysis, its exposure counts and the primary metric's daily series."""

    spec: ExperimentSpec
    analysis: ExperimentAnalysis | None = None
    exposures: list[int] = field(default_factory=list)
    series: DailySeries | None = None
    problem: str = ""


def experiment_report(store: Store, spec: ExperimentSpec) -> ExperimentReport:
    """Analyse ``spec`` on the whole event log; a log without its exposures is a ``problem``."""
    report = ExperimentReport(spec)
    try:
        log = exposure_log(store.read_events("impressions"), store.read_events("feedback"), spec)
        report.analysis = analyze_log(log)
    except InvalidInputError as exc:
        report.problem = str(exc)
        return report
    arms = len(spec.variants)
    report.exposures = [
        int(n) for n in np.bincount(log.variant[log.exposure_user], minlength=arms)[:arms]
    ]
    try:
        report.series = daily_series(log)
    except InvalidInputError as exc:
        report.problem = f"no daily series: {exc}"
    return report


def interleaving_runs(store: Store) -> list[RunSummary]:
    """Runs tagged ``interleaving`` (their metrics hold an interleaving test's result)."""
    return search_runs(where=f"tag = '{INTERLEAVING_TAG}'", limit=50, config=store.config)


@dataclass
class ArmStats:
    """Impressions, plays and the logged choice probability of one artwork arm."""

    arm: str
    impressions: int
    plays: int
    mean_propensity: float

    @property
    def take_rate(self) -> float:
        return self.plays / self.impressions if self.impressions else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """A 95% Wilson interval of the take rate."""
        n, z = self.impressions, 1.959963984540054
        if n == 0:
            return float("nan"), float("nan")
        p = self.plays / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return centre - half, centre + half


def _shown(impressions: pa.Table) -> pa.Table:
    """One row per (request, item) that was shown with an artwork."""
    items = impressions["items"].combine_chunks()
    parent = pc.list_parent_indices(items)
    shown = pa.table(
        {
            "request_id": pc.take(impressions["request_id"], parent),
            "item_id": pc.list_flatten(items),
            "artwork": pc.list_flatten(impressions["artworks"].combine_chunks()),
            "propensity": pc.list_flatten(impressions["propensities"].combine_chunks()),
        }
    )
    return shown.filter(pc.is_valid(shown["artwork"]))


def arm_stats(store: Store, play_event: str = "play") -> tuple[list[ArmStats], list[float]]:
    """Per-arm counts and take rates, and every logged propensity (for the histogram)."""
    impressions = store.read_events("impressions")
    feedback = store.read_events("feedback")
    if impressions.num_rows == 0:
        return [], []
    lengths = pc.list_value_length(impressions["items"])
    for column in ("artworks", "propensities"):
        other = pc.list_value_length(impressions[column])
        if not pc.all(pc.equal(pc.fill_null(other, 0), pc.fill_null(lengths, 0))).as_py():
            raise InvalidInputError(
                f"impressions: '{column}' must list one entry per shown item in every row"
            )
    shown = _shown(impressions)
    if shown.num_rows == 0:
        return [], []
    plays = (
        feedback.filter(pc.fill_null(pc.equal(feedback["event"], play_event), False))
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
    arms = [
        ArmStats(str(a), int(n), int(p), float(m) if m is not None else float("nan"))
        for a, p, n, m in zip(
            grouped["artwork"].to_pylist(),
            grouped["played_sum"].to_pylist(),
            grouped["played_count"].to_pylist(),
            grouped["propensity_mean"].to_pylist(),
            strict=True,
        )
    ]
    propensities = [float(v) for v in shown["propensity"].to_pylist() if v is not None]
    return sorted(arms, key=lambda a: a.arm), propensities


@dataclass
class BanditStats:
    """What the bandit page draws: per-arm statistics and the propensities binned over [0, 1]."""

    arms: list[ArmStats]
    bins: list[str]
    counts: list[int]
    choices: int


def bandit_stats(store: Store, bins: int = 20) -> BanditStats:
    """Arm statistics and a histogram of the logged propensities, computed on the server.

    The page used to embed every propensity (one per shown item) for the browser to bin; the
    counts of ``bins`` equal bins are the same picture at a size that does not grow with the log.
    Values outside [0, 1] (a logging bug) are counted in the edge bins.
    """
    arms, propensities = arm_stats(store)
    values = np.clip(np.asarray(propensities, dtype=np.float64), 0.0, 1.0)
    counts, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    names = [f"{lo:.2f}-{hi:.2f}" for lo, hi in itertools.pairwise(edges)]
    return BanditStats(arms, names, [int(c) for c in counts], len(propensities))


@dataclass
class OpeRow:
    """One off-policy estimate of a registered policy version, with its interval."""

    model: str
    version: int
    aliases: list[str]
    estimator: str
    estimate: float
    low: float
    high: float


def ope_rows(registry: Registry) -> list[OpeRow]:
    """Every metric ``X`` of a model version that comes with ``X.low`` and ``X.high``."""
    rows = []
    for name in registry.models():
        for version in registry.versions(name):
            found = version.metrics
            for key in sorted(found):
                if f"{key}.low" in found and f"{key}.high" in found:
                    rows.append(
                        OpeRow(
                            name,
                            version.version,
                            version.aliases,
                            key,
                            found[key],
                            found[f"{key}.low"],
                            found[f"{key}.high"],
                        )
                    )
    return rows


@dataclass
class ServingStats:
    """Traffic and latency of the served requests, bucketed over time."""

    requests: int
    empty: int
    seconds: float
    bucket: float
    times: list[float]
    rate: list[float]
    p50: list[float]
    p99: list[float]
    percentiles: dict[str, float]
    model_traffic: dict[str, int]


_BUCKETS = (1.0, 5.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)


def serving_stats(store: Store, max_points: int = 120) -> ServingStats:
    """Requests per second, latency percentiles and traffic per model version."""
    impressions = store.read_events("impressions")
    n = impressions.num_rows
    ts = np.asarray(impressions["ts"].to_numpy(zero_copy_only=False), dtype=np.float64)
    latency = np.asarray(
        pc.fill_null(impressions["latency_ms"], float("nan")).to_numpy(zero_copy_only=False),
        dtype=np.float64,
    )
    empty = (
        int(
            pc.sum(pc.equal(pc.fill_null(pc.list_value_length(impressions["items"]), 0), 0)).as_py()
            or 0
        )
        if n
        else 0
    )
    traffic: dict[str, int] = {}
    if n:
        counts = pc.value_counts(pc.list_flatten(impressions["models"].combine_chunks()))
        for entry in counts.to_pylist():
            if entry["values"] is not None:
                traffic[str(entry["values"])] = int(entry["counts"])
    known = latency[np.isfinite(latency)]
    percentiles = {
        f"p{q}": float(np.percentile(known, q)) if known.size else float("nan")
        for q in (50, 90, 95, 99)
    }
    if n == 0:
        return ServingStats(0, 0, 0.0, 1.0, [], [], [], [], percentiles, traffic)
    t0, t1 = float(ts.min()), float(ts.max())
    span = max(t1 - t0, 1.0)
    bucket = next((b for b in _BUCKETS if span / b <= max_points), _BUCKETS[-1])
    index = ((ts - t0) // bucket).astype(np.int64)
    buckets = int(index.max()) + 1
    counts_per = np.bincount(index, minlength=buckets)
    p50, p99 = [], []
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(buckets + 1))
    for b in range(buckets):
        values = latency[order[bounds[b] : bounds[b + 1]]]
        values = values[np.isfinite(values)]
        p50.append(float(np.percentile(values, 50)) if values.size else float("nan"))
        p99.append(float(np.percentile(values, 99)) if values.size else float("nan"))
    return ServingStats(
        requests=n,
        empty=empty,
        seconds=span,
        bucket=bucket,
        times=[t0 + b * bucket for b in range(buckets)],
        rate=[float(c) / bucket for c in counts_per],
        p50=p50,
        p99=p99,
        percentiles=percentiles,
        model_traffic=dict(sorted(traffic.items())),
    )


def as_points(values: Any) -> list[float | None]:
    """Floats for a chart (NaN and infinities become gaps)."""
    return [float(v) if v is not None and math.isfinite(float(v)) else None for v in values]
