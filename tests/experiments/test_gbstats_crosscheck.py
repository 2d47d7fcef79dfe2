"""Cross-check against an independent engine: GrowthBook's gbstats, in its own environment.

gbstats takes per-arm sums (n, sum, sum of squares, sum of products) and reports a Welch t
test whose difference is relative by default (``(mean_b - mean_a) / mean_a`` with a delta-method
variance); with ``difference_type="absolute"`` it reports ``mean_b - mean_a``. Our estimates
carry both (``diff`` and ``lift``), so we compare each with the matching gbstats mode. For
CUPED both fit one slope on the arms pooled; gbstats reports the adjusted mean without
centring the covariate, which changes the arm means but not their difference, so we compare
the difference, its interval and p-value. gbstats' sequential test uses the same Gaussian
mixture as ours with ``sequential_tuning_parameter`` = our ``planned_n``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests._peers import PEER_INSTALL_TIMEOUT

from limelight.experiments import (
    Estimate,
    cuped,
    diff_in_means,
    mean_moments,
    ratio_metric,
    sequential_from_stats,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PEER_INSTALL_TIMEOUT)]

GBSTATS = ["gbstats==0.8.0"]

PEER_SCRIPT = r"""
import json, sys
from gbstats.frequentist.tests import (FrequentistConfig, SequentialConfig,
    SequentialTwoSidedTTest, TwoSidedTTest)
from gbstats.models.statistics import (RatioStatistic, RegressionAdjustedStatistic,
    SampleMeanStatistic)

data = json.loads(sys.argv[1])

def mean_stat(a):
    return SampleMeanStatistic(n=a["n"], sum=a["sum_y"], sum_squares=a["ssq_y"])

def cuped_stat(a):
    pre = SampleMeanStatistic(n=a["n"], sum=a["sum_x"], sum_squares=a["ssq_x"])
    return RegressionAdjustedStatistic(n=a["n"], post_statistic=mean_stat(a),
        pre_statistic=pre, post_pre_sum_of_products=a["sum_xy"], theta=0)

def ratio_stat(a):
    den = SampleMeanStatistic(n=a["n"], sum=a["sum_x"], sum_squares=a["ssq_x"])
    return RatioStatistic(n=a["n"], m_statistic=mean_stat(a), d_statistic=den,
        m_d_sum_of_products=a["sum_xy"])

out = {}
for kind, make in (("mean", mean_stat), ("cuped", cuped_stat), ("ratio", ratio_stat)):
    for diff in ("absolute", "relative"):
        res = TwoSidedTTest(make(data["a"]), make(data["b"]),
                            FrequentistConfig(difference_type=diff)).compute_result()
        out[f"{kind}/{diff}"] = [res.expected, res.ci[0], res.ci[1], res.p_value]
        seq = SequentialTwoSidedTTest(make(data["a"]), make(data["b"]), SequentialConfig(
            difference_type=diff, sequential_tuning_parameter=data["planned_n"])
        ).compute_result()
        out[f"sequential/{kind}/{diff}"] = [seq.expected, seq.ci[0], seq.ci[1], seq.p_value]
print(json.dumps(out))
"""


def sums(y: np.ndarray, x: np.ndarray) -> dict[str, float]:
    return {
        "n": int(y.size),
        "sum_y": float(y.sum()),
        "ssq_y": float((y**2).sum()),
        "sum_x": float(x.sum()),
        "ssq_x": float((x**2).sum()),
        "sum_xy": float((x * y).sum()),
    }


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    x_a, x_b = (
        rng.poisson(rng.gamma(2.0, 2.0, 3000)) + 1.0,
        rng.poisson(rng.gamma(2.0, 2.0, 2500)) + 1.0,
    )
    y_a = rng.poisson(0.8 * x_a).astype(float)
    y_b = rng.poisson(0.9 * x_b).astype(float)
    return {"x_a": x_a, "y_a": y_a, "x_b": x_b, "y_b": y_b}


@pytest.fixture(scope="module")
def gbstats(data: dict[str, np.ndarray]) -> dict[str, list[float]]:
    from benchmarks.peers import peer_python, run_in_peer

    payload = {
        "a": sums(data["y_a"], data["x_a"]),
        "b": sums(data["y_b"], data["x_b"]),
        "planned_n": 8000,
    }
    out = run_in_peer(peer_python("gbstats", GBSTATS), PEER_SCRIPT, json.dumps(payload))
    result: dict[str, list[float]] = json.loads(out)
    return result


def check(ours: Estimate, peer: dict[str, list[float]], key: str) -> None:
    absolute = peer[f"{key}/absolute"]
    relative = peer[f"{key}/relative"]
    assert [ours.diff, ours.ci_low, ours.ci_high, ours.p_value] == pytest.approx(
        absolute, rel=1e-6, abs=1e-9
    )
    assert [ours.lift, ours.lift_ci_low, ours.lift_ci_high] == pytest.approx(
        relative[:3], rel=1e-6, abs=1e-9
    )


def test_difference_in_means_matches_gbstats(data: dict, gbstats: dict) -> None:
    check(diff_in_means(data["y_a"], data["y_b"]), gbstats, "mean")


def test_cuped_matches_gbstats(data: dict, gbstats: dict) -> None:
    ours = cuped(data["y_a"], data["x_a"], data["y_b"], data["x_b"])
    check(ours, gbstats, "cuped")
    assert ours.se < diff_in_means(data["y_a"], data["y_b"]).se


def test_ratio_metric_matches_gbstats(data: dict, gbstats: dict) -> None:
    check(ratio_metric(data["y_a"], data["x_a"], data["y_b"], data["x_b"]), gbstats, "ratio")


def test_sequential_interval_matches_gbstats(data: dict, gbstats: dict) -> None:
    a, b = mean_moments(data["y_a"]), mean_moments(data["y_b"])
    ours = sequential_from_stats(a.n, a.mean, a.var, b.n, b.mean, b.var, planned_n=8000).item()
    absolute = gbstats["sequential/mean/absolute"]
    assert [ours.diff, ours.ci_low, ours.ci_high, ours.p_value] == pytest.approx(
        absolute, rel=1e-6, abs=1e-9
    )
    relative = gbstats["sequential/mean/relative"]
    assert [ours.lift, ours.lift_ci_low, ours.lift_ci_high] == pytest.approx(
        relative[:3], rel=1e-6, abs=1e-9
    )
