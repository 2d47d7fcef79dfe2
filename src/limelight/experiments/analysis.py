"""The analysis job: per-user arrays in, a verdict for every metric and variant out.

For each treatment variant and each metric of the spec, we report the fixed-horizon estimate
(Welch; delta method for ratios; CUPED when the metric has a pre-period covariate), its
anytime-valid counterpart (a confidence sequence), and a p-value adjusted for testing several
metrics and variants (Holm by default, Benjamini-Hochberg on request). A sample-ratio-mismatch
check guards the whole read-out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from limelight.core.errors import InvalidInputError
from limelight.experiments._moments import VariantMoments
from limelight.experiments.events import DEFAULT_PRE_PERIOD, ExposureLog, UserTable, exposure_log
from limelight.experiments.metrics import METRICS, MetricDef
from limelight.experiments.sequential import sequential_from_stats
from limelight.experiments.spec import ExperimentSpec
from limelight.experiments.stats import (
    ArmMoments,
    Estimate,
    SRMResult,
    benjamini_hochberg,
    compare_moments,
    cuped_moments,
    holm,
    mean_moments,
    ratio_moments,
    srm_check,
)

__all__ = [
    "DailySeries",
    "ExperimentAnalysis",
    "MetricResult",
    "analyze",
    "analyze_events",
    "analyze_log",
    "daily_series",
]

Correction = Literal["holm", "bh"]
DAY = 86400.0


@dataclass(frozen=True)
class MetricResult:
    """One metric for one treatment variant against the control."""

    metric: str
    variant: str
    primary: bool
    estimate: Estimate | None
    sequential: Estimate | None
    adjusted_p: float
    note: str = ""


@dataclass(frozen=True)
class ExperimentAnalysis:
    """The read-out of one experiment."""

    experiment: str
    control: str
    variants: tuple[str, ...]
    counts: tuple[int, ...]
    srm: SRMResult
    results: tuple[MetricResult, ...]
    correction: str
    alpha: float
    planned_n: float
    conflicting_users: int = 0
    unknown_variant_exposures: int = 0
    undecided_exposures: int = 0  # dropped: another experiment chose the model served
    unattributed_exposures: int = 0  # kept: logged before serving recorded who decided
    snapshots: dict[str, int | None] = field(default_factory=dict)  # the tables' snapshots read

    def result(self, metric: str, variant: str | None = None) -> MetricResult:
        """The result of ``metric`` for ``variant`` (default: the first treatment)."""
        wanted = variant or self.variants[1]
        for r in self.results:
            if r.metric == metric and r.variant == wanted:
                return r
        raise InvalidInputError(f"no result for metric {metric!r} and variant {wanted!r}")

    def table(self) -> str:
        """The result table as text."""
        from limelight.experiments.report import format_analysis

        return format_analysis(self)


def _arm_moments(
    table: UserTable | VariantMoments,
    metric: MetricDef,
    control: int,
    treatment: int,
    use_cuped: bool,
) -> tuple[ArmMoments, ArmMoments, str]:
    if isinstance(table, VariantMoments):
        return table.arm_moments(metric, control, treatment, use_cuped)
    c, t = table.variant == control, table.variant == treatment
    y = table.column(metric.numerator)
    if metric.denominator is not None:
        d = table.column(metric.denominator)
        return ratio_moments(y[c], d[c], "control"), ratio_moments(y[t], d[t], "treatment"), "delta"
    if use_cuped and metric.covariate is not None:
        x = table.column(metric.covariate)
        if np.ptp(x[c | t]) > 0:
            mc, mt = cuped_moments(y[c], x[c], y[t], x[t])
            return mc, mt, "cuped"
    return mean_moments(y[c], "control"), mean_moments(y[t], "treatment"), "welch"


def _compare(
    table: UserTable | VariantMoments,
    spec: ExperimentSpec,
    metric_name: str,
    treatment: int,
    *,
    alpha: float,
    use_cuped: bool,
    planned_n: float,
) -> tuple[Estimate, Estimate]:
    mc, mt, method = _arm_moments(table, METRICS[metric_name], 0, treatment, use_cuped)
    fixed = compare_moments(mc, mt, alpha=alpha, method=method)
    seq = sequential_from_stats(
        mc.n,
        mc.mean,
        mc.var,
        mt.n,
        mt.mean,
        mt.var,
        base_c=mc.base,
        base_t=mt.base,
        planned_n=planned_n,
        alpha=alpha,
    ).item()
    return fixed, seq


def analyze(
    table: UserTable | VariantMoments,
    spec: ExperimentSpec,
    *,
    alpha: float = 0.05,
    correction: Correction = "holm",
    use_cuped: bool = True,
    planned_n: float | None = None,
) -> ExperimentAnalysis:
    """Analyse per-user arrays of ``spec`` (variant 0 is the control), or the per-variant
    moments they reduce to (:class:`VariantMoments`, e.g. computed in SQL): the same result.

    ``planned_n`` is the number of users (control + treatment) the confidence sequence is
    tightest at; by default the users seen so far, right for a final read-out. For daily
    monitoring pass the planned total, or use :func:`daily_series`.
    """
    if correction not in ("holm", "bh"):
        raise InvalidInputError(f"correction must be 'holm' or 'bh', got {correction!r}")
    if isinstance(table, VariantMoments):
        users = float(table.n.sum())
        if table.n.size != len(spec.variants):
            raise InvalidInputError("the moments' variants do not match the spec")
    else:
        users = float(len(table))
        if users and (
            int(table.variant.max()) >= len(spec.variants) or int(table.variant.min()) < 0
        ):
            raise InvalidInputError("the user table's variant indices do not match the spec")
    if users == 0:
        raise InvalidInputError(f"experiment {spec.name!r} has no exposed users to analyse")
    counts = table.counts(len(spec.variants))
    srm = srm_check(counts, spec.shares)
    planned = float(planned_n) if planned_n is not None else None
    pending: list[tuple[str, str, Estimate | None, Estimate | None, str]] = []
    for metric in spec.metrics:
        for index in range(1, len(spec.variants)):
            name = spec.variants[index].name
            pair_n = float(counts[0] + counts[index])
            try:
                fixed, seq = _compare(
                    table,
                    spec,
                    metric,
                    index,
                    alpha=alpha,
                    use_cuped=use_cuped,
                    planned_n=planned if planned is not None else max(pair_n, 1.0),
                )
            except InvalidInputError as exc:
                pending.append((metric, name, None, None, str(exc)))
                continue
            pending.append((metric, name, fixed, seq, fixed.note))
    raw = np.array([e.p_value if e is not None else np.nan for _, _, e, _, _ in pending])
    adjusted = holm(raw) if correction == "holm" else benjamini_hochberg(raw)
    results = tuple(
        MetricResult(
            metric, variant, metric == spec.primary_metric, fixed, seq, float(adjusted[i]), note
        )
        for i, (metric, variant, fixed, seq, note) in enumerate(pending)
    )
    return ExperimentAnalysis(
        experiment=spec.name,
        control=spec.variants[0].name,
        variants=spec.variant_names,
        counts=tuple(int(c) for c in counts),
        srm=srm,
        results=results,
        correction=correction,
        alpha=alpha,
        planned_n=planned if planned is not None else users,
    )


def analyze_events(
    impressions: pa.Table,
    feedback: pa.Table,
    spec: ExperimentSpec,
    *,
    alpha: float = 0.05,
    correction: Correction = "holm",
    use_cuped: bool = True,
    play_event: str = "play",
    pre_period: float = DEFAULT_PRE_PERIOD,
    until: float | None = None,
) -> ExperimentAnalysis:
    """The whole job: event log tables in, :class:`ExperimentAnalysis` out."""
    log = exposure_log(
        impressions, feedback, spec, play_event=play_event, pre_period=pre_period, until=until
    )
    return analyze_log(log, alpha=alpha, correction=correction, use_cuped=use_cuped)


def analyze_log(
    log: ExposureLog,
    *,
    alpha: float = 0.05,
    correction: Correction = "holm",
    use_cuped: bool = True,
) -> ExperimentAnalysis:
    """Analyse an :class:`ExposureLog` as it stands at its end, with what it dropped counted."""
    result = analyze(
        log.users_until(), log.spec, alpha=alpha, correction=correction, use_cuped=use_cuped
    )
    return replace(
        result,
        conflicting_users=log.conflicting_users,
        unknown_variant_exposures=log.unknown_variant_exposures,
        undecided_exposures=log.undecided_exposures,
        unattributed_exposures=log.unattributed_exposures,
        snapshots=dict(log.snapshots),
    )


def _aligned(log: ExposureLog, resolution: tuple[float, float], day: float) -> bool:
    """Whether ``day``-long cutoffs fall on the boundaries of a log summed per day."""
    start, step = resolution
    lo = log.window[0]
    begin = lo if math.isfinite(lo) else float(log.first_exposure.min())
    return begin == start and day == step


@dataclass(frozen=True)
class DailySeries:
    """One metric's estimate at the end of each day, with fixed and sequential intervals.

    The sequential p-value is reported as its running minimum (valid under the null of no
    effect at any time). The sequential bounds are *not* intersected over days: a cumulative
    per-user metric (plays so far) grows as users stay longer, so each day estimates a
    slightly different quantity and an intersection could exclude the final truth.
    """

    experiment: str
    metric: str
    variant: str
    day_end: NDArray[np.float64]
    n: NDArray[np.float64]
    diff: NDArray[np.float64]
    ci_low: NDArray[np.float64]
    ci_high: NDArray[np.float64]
    seq_low: NDArray[np.float64]
    seq_high: NDArray[np.float64]
    p_value: NDArray[np.float64]
    seq_p_value: NDArray[np.float64]
    alpha: float

    def svg(self) -> str:
        """The estimate and both intervals over time, as an SVG document."""
        from limelight.experiments.report import series_svg

        return series_svg(self)


def daily_series(
    log: ExposureLog,
    metric: str | None = None,
    variant: str | None = None,
    *,
    alpha: float = 0.05,
    use_cuped: bool = True,
    day: float = DAY,
    planned_n: float | None = None,
) -> DailySeries:
    """Re-run the analysis at the end of each day of the experiment (for the sequential plot).

    ``planned_n`` defaults to the users of the two arms at the last day. Days on which an arm
    has fewer than two users are NaN.
    """
    spec = log.spec
    metric = metric or spec.primary_metric
    if metric not in METRICS:
        raise InvalidInputError(f"unknown metric {metric!r}; choose from {sorted(METRICS)}")
    variant = variant or spec.variants[1].name
    if variant not in spec.variant_names[1:]:
        raise InvalidInputError(
            f"variant {variant!r} is not a treatment of {spec.name!r}: "
            f"choose from {list(spec.variant_names[1:])}"
        )
    if not day > 0:
        raise InvalidInputError(f"day must be a positive number of seconds, got {day!r}")
    treatment = spec.variant_names.index(variant)
    if log.resolution is not None and not _aligned(log, log.resolution, day):
        raise InvalidInputError(
            f"this exposure log sums events per {log.resolution[1]:g} s: a daily series needs "
            "days of that length from the experiment's start (build the log with day=...)"
        )
    begin = float(log.first_exposure.min())
    lo, hi = log.window
    start = lo if math.isfinite(lo) else begin
    end = (
        hi
        if math.isfinite(hi)
        else float(max(log.exposure_ts.max(), log.play_ts.max(initial=begin))) + 1e-6
    )
    cutoffs = start + day * np.arange(1, max(1, math.ceil((end - start) / day)) + 1)
    cutoffs[-1] = min(cutoffs[-1], end)
    tables = [log.users_until(float(c)) for c in cutoffs]
    pair = np.array([float(np.isin(t.variant, (0, treatment)).sum()) for t in tables])
    planned = float(planned_n) if planned_n is not None else max(float(pair[-1]), 1.0)
    fields = {
        k: np.full(cutoffs.size, np.nan)
        for k in ("diff", "ci_low", "ci_high", "seq_low", "seq_high", "p", "seq_p")
    }
    for i, table in enumerate(tables):
        try:
            fixed, seq = _compare(
                table, spec, metric, treatment, alpha=alpha, use_cuped=use_cuped, planned_n=planned
            )
        except InvalidInputError:
            continue
        for key, value in (
            ("diff", fixed.diff),
            ("ci_low", fixed.ci_low),
            ("ci_high", fixed.ci_high),
            ("seq_low", seq.ci_low),
            ("seq_high", seq.ci_high),
            ("p", fixed.p_value),
            ("seq_p", seq.p_value),
        ):
            fields[key][i] = value
    return DailySeries(
        experiment=spec.name,
        metric=metric,
        variant=variant,
        day_end=cutoffs.astype(np.float64),
        n=pair,
        diff=fields["diff"],
        ci_low=fields["ci_low"],
        ci_high=fields["ci_high"],
        seq_low=fields["seq_low"],
        seq_high=fields["seq_high"],
        p_value=fields["p"],
        seq_p_value=np.fmin.accumulate(fields["seq_p"]),
        alpha=alpha,
    )
