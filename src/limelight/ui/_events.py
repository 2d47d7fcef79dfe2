"""What the experiment, bandit and serving pages show, computed from the event log.

Per request the pages aggregate in DuckDB over the event log's files
(:mod:`limelight.experiments._log_queries`): only per-user, per-arm and per-bucket aggregates
reach Python, whatever the size of the log. The statistics are the experiments package's own
(no second implementation here). Each result names the table snapshots it read.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from limelight.core.errors import InvalidInputError, StorageError
from limelight.experiments import (
    ExperimentAnalysis,
    ExperimentSpec,
    analyze_log,
    daily_series,
    exposure_log_from_events,
)
from limelight.experiments._log_queries import arm_aggregates, serving_aggregates
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
    snapshots: dict[str, int | None] = field(default_factory=dict)


def experiment_report(store: Store, spec: ExperimentSpec) -> ExperimentReport:
    """Analyse ``spec`` on the whole event log; a log without its exposures is a ``problem``."""
    report = ExperimentReport(spec)
    try:
        log = exposure_log_from_events(store.config.events, spec)
        report.analysis = analyze_log(log)
    except (InvalidInputError, StorageError) as exc:
        report.problem = str(exc)
        return report
    report.snapshots = dict(log.snapshots)
    report.exposures = [int(n) for n in log.exposures_by_variant()]
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


def arm_stats(store: Store, play_event: str = "play") -> tuple[list[ArmStats], list[int]]:
    """Per-arm counts and take rates, and the logged propensities in 20 equal bins."""
    found = arm_aggregates(store.config.events, play_event=play_event)
    arms = [ArmStats(a, n, p, m) for a, n, p, m in found.arms]
    return arms, found.histogram


@dataclass
class BanditStats:
    """What the bandit page draws: per-arm statistics and the propensities binned over [0, 1]."""

    arms: list[ArmStats]
    bins: list[str]
    counts: list[int]
    choices: int
    snapshots: dict[str, int | None] = field(default_factory=dict)


def bandit_stats(store: Store, bins: int = 20) -> BanditStats:
    """Arm statistics and a histogram of the logged propensities, computed in DuckDB.

    The counts of ``bins`` equal bins over [0, 1] (as ``numpy.histogram`` bins them) are a
    picture whose size does not grow with the log. Values outside [0, 1] (a logging bug) are
    counted in the edge bins.
    """
    found = arm_aggregates(store.config.events, bins=bins)
    arms = [ArmStats(a, n, p, m) for a, n, p, m in found.arms]
    edges = np.linspace(0.0, 1.0, bins + 1)
    names = [f"{lo:.2f}-{hi:.2f}" for lo, hi in itertools.pairwise(edges)]
    return BanditStats(arms, names, found.histogram, found.choices, found.snapshots)


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
    snapshots: dict[str, int | None] = field(default_factory=dict)


_BUCKETS = (1.0, 5.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)


def serving_stats(store: Store, max_points: int = 120) -> ServingStats:
    """Requests per second, latency percentiles and traffic per model version (in DuckDB)."""
    found = serving_aggregates(store.config.events, _BUCKETS, max_points=max_points)
    if found.requests == 0:
        return ServingStats(
            0,
            0,
            0.0,
            1.0,
            [],
            [],
            [],
            [],
            found.percentiles,
            found.model_traffic,
            found.snapshots,
        )
    bucket = found.bucket
    return ServingStats(
        requests=found.requests,
        empty=found.empty,
        seconds=max(found.t1 - found.t0, 1.0),
        bucket=bucket,
        times=[found.t0 + b * bucket for b in range(len(found.counts))],
        rate=[float(c) / bucket for c in found.counts],
        p50=found.p50,
        p99=found.p99,
        percentiles=found.percentiles,
        model_traffic=found.model_traffic,
        snapshots=found.snapshots,
    )


def as_points(values: Any) -> list[float | None]:
    """Floats for a chart (NaN and infinities become gaps)."""
    return [float(v) if v is not None and math.isfinite(float(v)) else None for v in values]
