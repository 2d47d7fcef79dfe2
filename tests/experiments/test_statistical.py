"""Statistical claims checked statistically, on a small synthetic simulator with a known effect.

Per-user plays are Poisson with a Gamma-distributed appetite (mean 1, heavy-tailed), users
arrive every day, and the treatment multiplies appetite by ``1 + effect``, so the true
difference in plays per user is ``effect``. Thousands of experiments are simulated at once
as arrays (experiments x days x users) and analysed with one vectorised call.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from limelight.experiments import (
    allocate_many,
    cuped,
    ratio_metric,
    sequential_from_stats,
    srm_check,
    welch_from_stats,
)

N_EXPERIMENTS = 2000
DAYS = 28
USERS_PER_DAY = 40  # per arm


def cumulative_arm(rng: np.random.Generator, effect: float) -> tuple[np.ndarray, ...]:
    """Cumulative n, mean and variance of plays per user at the end of each day."""
    appetite = rng.gamma(0.5, 2.0, size=(N_EXPERIMENTS, DAYS, USERS_PER_DAY)) * (1 + effect)
    plays = rng.poisson(appetite).astype(np.float64)
    total = plays.sum(axis=2).cumsum(axis=1)
    squares = (plays**2).sum(axis=2).cumsum(axis=1)
    n = USERS_PER_DAY * np.arange(1, DAYS + 1, dtype=np.float64)
    return n, total / n, (squares - total**2 / n) / (n - 1)


@functools.cache
def simulate(effect: float) -> tuple[np.ndarray, ...]:
    """Control and treatment summaries (n, mean, variance) per experiment and day."""
    rng = np.random.default_rng(2026 + int(effect * 100))
    n, mean_c, var_c = cumulative_arm(rng, 0.0)
    _, mean_t, var_t = cumulative_arm(rng, effect)
    return n, mean_c, var_c, n, mean_t, var_t


@pytest.fixture(params=[0.0, 0.1], ids=["A/A", "A/B"])
def simulated(request: pytest.FixtureRequest) -> tuple[float, tuple[np.ndarray, ...]]:
    return float(request.param), simulate(float(request.param))


def covers(low: np.ndarray, high: np.ndarray, truth: float) -> np.ndarray:
    return (low <= truth) & (truth <= high)


def test_fixed_horizon_95_intervals_cover_the_truth_95_percent(simulated: tuple) -> None:
    effect, arms = simulated
    est = welch_from_stats(*arms)
    coverage = covers(est.ci_low[:, -1], est.ci_high[:, -1], effect).mean()
    assert 0.93 <= coverage <= 0.97


def test_confidence_sequences_cover_the_truth_at_every_daily_look(simulated: tuple) -> None:
    # Anytime-valid: the truth stays inside on *all* 28 looks in >= 95% of experiments. With
    # a finite number of looks the bound is conservative (about 99% here), not 95% exactly.
    effect, arms = simulated
    seq = sequential_from_stats(*arms, planned_n=2 * DAYS * USERS_PER_DAY)
    always = covers(seq.ci_low, seq.ci_high, effect).all(axis=1).mean()
    assert 0.95 <= always <= 0.995
    fixed = welch_from_stats(*arms)
    naive_always = covers(fixed.ci_low, fixed.ci_high, effect).all(axis=1).mean()
    assert naive_always < 0.9  # fixed intervals read daily miss the truth far more often


def test_daily_peeking_is_safe_with_sequential_tests_and_not_with_t_tests() -> None:
    arms = simulate(0.0)
    seq = sequential_from_stats(*arms, planned_n=2 * DAYS * USERS_PER_DAY)
    fixed = welch_from_stats(*arms)
    sequential_fpr = (seq.p_value < 0.05).any(axis=1).mean()
    naive_fpr = (fixed.p_value < 0.05).any(axis=1).mean()
    final_fpr = (fixed.p_value[:, -1] < 0.05).mean()
    assert sequential_fpr <= 0.05
    assert naive_fpr > 0.10  # about 0.28: peeking 28 times inflates the 5% error
    assert 0.03 <= final_fpr <= 0.07  # one look at the end is fine


def test_sequential_tests_still_find_a_clear_effect() -> None:
    rng = np.random.default_rng(99)
    n, mean_c, var_c = cumulative_arm(rng, 0.0)
    _, mean_t, var_t = cumulative_arm(rng, 0.3)  # about 4 standard errors at the end
    seq = sequential_from_stats(
        n, mean_c, var_c, n, mean_t, var_t, planned_n=2 * DAYS * USERS_PER_DAY
    )
    fixed = welch_from_stats(n, mean_c, var_c, n, mean_t, var_t)
    fixed_power = (fixed.p_value[:, -1] < 0.05).mean()
    sequential_power = (seq.p_value < 0.05).any(axis=1).mean()
    assert fixed_power > 0.95
    assert 0.7 < sequential_power <= fixed_power  # the price of safe peeking: some power


def test_cuped_cuts_variance_by_one_minus_rho_squared() -> None:
    rng = np.random.default_rng(7)
    rho, n, sims, effect = 0.7, 400, 2000, 0.05
    plain, adjusted, ratios = np.empty(sims), np.empty(sims), np.empty(sims)
    x = rng.standard_normal((sims, 2, n))
    noise = rng.standard_normal((sims, 2, n))
    y = rho * x + np.sqrt(1 - rho**2) * noise
    y[:, 1] += effect
    for i in range(sims):
        est = cuped(y[i, 0], x[i, 0], y[i, 1], x[i, 1])
        adjusted[i] = est.diff
        plain[i] = y[i, 1].mean() - y[i, 0].mean()
        ratios[i] = est.se**2 / (y[i, 0].var(ddof=1) / n + y[i, 1].var(ddof=1) / n)
    expected = 1 - rho**2
    assert np.var(adjusted) / np.var(plain) == pytest.approx(expected, rel=0.1)
    assert ratios.mean() == pytest.approx(expected, rel=0.03)
    assert abs(adjusted.mean() - effect) < 3 * adjusted.std() / np.sqrt(sims)


def test_delta_method_ratio_intervals_cover_the_true_ratio_difference() -> None:
    rng = np.random.default_rng(8)
    sims, n = 2000, 300
    p_c, p_t = 0.20, 0.22
    hits = 0
    for _ in range(sims):
        imp = rng.poisson(rng.gamma(2.0, 3.0, (2, n))) + 1
        plays = rng.binomial(imp, [[p_c], [p_t]])
        est = ratio_metric(plays[0], imp[0], plays[1], imp[1])
        hits += est.ci_low <= p_t - p_c <= est.ci_high
    assert 0.93 <= hits / sims <= 0.97


def test_srm_stays_silent_on_a_fair_hash_split_of_a_million_users() -> None:
    arms = allocate_many([f"m{i}" for i in range(1_000_000)], "srm-check", [0.5, 0.5])
    assert not srm_check(np.bincount(arms, minlength=2), [0.5, 0.5]).flagged
