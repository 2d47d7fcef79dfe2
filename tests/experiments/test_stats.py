"""Fixed-horizon statistics on tiny data with known answers, and their bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from limelight.core.errors import InvalidInputError
from limelight.experiments import (
    benjamini_hochberg,
    cuped,
    diff_in_means,
    holm,
    ratio_metric,
    srm_check,
    welch_from_stats,
)


def test_diff_in_means_matches_welchs_t_test() -> None:
    control = np.array([1.0, 2.0, 3.0, 4.0, 7.0])
    treatment = np.array([2.0, 3.0, 5.0, 9.0])
    est = diff_in_means(control, treatment)
    ref = stats.ttest_ind(treatment, control, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert est.diff == pytest.approx(4.75 - 3.4)
    assert est.p_value == pytest.approx(ref.pvalue)
    assert (est.ci_low, est.ci_high) == pytest.approx((ci.low, ci.high))
    assert est.df == pytest.approx(ref.df)
    assert est.lift == pytest.approx((4.75 - 3.4) / 3.4)
    assert est.method == "welch" and est.note == ""


def test_welch_from_stats_broadcasts_over_experiments() -> None:
    est = welch_from_stats([10, 20], [1.0, 1.0], [1.0, 4.0], [10, 20], [1.5, 1.0], [1.0, 4.0])
    assert est.diff.tolist() == [0.5, 0.0]
    assert est.se.tolist() == pytest.approx([np.sqrt(0.2), np.sqrt(0.4)])
    assert est.item(1).p_value == pytest.approx(1.0)


def test_ratio_metric_uses_the_linearised_variance() -> None:
    rng = np.random.default_rng(3)
    imp_c, imp_t = rng.poisson(5, 400) + 1.0, rng.poisson(5, 500) + 1.0
    plays_c, plays_t = (
        rng.binomial(imp_c.astype(int), 0.2) * 1.0,
        rng.binomial(imp_t.astype(int), 0.25) * 1.0,
    )
    est = ratio_metric(plays_c, imp_c, plays_t, imp_t)
    r_c, r_t = plays_c.sum() / imp_c.sum(), plays_t.sum() / imp_t.sum()
    assert est.diff == pytest.approx(r_t - r_c)
    # delta method == variance of the linearised per-user residual (y - r * d) / mean(d)
    var_c = np.var((plays_c - r_c * imp_c) / imp_c.mean(), ddof=1) / 400
    var_t = np.var((plays_t - r_t * imp_t) / imp_t.mean(), ddof=1) / 500
    assert est.se == pytest.approx(np.sqrt(var_c + var_t))
    assert est.method == "delta"


def test_ratio_metric_with_no_denominator_says_so() -> None:
    with pytest.raises(InvalidInputError, match="denominator sums to zero"):
        ratio_metric([0.0, 0.0], [0.0, 0.0], [1.0, 2.0], [3.0, 4.0])


def test_cuped_with_a_constant_covariate_is_the_plain_difference() -> None:
    y_c, y_t = np.array([1.0, 2.0, 4.0]), np.array([2.0, 5.0, 6.0, 1.0])
    plain = diff_in_means(y_c, y_t)
    adjusted = cuped(y_c, np.ones(3), y_t, np.ones(4))
    assert adjusted.diff == pytest.approx(plain.diff)
    assert adjusted.se == pytest.approx(plain.se)


def test_cuped_removes_the_part_explained_by_the_covariate() -> None:
    x_c, x_t = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 5.0])
    y_c, y_t = (
        2 * x_c + np.array([0.1, -0.1, 0.1, -0.1]),
        2 * x_t + 1 + np.array([0.1, -0.1, 0.1, -0.1]),
    )
    est = cuped(y_c, x_c, y_t, x_t)
    assert est.diff == pytest.approx(1.0, abs=0.15)
    assert est.se < 0.2 * diff_in_means(y_c, y_t).se
    assert est.lift == pytest.approx(est.diff / y_c.mean())


def test_a_metric_with_zero_variance_gives_a_clear_result_not_a_crash() -> None:
    est = diff_in_means([1.0, 1.0, 1.0], [1.0, 1.0])
    assert est.diff == 0.0 and est.se == 0.0
    assert (est.ci_low, est.ci_high) == (0.0, 0.0)
    assert np.isnan(est.p_value) and not est.significant
    assert "zero variance" in est.note


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: diff_in_means([1.0], [1.0, 2.0]), "at least 2 users"),
        (lambda: diff_in_means([1.0, np.nan], [1.0, 2.0]), "NaN"),
        (lambda: diff_in_means([[1.0, 2.0]], [1.0, 2.0]), "1-D"),
        (lambda: diff_in_means([1.0, 2.0], [1.0, 2.0], alpha=1.5), "alpha"),
        (lambda: cuped([1.0, 2.0, 3.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0]), "parallel"),
        (lambda: ratio_metric([1.0, 2.0], [1.0, 2.0, 3.0], [1.0, 2.0], [1.0, 2.0]), "parallel"),
    ],
)
def test_bad_arrays_are_rejected(call: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        call()  # type: ignore[operator]


def test_srm_fires_on_a_505_495_split_of_a_million_and_not_on_a_fair_one() -> None:
    assert srm_check([505_000, 495_000], [0.5, 0.5]).flagged
    rng = np.random.default_rng(11)
    fair = [rng.binomial(1_000_000, 0.5) for _ in range(20)]
    assert not any(srm_check([k, 1_000_000 - k], [0.5, 0.5]).flagged for k in fair)


def test_srm_is_a_chi_square_against_the_configured_shares() -> None:
    res = srm_check([30, 70], [0.25, 0.75])
    assert res.chi2 == pytest.approx(5**2 / 25 + 5**2 / 75)
    assert res.p_value == pytest.approx(stats.chi2.sf(res.chi2, 1))
    assert not res.flagged


@pytest.mark.parametrize(
    ("counts", "shares", "message"),
    [
        ([0, 0], [0.5, 0.5], "no users"),
        ([1, 2, 3], [0.5, 0.5], "parallel"),
        ([1, 2], [0.7, 0.7], "summing to 1"),
    ],
)
def test_srm_bad_input(counts: list[int], shares: list[float], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        srm_check(counts, shares)


def test_holm_and_benjamini_hochberg_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert holm(p).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert benjamini_hochberg(p).tolist() == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg(p).tolist() == pytest.approx(stats.false_discovery_control(p))
    with_nan = holm([0.01, np.nan, 0.02])
    assert np.isnan(with_nan[1]) and with_nan[[0, 2]].tolist() == pytest.approx([0.02, 0.02])


def test_corrections_reject_p_values_outside_zero_one() -> None:
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        holm([0.5, 1.5])
