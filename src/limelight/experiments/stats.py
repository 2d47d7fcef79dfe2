"""Fixed-horizon statistics for A/B tests: pure functions on per-user arrays.

Differences in means use Welch's t interval (unequal variances, Welch-Satterthwaite degrees of
freedom). Ratio metrics (sum of numerators over sum of denominators, e.g. plays per
impression) use the delta method, CUPED adjusts a metric by a pre-period covariate with one
pooled slope. The relative lift ``diff / control mean`` gets a delta-method interval with the
same degrees of freedom; this is the definition GrowthBook's gbstats uses, so the two agree.
The ``*_from_stats`` forms take summary statistics and broadcast, so thousands of simulated
experiments can be analysed with one call.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from limelight.core.errors import InvalidInputError

__all__ = [
    "ArmMoments",
    "Estimate",
    "Estimates",
    "SRMResult",
    "benjamini_hochberg",
    "compare_from_stats",
    "compare_moments",
    "cuped",
    "cuped_moments",
    "diff_in_means",
    "holm",
    "mean_moments",
    "ratio_metric",
    "ratio_moments",
    "srm_check",
    "welch_from_stats",
]

FloatArray = NDArray[np.float64]

ZERO_VARIANCE_NOTE = (
    "the metric has zero variance in both arms: nothing to test (interval is a point, "
    "p-value undefined)"
)


def _special() -> Any:
    """``scipy.special`` (Student's t and chi-squared distributions), imported on first use: it
    takes about 0.15 s, which the event log's read-out spends while DuckDB runs its query
    (:mod:`limelight.experiments._log_queries` imports it in the background)."""
    from scipy import special

    return special


@dataclass(frozen=True)
class Estimate:
    """One comparison of a treatment with the control, in absolute and relative terms."""

    method: str
    control_mean: float
    treatment_mean: float
    diff: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    p_value: float
    lift: float
    lift_ci_low: float
    lift_ci_high: float
    n_control: float
    n_treatment: float
    alpha: float
    note: str = ""

    @property
    def significant(self) -> bool:
        return bool(self.p_value < self.alpha)


@dataclass(frozen=True)
class Estimates:
    """Many comparisons at once (arrays of equal shape), e.g. over simulated experiments."""

    method: str
    control_mean: FloatArray
    treatment_mean: FloatArray
    diff: FloatArray
    se: FloatArray
    df: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    p_value: FloatArray
    lift: FloatArray
    lift_ci_low: FloatArray
    lift_ci_high: FloatArray
    n_control: FloatArray
    n_treatment: FloatArray
    alpha: float

    def item(self, index: int | tuple[int, ...] = ()) -> Estimate:
        """The comparison at ``index`` as plain floats (the only one if the arrays are 0-d)."""
        values: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("method", "alpha"):
                values[f.name] = value
            else:
                values[f.name] = float(np.asarray(value, dtype=np.float64)[index])
        note = ZERO_VARIANCE_NOTE if values["se"] == 0.0 else ""
        return Estimate(**values, note=note)


def _arr(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise InvalidInputError(f"alpha must be in (0, 1), got {alpha!r}")


def compare_from_stats(
    n_c: ArrayLike,
    mean_c: ArrayLike,
    var_c: ArrayLike,
    n_t: ArrayLike,
    mean_t: ArrayLike,
    var_t: ArrayLike,
    *,
    base_c: ArrayLike | None = None,
    base_t: ArrayLike | None = None,
    alpha: float = 0.05,
    method: str = "welch",
) -> Estimates:
    """Welch comparison from per-arm count, (adjusted) mean and per-user variance.

    ``base_c``/``base_t`` are the unadjusted means the relative lift is taken against
    (default: the means themselves).
    """
    _check_alpha(alpha)
    nc, mc, vc = _arr(n_c), _arr(mean_c), _arr(var_c)
    nt, mt, vt = _arr(n_t), _arr(mean_t), _arr(var_t)
    bc = mc if base_c is None else _arr(base_c)
    bt = mt if base_t is None else _arr(base_t)
    with np.errstate(divide="ignore", invalid="ignore"):
        sc, st = vc / nc, vt / nt
        var = sc + st
        se = np.sqrt(var)
        df = var**2 / (sc**2 / (nc - 1) + st**2 / (nt - 1))
        df = np.where(np.isfinite(df), df, np.inf)
        diff = mt - mc
        crit = _special().stdtrit(df, 1 - alpha / 2)  # Student's t quantile
        t_stat = diff / se
        p = 2 * _special().stdtr(df, -np.abs(t_stat))  # its survival function
        lift = diff / bc
        lift_var = vt / (bc**2 * nt) + vc * bt**2 / (bc**4 * nc)
        lift_half = crit * np.sqrt(lift_var)
        zero = se == 0
        half = np.where(zero, 0.0, crit * se)
        p = np.where(zero, np.nan, p)
    return Estimates(
        method=method,
        control_mean=np.broadcast_to(mc, diff.shape).astype(np.float64),
        treatment_mean=np.broadcast_to(mt, diff.shape).astype(np.float64),
        diff=diff,
        se=se,
        df=df,
        ci_low=diff - half,
        ci_high=diff + half,
        p_value=p,
        lift=lift,
        lift_ci_low=lift - np.where(zero, 0.0, lift_half),
        lift_ci_high=lift + np.where(zero, 0.0, lift_half),
        n_control=np.broadcast_to(nc, diff.shape).astype(np.float64),
        n_treatment=np.broadcast_to(nt, diff.shape).astype(np.float64),
        alpha=alpha,
    )


def welch_from_stats(
    n_c: ArrayLike,
    mean_c: ArrayLike,
    var_c: ArrayLike,
    n_t: ArrayLike,
    mean_t: ArrayLike,
    var_t: ArrayLike,
    *,
    alpha: float = 0.05,
) -> Estimates:
    """Difference in means with Welch intervals from summary statistics (broadcasts)."""
    return compare_from_stats(n_c, mean_c, var_c, n_t, mean_t, var_t, alpha=alpha)


def _vector(x: ArrayLike, what: str) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidInputError(f"{what} must be a 1-D array of per-user values")
    if arr.size < 2:
        raise InvalidInputError(
            f"{what} has {arr.size} user(s): each arm needs at least 2 users for a variance"
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{what} holds NaN or infinite values: clean or fill them")
    return arr


def _pair(x: ArrayLike, y: ArrayLike, what_x: str, what_y: str) -> tuple[FloatArray, FloatArray]:
    a, b = _vector(x, what_x), _vector(y, what_y)
    if a.shape != b.shape:
        raise InvalidInputError(
            f"{what_x} has {a.size} users but {what_y} has {b.size}: they must be parallel "
            "arrays (one entry per user)"
        )
    return a, b


@dataclass(frozen=True)
class ArmMoments:
    """What a comparison needs from one arm: users, (adjusted) mean, per-user variance, and
    the unadjusted mean the relative lift is taken against."""

    n: float
    mean: float
    var: float
    base: float


def compare_moments(
    control: ArmMoments, treatment: ArmMoments, *, alpha: float = 0.05, method: str = "welch"
) -> Estimate:
    """The fixed-horizon comparison of two arms' moments."""
    return compare_from_stats(
        control.n,
        control.mean,
        control.var,
        treatment.n,
        treatment.mean,
        treatment.var,
        base_c=control.base,
        base_t=treatment.base,
        alpha=alpha,
        method=method,
    ).item()


def mean_moments(values: ArrayLike, what: str = "values") -> ArmMoments:
    """Moments of a per-user metric."""
    y = _vector(values, what)
    mean = float(y.mean())
    return ArmMoments(float(y.size), mean, float(y.var(ddof=1)), mean)


def ratio_moments(numerator: ArrayLike, denominator: ArrayLike, arm: str = "") -> ArmMoments:
    """Delta-method moments of ``sum(numerator) / sum(denominator)`` over users."""
    prefix = f"{arm} " if arm else ""
    num, den = _pair(numerator, denominator, f"{prefix}numerator", f"{prefix}denominator")
    mean_d = float(den.mean())
    if mean_d == 0:
        raise InvalidInputError(
            f"the {prefix}denominator sums to zero: a ratio metric needs some denominator "
            "(e.g. impressions) in each arm"
        )
    ratio = float(num.mean()) / mean_d
    cov = np.cov(num, den, ddof=1)
    var = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / mean_d**2
    return ArmMoments(float(num.size), ratio, max(float(var), 0.0), ratio)


def cuped_moments(
    y_c: ArrayLike, x_c: ArrayLike, y_t: ArrayLike, x_t: ArrayLike
) -> tuple[ArmMoments, ArmMoments]:
    """CUPED-adjusted moments of both arms, with one slope fitted on the arms pooled."""
    yc, xc = _pair(y_c, x_c, "control metric", "control covariate")
    yt, xt = _pair(y_t, x_t, "treatment metric", "treatment covariate")
    y_all, x_all = np.concatenate([yc, yt]), np.concatenate([xc, xt])
    var_x = x_all.var(ddof=1)
    theta = 0.0 if var_x == 0 else float(np.cov(y_all, x_all, ddof=1)[0, 1] / var_x)
    x_bar = x_all.mean()

    def arm(y: FloatArray, x: FloatArray) -> ArmMoments:
        adjusted = y - theta * (x - x_bar)
        return ArmMoments(
            float(y.size), float(adjusted.mean()), float(adjusted.var(ddof=1)), float(y.mean())
        )

    return arm(yc, xc), arm(yt, xt)


def diff_in_means(control: ArrayLike, treatment: ArrayLike, *, alpha: float = 0.05) -> Estimate:
    """Difference in means (treatment - control) of a per-user metric, Welch interval."""
    return compare_moments(
        mean_moments(control, "control"), mean_moments(treatment, "treatment"), alpha=alpha
    )


def ratio_metric(
    numerator_c: ArrayLike,
    denominator_c: ArrayLike,
    numerator_t: ArrayLike,
    denominator_t: ArrayLike,
    *,
    alpha: float = 0.05,
) -> Estimate:
    """Ratio of sums (e.g. plays per impression) per arm, compared with the delta method.

    Users are the randomisation unit, so the variance comes from per-user numerators and
    denominators (not from counting impressions as independent).
    """
    return compare_moments(
        ratio_moments(numerator_c, denominator_c, "control"),
        ratio_moments(numerator_t, denominator_t, "treatment"),
        alpha=alpha,
        method="delta",
    )


def cuped(
    y_c: ArrayLike,
    x_c: ArrayLike,
    y_t: ArrayLike,
    x_t: ArrayLike,
    *,
    alpha: float = 0.05,
) -> Estimate:
    """Difference in means adjusted by a pre-period covariate ``x`` (CUPED).

    One slope ``theta = cov(y, x) / var(x)`` is fitted on both arms pooled, and each arm's
    metric becomes ``y - theta * (x - mean(x))``. The variance shrinks by about ``1 - rho^2``
    where ``rho`` is the correlation of ``y`` and ``x``. A constant covariate leaves ``y`` as is.
    """
    control, treatment = cuped_moments(y_c, x_c, y_t, x_t)
    return compare_moments(control, treatment, alpha=alpha, method="cuped")


@dataclass(frozen=True)
class SRMResult:
    """Sample-ratio-mismatch check: does the observed split match the configured shares?"""

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    p_value: float
    threshold: float

    @property
    def flagged(self) -> bool:
        """True when the split is too unlikely under the configured shares to trust results."""
        return bool(self.p_value < self.threshold)


def srm_check(counts: ArrayLike, shares: ArrayLike, *, threshold: float = 0.001) -> SRMResult:
    """Chi-square goodness-of-fit of users per variant against the configured shares."""
    obs = np.asarray(counts, dtype=np.float64)
    sh = np.asarray(shares, dtype=np.float64)
    if obs.ndim != 1 or sh.shape != obs.shape or obs.size < 2:
        raise InvalidInputError(
            f"counts ({obs.size}) and shares ({sh.size}) must be parallel lists, one per variant"
        )
    if np.any(obs < 0) or np.any(sh <= 0) or abs(sh.sum() - 1.0) > 1e-9:
        raise InvalidInputError("counts must be >= 0 and shares positive, summing to 1")
    total = obs.sum()
    if total == 0:
        raise InvalidInputError("no users were exposed to any variant: nothing to check")
    expected = total * sh
    chi2 = float(((obs - expected) ** 2 / expected).sum())
    p = float(_special().chdtrc(obs.size - 1, chi2))  # chi-squared survival function
    return SRMResult(
        observed=tuple(int(x) for x in obs),
        expected=tuple(float(x) for x in expected),
        chi2=chi2,
        p_value=p,
        threshold=threshold,
    )


def _p_values(p_values: ArrayLike) -> FloatArray:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise InvalidInputError("p-values must be a 1-D list")
    finite = p[~np.isnan(p)]
    if np.any((finite < 0) | (finite > 1)):
        raise InvalidInputError("p-values must lie in [0, 1]")
    return p


def holm(p_values: ArrayLike) -> FloatArray:
    """Holm-Bonferroni adjusted p-values (family-wise error control); NaNs stay NaN."""
    p = _p_values(p_values)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def benjamini_hochberg(p_values: ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate); NaNs stay NaN."""
    p = _p_values(p_values)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out[order] = np.minimum(adjusted, 1.0)
    return out
