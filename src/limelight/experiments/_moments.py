"""An experiment's read-out from per-variant moments: what the per-user arrays reduce to.

Every estimate of the analysis (Welch, the delta method, CUPED with one slope fitted on both
arms, the sample-ratio check) depends on the per-user metric columns only through, per variant,
the number of users, each column's mean, min and max, and the covariance of each pair of
columns. Those can be computed where the users are (in SQL, over a log larger than memory); the
pooled moments CUPED needs come from the two arms' by the parallel (Chan et al.) formula. Pure:
numbers in, the same :class:`ArmMoments` the array path computes out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from limelight.core.errors import InvalidInputError
from limelight.experiments.metrics import MetricDef
from limelight.experiments.stats import ArmMoments

__all__ = ["COLUMNS", "VariantMoments"]

COLUMNS = ("impressions", "plays", "play_value", "pre_plays", "pre_play_value")


def _key(a: str, b: str) -> str:
    return "*".join(sorted((a, b)))


@dataclass(frozen=True)
class VariantMoments:
    """Per variant (index 0 the control): users, and per metric column its mean, min, max and
    its (ddof=1) covariance with every column (``cov["plays*pre_plays"]``, ``cov["plays*plays"]``
    the variance); arrays of one entry per variant."""

    n: NDArray[np.float64]
    mean: dict[str, NDArray[np.float64]]
    low: dict[str, NDArray[np.float64]]
    high: dict[str, NDArray[np.float64]]
    cov: dict[str, NDArray[np.float64]]

    def counts(self, n_variants: int) -> NDArray[np.int64]:
        return np.round(self.n[:n_variants]).astype(np.int64)

    def _c(self, a: str, b: str, v: int) -> float:
        return float(self.cov[_key(a, b)][v])

    def _enough(self, v: int, what: str) -> None:
        if self.n[v] < 2:
            raise InvalidInputError(
                f"{what} has {int(self.n[v])} user(s): each arm needs at least 2 users for a "
                "variance"
            )

    def arm_moments(
        self, metric: MetricDef, control: int, treatment: int, use_cuped: bool
    ) -> tuple[ArmMoments, ArmMoments, str]:
        """The two arms' moments of ``metric`` and the method, as ``analysis._arm_moments``."""
        y = metric.numerator
        arms = ((control, "control"), (treatment, "treatment"))
        if metric.denominator is not None:
            d = metric.denominator
            out = []
            for v, arm in arms:
                self._enough(v, f"{arm} numerator")
                mean_d = float(self.mean[d][v])
                if mean_d == 0:
                    raise InvalidInputError(
                        f"the {arm} denominator sums to zero: a ratio metric needs some "
                        "denominator (e.g. impressions) in each arm"
                    )
                ratio = float(self.mean[y][v]) / mean_d
                var = (
                    self._c(y, y, v) - 2 * ratio * self._c(y, d, v) + ratio**2 * self._c(d, d, v)
                ) / mean_d**2
                out.append(ArmMoments(float(self.n[v]), ratio, max(float(var), 0.0), ratio))
            return out[0], out[1], "delta"
        if use_cuped and metric.covariate is not None:
            x = metric.covariate
            both = [v for v, _ in arms if self.n[v] > 0]
            spread = max(self.high[x][v] for v in both) - min(self.low[x][v] for v in both)
            if spread > 0:
                for v, arm in arms:
                    self._enough(v, f"{arm} metric")
                return (*self._cuped(y, x, control, treatment), "cuped")
        for v, arm in arms:
            self._enough(v, arm)
        mc, mt = (self._plain(y, v) for v, _ in arms)
        return mc, mt, "welch"

    def _plain(self, y: str, v: int) -> ArmMoments:
        mean = float(self.mean[y][v])
        return ArmMoments(float(self.n[v]), mean, self._c(y, y, v), mean)

    def _cuped(self, y: str, x: str, c: int, t: int) -> tuple[ArmMoments, ArmMoments]:
        n_c, n_t = float(self.n[c]), float(self.n[t])
        total = n_c + n_t
        mx_c, mx_t = float(self.mean[x][c]), float(self.mean[x][t])
        my_c, my_t = float(self.mean[y][c]), float(self.mean[y][t])
        share = n_c * n_t / total
        # pooled co-moments of both arms together
        sxx = (
            self._c(x, x, c) * (n_c - 1) + self._c(x, x, t) * (n_t - 1) + (mx_c - mx_t) ** 2 * share
        )
        sxy = (
            self._c(x, y, c) * (n_c - 1)
            + self._c(x, y, t) * (n_t - 1)
            + (mx_c - mx_t) * (my_c - my_t) * share
        )
        var_x = sxx / (total - 1)
        theta = 0.0 if var_x == 0 else (sxy / (total - 1)) / var_x
        x_bar = (n_c * mx_c + n_t * mx_t) / total

        def arm(v: int) -> ArmMoments:
            my, mx = float(self.mean[y][v]), float(self.mean[x][v])
            var = self._c(y, y, v) - 2 * theta * self._c(x, y, v) + theta**2 * self._c(x, x, v)
            return ArmMoments(float(self.n[v]), my - theta * (mx - x_bar), max(var, 0.0), my)

        return arm(c), arm(t)
