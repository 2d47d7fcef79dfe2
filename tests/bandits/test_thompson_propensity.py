"""Thompson sampling estimates its propensities by sampling; the error of that estimate is
bounded by the binomial standard error sqrt(p (1 - p) / n_samples) against the exact value."""

import numpy as np
import pytest
from scipy import integrate, stats

from limelight.bandits import BetaThompsonSampling, LinearThompsonSampling

N_SAMPLES = 1000
REPEATS = 200


def exact_win_probabilities(dists: list) -> np.ndarray:
    """P(draw of arm a is the largest) = integral of f_a(t) * prod_b F_b(t) dt."""
    out = []
    for a, da in enumerate(dists):
        others = [d for b, d in enumerate(dists) if b != a]
        lo, hi = da.ppf(1e-12), da.ppf(1 - 1e-12)

        def density(t: float, da: object = da, others: list = others) -> float:
            return float(da.pdf(t) * np.prod([d.cdf(t) for d in others]))  # type: ignore

        value, _ = integrate.quad(density, lo, hi, limit=200)
        out.append(value)
    return np.array(out)


def check_error_bound(estimates: np.ndarray, exact: np.ndarray, antithetic: bool) -> None:
    assert exact.sum() == pytest.approx(1.0, abs=1e-6)
    se = np.sqrt(exact * (1 - exact) / N_SAMPLES)
    errors = estimates - exact
    # Every single estimate lies within 5 standard errors...
    assert np.all(np.abs(errors) <= 5 * se + 1e-12)
    # ...the estimates are unbiased (mean error within 4 standard errors of the mean)...
    assert np.all(np.abs(errors.mean(axis=0)) <= 4 * se / np.sqrt(REPEATS) + 1e-12)
    # ...and their spread is the binomial one (at most that, with antithetic draws).
    spread = errors.std(axis=0)
    if antithetic:
        assert np.all(spread <= 1.2 * se) and np.all(spread > 0)
    else:
        np.testing.assert_allclose(spread, se, rtol=0.2)


def test_beta_thompson_propensity_error_is_bounded() -> None:
    alpha, beta = np.array([12.0, 9.0, 4.0]), np.array([30.0, 25.0, 9.0])
    policy = BetaThompsonSampling(
        n_actions=3, alpha=alpha, beta=beta, n_samples=N_SAMPLES, random_state=0
    )
    exact = exact_win_probabilities([stats.beta(a, b) for a, b in zip(alpha, beta, strict=True)])
    estimates = np.array([policy.action_probabilities(None) for _ in range(REPEATS)])
    check_error_bound(estimates, exact, antithetic=False)


def test_linear_thompson_propensity_error_is_bounded() -> None:
    policy = LinearThompsonSampling(
        n_actions=3, n_features=2, v=0.5, n_samples=N_SAMPLES, random_state=1
    )
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 2))
    policy.update_many(x, rng.integers(0, 3, 40), rng.normal(size=40))
    context = np.array([0.3, -0.8])
    mean = policy.theta_ @ context
    sd = 0.5 * np.sqrt(np.einsum("d,kde,e->k", context, policy.A_inv_, context))
    exact = exact_win_probabilities([stats.norm(m, s) for m, s in zip(mean, sd, strict=True)])
    estimates = np.array([policy.action_probabilities(context) for _ in range(REPEATS)])
    check_error_bound(estimates, exact, antithetic=True)


def test_rank_probabilities_of_a_slate() -> None:
    policy = BetaThompsonSampling(
        n_actions=4, alpha=[50.0, 1.0, 1.0, 1.0], beta=[1.0, 50.0, 50.0, 50.0], random_state=0
    )
    ranks = policy.rank_probabilities(len_list=2, n_samples=5000)
    assert ranks.shape == (4, 2)
    np.testing.assert_allclose(ranks.sum(axis=0), 1.0)
    assert ranks[0, 0] == pytest.approx(1.0)  # the clear winner always leads
    np.testing.assert_allclose(ranks[1:, 1], 1 / 3, atol=0.03)  # the rest share second place


def test_single_choices_follow_the_logged_propensities() -> None:
    policy = LinearThompsonSampling(n_actions=3, n_features=2, v=0.5, random_state=3)
    policy.update_many(np.eye(2)[[0, 1, 0, 1]], np.array([0, 1, 2, 2]), np.ones(4))
    context = np.array([0.6, 0.4])
    exact = policy.action_probabilities(context)
    picks = [policy.choose(context) for _ in range(3000)]
    freq = np.bincount([c for c, _ in picks], minlength=3) / len(picks)
    np.testing.assert_allclose(freq, exact, atol=0.06)  # 256-draw estimates, then a choice
    for choice, propensity in picks[:50]:
        assert 0 < propensity <= 1 and propensity == pytest.approx(exact[choice], abs=0.15)


def test_rank_probabilities_rejects_a_slate_longer_than_the_action_set() -> None:
    from limelight.core.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"len_list must be in 1\.\.3"):
        BetaThompsonSampling(n_actions=3).rank_probabilities(len_list=4)
    with pytest.raises(InvalidInputError, match="n_samples must be at least 1"):
        BetaThompsonSampling(n_actions=3).rank_probabilities(len_list=2, n_samples=0)
