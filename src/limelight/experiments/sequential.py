"""Anytime-valid inference: confidence sequences that stay valid however often you look.

We use the Gaussian-mixture boundary (mixture SPRT; Robbins 1970, Howard et al. 2021,
asymptotic form of Waudby-Smith et al. 2023, eq. 9). With ``n`` users, an estimate whose
variance is ``V`` and a mixture tuned to be tightest at ``planned_n`` users, the interval is

    estimate +- sqrt(V * (1 + 1/r) * (2 log(1/alpha) + log(1 + r))),   r = n * rho^2,
    rho^2 = (2 log(1/alpha) + log(2 log(1/alpha) + 1)) / planned_n.

The chance that the truth ever leaves the interval, over all looks, is at most ``alpha``;
so daily peeking does not inflate false positives. The price is a wider interval than a
fixed-horizon one (about 1.5-2x near ``planned_n``). This is the same parametrisation as
GrowthBook's sequential test with ``sequential_tuning_parameter = planned_n``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from limelight.core.errors import InvalidInputError
from limelight.experiments.stats import Estimates, FloatArray, compare_from_stats

__all__ = ["confidence_sequence", "sequential_from_stats", "sequential_p_value"]


def _rho2(alpha: float, planned_n: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise InvalidInputError(f"alpha must be in (0, 1), got {alpha!r}")
    if not planned_n > 0:
        raise InvalidInputError(
            f"planned_n must be a positive number of users, got {planned_n!r}: "
            "give the sample size at which you expect to decide"
        )
    two_log = -2.0 * np.log(alpha)
    return float((two_log + np.log(two_log + 1.0)) / planned_n)


def confidence_sequence(
    estimate: ArrayLike,
    variance: ArrayLike,
    n: ArrayLike,
    *,
    planned_n: float,
    alpha: float = 0.05,
) -> tuple[FloatArray, FloatArray]:
    """Lower and upper bounds of the confidence sequence at each look (broadcasts)."""
    rho2 = _rho2(alpha, planned_n)
    est = np.asarray(estimate, dtype=np.float64)
    var = np.asarray(variance, dtype=np.float64)
    r = np.asarray(n, dtype=np.float64) * rho2
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.sqrt(var * (1.0 + 1.0 / r) * (-2.0 * np.log(alpha) + np.log1p(r)))
    return est - half, est + half


def sequential_p_value(
    estimate: ArrayLike,
    variance: ArrayLike,
    n: ArrayLike,
    *,
    planned_n: float,
    alpha: float = 0.05,
    null: float = 0.0,
) -> FloatArray:
    """Anytime-valid p-value: ``min(1, 1 / mixture likelihood ratio)`` at each look.

    Take its running minimum over looks (``np.minimum.accumulate``) to report it over time.
    """
    rho2 = _rho2(alpha, planned_n)
    r = np.asarray(n, dtype=np.float64) * rho2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z2 = (np.asarray(estimate, dtype=np.float64) - null) ** 2 / np.asarray(
            variance, dtype=np.float64
        )
        log_lr = r * z2 / (2.0 * (r + 1.0)) - 0.5 * np.log1p(r)
        p = np.minimum(1.0, np.exp(-log_lr))
    return np.asarray(p, dtype=np.float64)


def sequential_from_stats(
    n_c: ArrayLike,
    mean_c: ArrayLike,
    var_c: ArrayLike,
    n_t: ArrayLike,
    mean_t: ArrayLike,
    var_t: ArrayLike,
    *,
    planned_n: float,
    alpha: float = 0.05,
    base_c: ArrayLike | None = None,
    base_t: ArrayLike | None = None,
) -> Estimates:
    """A Welch-style comparison whose intervals and p-values are anytime-valid."""
    fixed = compare_from_stats(
        n_c, mean_c, var_c, n_t, mean_t, var_t, base_c=base_c, base_t=base_t, alpha=alpha
    )
    n = fixed.n_control + fixed.n_treatment
    variance = fixed.se**2
    low, high = confidence_sequence(fixed.diff, variance, n, planned_n=planned_n, alpha=alpha)
    p = sequential_p_value(fixed.diff, variance, n, planned_n=planned_n, alpha=alpha)
    bc = fixed.control_mean if base_c is None else np.asarray(base_c, dtype=np.float64)
    bt = fixed.treatment_mean if base_t is None else np.asarray(base_t, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift_var = np.asarray(var_t) / (bc**2 * fixed.n_treatment) + np.asarray(var_c) * bt**2 / (
            bc**4 * fixed.n_control
        )
        lift_low, lift_high = confidence_sequence(
            fixed.lift, lift_var, n, planned_n=planned_n, alpha=alpha
        )
    return Estimates(
        method="sequential",
        control_mean=fixed.control_mean,
        treatment_mean=fixed.treatment_mean,
        diff=fixed.diff,
        se=fixed.se,
        df=np.full_like(fixed.diff, np.inf),
        ci_low=low,
        ci_high=high,
        p_value=np.where(fixed.se == 0, np.nan, p),
        lift=fixed.lift,
        lift_ci_low=lift_low,
        lift_ci_high=lift_high,
        n_control=fixed.n_control,
        n_treatment=fixed.n_treatment,
        alpha=alpha,
    )
