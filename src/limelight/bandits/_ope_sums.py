"""IPS and SNIPS of a context-free target policy from per-action sums of the logged rounds.

When the target policy picks action ``a`` with the same probability ``pi[a]`` in every round,
the importance weight of a round is ``pi[a] / p`` and both estimators (and their normal
intervals, as :func:`limelight.bandits.ips` with ``n_bootstrap=0`` computes them) depend on the
log only through a few sums per action: a log of any size reduces to ``n_actions`` rows (the
event log's analyses compute them in SQL). Pure: arrays in, an :class:`Estimate` out.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

from limelight.bandits._ope import Estimate
from limelight.core.errors import InvalidInputError

__all__ = ["ChoiceSums", "estimate_from_sums"]


@dataclass(frozen=True)
class ChoiceSums:
    """Per logged action: rounds, and sums of r/p, 1/p, r²/p², r/p², 1/p² and the largest 1/p."""

    n: NDArray[np.float64]
    r_p: NDArray[np.float64]
    w_p: NDArray[np.float64]
    rr_pp: NDArray[np.float64]
    r_pp: NDArray[np.float64]
    w_pp: NDArray[np.float64]
    max_inv_p: NDArray[np.float64]


def estimate_from_sums(
    estimator: str, sums: ChoiceSums, target: ArrayLike, *, level: float = 0.95
) -> Estimate:
    """``ips`` or ``snips`` of the target policy ``target`` (one probability per action)."""
    if estimator not in ("ips", "snips"):
        raise InvalidInputError(f"estimator must be 'ips' or 'snips', got {estimator!r}")
    if not 0 < level < 1:
        raise InvalidInputError(f"level must be in (0, 1), e.g. 0.95; got {level!r}")
    pi = np.asarray(target, dtype=np.float64)
    if pi.shape != sums.n.shape:
        raise InvalidInputError(
            f"target gives {pi.size} probabilities for {sums.n.size} logged actions"
        )
    if np.any(pi < 0) or not np.isclose(pi.sum(), 1.0, atol=1e-6):
        raise InvalidInputError("target must hold probabilities: non-negative, summing to 1")
    n = float(sums.n.sum())
    if n < 1:
        raise InvalidInputError("no logged rounds to evaluate on")
    num = float(pi @ sums.r_p)  # sum of w r
    den = float(pi @ sums.w_p)  # sum of w
    sq_num = float(pi**2 @ sums.rr_pp)  # sum of (w r)^2
    sq_w = float(pi**2 @ sums.w_pp)  # sum of w^2
    if estimator == "ips":
        value = num / n
        ss = sq_num - n * value * value  # sum of (w r - value)^2
    else:
        if den <= 0:
            raise InvalidInputError(
                "snips is undefined: the target policy gives zero probability to every logged "
                "action (all importance weights are 0); use ips"
            )
        value = num / den
        cross = float(pi**2 @ sums.r_pp)  # sum of w^2 r
        ss = (sq_num - 2 * value * cross + value * value * sq_w) / (den / n) ** 2
    se = float(np.sqrt(max(ss, 0.0) / (n - 1) / n)) if n > 1 else float("nan")
    z = NormalDist().inv_cdf(1 - (1.0 - level) / 2)
    logged = sums.n > 0
    return Estimate(
        estimator=estimator,
        value=float(value),
        lower=float(value - z * se),
        upper=float(value + z * se),
        level=level,
        std_error=se,
        n_rounds=int(n),
        ess=float(den * den / sq_w) if sq_w > 0 else n,
        max_weight=float((pi * sums.max_inv_p)[logged].max()) if logged.any() else 0.0,
        clipped_fraction=0.0,
        n_bootstrap=0,
    )
