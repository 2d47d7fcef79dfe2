"""One conformance suite over every policy: the contract, saving and loading, bad input."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import pytest

from limelight.bandits import (
    BanditLog,
    BetaThompsonSampling,
    EpsilonGreedy,
    LinearThompsonSampling,
    LinUCB,
    Policy,
    RewardModelPolicy,
    UniformRandom,
    policy_from_state,
)
from limelight.core.errors import InvalidInputError

K, D = 4, 3
FACTORIES: dict[str, Callable[..., Policy]] = {
    "uniform": lambda **kw: UniformRandom(n_actions=K, **kw),
    "epsilon_greedy": lambda **kw: EpsilonGreedy(n_actions=K, epsilon=0.2, **kw),
    "beta_ts": lambda **kw: BetaThompsonSampling(n_actions=K, n_samples=200, **kw),
    "linucb": lambda **kw: LinUCB(n_actions=K, n_features=D, alpha=0.5, **kw),
    "lin_ts": lambda **kw: LinearThompsonSampling(n_actions=K, n_features=D, n_samples=200, **kw),
    "reward_model": lambda **kw: RewardModelPolicy(
        n_actions=K, n_features=D, temperature=0.1, epsilon=0.1, **kw
    ),
}
CONTEXT = np.array([0.5, -1.0, 2.0])


def trained(name: str, seed: int = 7) -> Policy:
    """A policy after 200 rounds of feedback, so its probabilities are not uniform."""
    policy = FACTORIES[name](random_state=seed)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, D))
    actions = rng.integers(0, K, 200)
    rewards = (rng.random(200) < 0.2 + 0.2 * (actions == 2)).astype(float)
    policy.update_many(x, actions, rewards)
    return policy


@pytest.fixture(params=sorted(FACTORIES))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_init_only_stores_keyword_parameters(name: str) -> None:
    policy = FACTORIES[name]()
    assert not [a for a in vars(policy) if a.endswith("_")], "fitted state created in __init__"
    params = inspect.signature(type(policy).__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for n, p in params.items() if n != "self")
    assert set(policy.get_params()) <= set(params)
    assert type(policy).__name__ in repr(policy)


def test_choose_returns_a_candidate_and_its_probability(name: str) -> None:
    policy = trained(name)
    probs = policy.action_probabilities(CONTEXT)
    assert probs.shape == (K,) and probs.sum() == pytest.approx(1.0) and np.all(probs >= 0)
    candidates = np.array([1, 3])
    masked = policy.action_probabilities(CONTEXT, candidates)
    assert masked[[0, 2]].sum() == 0.0 and masked.sum() == pytest.approx(1.0)
    for _ in range(20):
        choice, propensity = policy.choose(CONTEXT, candidates)
        assert choice in (1, 3) and 0 < propensity <= 1


def test_propensities_are_the_frequencies_of_the_choices(name: str) -> None:
    policy = trained(name)
    n = 4000
    x = np.tile(CONTEXT, (n, 1))
    expected = policy.action_probabilities(x)
    choices, propensities = policy.choose_many(x)
    assert choices.shape == (n,) and propensities.shape == (n,)
    assert np.all(propensities > 0)
    if name not in ("beta_ts", "lin_ts"):  # deterministic probabilities: logged exactly
        np.testing.assert_allclose(propensities, expected[np.arange(n), choices])
    freq = np.bincount(choices, minlength=K) / n
    p = expected.mean(axis=0)
    se = np.sqrt(p * (1 - p) / n) + 1e-12
    # Thompson policies re-estimate their probabilities (error ~ 0.035 at 200 samples).
    assert np.all(np.abs(freq - p) <= 5 * se + 0.07 * (name in ("beta_ts", "lin_ts")))


def test_same_seed_same_choices(name: str) -> None:
    x = np.random.default_rng(3).normal(size=(50, D))
    a = trained(name, seed=11).choose_many(x)
    b = trained(name, seed=11).choose_many(x)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_state_round_trip_without_pickle(name: str) -> None:
    policy = trained(name)
    state = policy.get_state()
    for key, value in state.items():
        assert isinstance(value, np.ndarray | int | float | str), (key, type(value))
        if isinstance(value, np.ndarray):
            assert value.dtype != object, key
    loaded = policy_from_state(state)
    assert type(loaded) is type(policy)
    assert type(policy).from_state(state).get_params().keys() == policy.get_params().keys()
    x = np.random.default_rng(4).normal(size=(30, D))
    np.testing.assert_array_equal(policy.choose_many(x)[0], loaded.choose_many(x)[0])
    np.testing.assert_allclose(
        policy.action_probabilities(x[:3]), loaded.action_probabilities(x[:3])
    )  # same random stream too
    policy.update(CONTEXT, 1, 1.0)
    loaded.update(CONTEXT, 1, 1.0)
    assert policy.choose(CONTEXT) == loaded.choose(CONTEXT)


def test_fit_learns_from_a_log_and_returns_self(name: str) -> None:
    rng = np.random.default_rng(5)
    n = 400
    log = BanditLog(
        context=rng.normal(size=(n, D)),
        action=rng.integers(0, K, n),
        reward=(rng.random(n) < 0.5).astype(float),
        pscore=np.full(n, 1 / K),
        n_actions=K,
    )
    policy = FACTORIES[name](random_state=0)
    assert policy.fit(log) is policy
    assert policy.n_updates_ == n
    refit = FACTORIES[name](random_state=0).fit(log)
    np.testing.assert_array_equal(
        policy.choose_many(log.context[:20])[0], refit.choose_many(log.context[:20])[0]
    )


def test_single_and_batch_updates_agree(name: str) -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(30, D))
    a = rng.integers(0, K, 30)
    r = rng.random(30)
    one, many = FACTORIES[name](), FACTORIES[name]()
    for i in range(30):
        one.update(x[i], int(a[i]), float(r[i]))
    many.update_many(x, a, r)
    s1, s2 = one.get_state(), many.get_state()
    for key in type(one)._state_arrays:
        np.testing.assert_allclose(s1[key], s2[key], rtol=1e-9, atol=1e-12)


def test_bad_input_is_a_clear_error(name: str) -> None:
    policy = trained(name)
    with pytest.raises(InvalidInputError, match=r"unknown action 9: this policy's actions are 0"):
        policy.choose(CONTEXT, candidates=[0, 9])
    with pytest.raises(InvalidInputError, match="unknown action 7"):
        policy.update(CONTEXT, 7, 1.0)
    with pytest.raises(InvalidInputError, match="rewards must be finite"):
        policy.update(CONTEXT, 1, float("nan"))
    with pytest.raises(InvalidInputError, match="non-empty"):
        policy.choose(CONTEXT, candidates=[])
    with pytest.raises(InvalidInputError, match="at least one candidate"):
        policy.choose_many(np.zeros((2, D)), candidates=np.zeros((2, K), dtype=bool))
    other = BanditLog(
        context=np.zeros((3, D)),
        action=[0, 1, 5],
        reward=[0.0, 1.0, 0.0],
        pscore=[1 / 6] * 3,
        n_actions=6,
    )
    with pytest.raises(InvalidInputError, match=r"6 actions .* the action sets differ"):
        policy.fit(other)
    with pytest.raises(TypeError):
        type(policy)(K)  # type: ignore[misc]


@pytest.mark.parametrize("name", ["linucb", "lin_ts", "reward_model"])
def test_contextual_policies_check_the_context(name: str) -> None:
    policy = FACTORIES[name]()
    with pytest.raises(InvalidInputError, match=r"context has 5 features but .* n_features=3"):
        policy.choose(np.zeros(5))
    with pytest.raises(InvalidInputError, match="context has 2 features"):
        policy.choose_many(np.zeros((4, 2)))
    with pytest.raises(InvalidInputError, match="single context must be a 1-d array"):
        policy.choose(np.zeros((2, 3)))
    with pytest.raises(InvalidInputError, match="is contextual"):
        policy.choose(None)
    with pytest.raises(InvalidInputError, match="missing or infinite"):
        policy.update(np.array([0.0, np.inf, 1.0]), 0, 1.0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: EpsilonGreedy(n_actions=3, epsilon=1.5), r"epsilon must be a finite number"),
        (lambda: UniformRandom(n_actions=0), "n_actions must be a whole number"),
        (lambda: LinUCB(n_actions=3, n_features=2, alpha=-1.0), "alpha must be"),
        (lambda: LinUCB(n_actions=3, n_features=2.5), "n_features must be a whole"),  # type: ignore
        (lambda: BetaThompsonSampling(n_actions=3, alpha=[1, 0, 1]), "alpha must be positive"),
        (lambda: UniformRandom(n_actions=3, random_state="x"), "random_state must be"),  # type: ignore
    ],
)
def test_bad_parameters_fail_on_first_use(make: Callable[[], Policy], message: str) -> None:
    policy = make()  # __init__ only stores
    with pytest.raises(InvalidInputError, match=message):
        policy.choose_many(np.zeros((2, 2)))


def test_beta_ts_rejects_rewards_outside_zero_one_and_states_of_other_policies() -> None:
    with pytest.raises(InvalidInputError, match=r"rewards in \[0, 1\]"):
        BetaThompsonSampling(n_actions=2).update(None, 0, 3.0)
    state = UniformRandom(n_actions=2).get_state()
    with pytest.raises(InvalidInputError, match=r"use limelight\.bandits\.policy_from_state"):
        LinUCB.from_state(state)
    with pytest.raises(InvalidInputError, match="unknown policy 'Nope'"):
        policy_from_state({**state, "policy": "Nope"})
    bad = LinUCB(n_actions=2, n_features=2).get_state()
    bad["A_"] = np.zeros((3, 2, 2))
    with pytest.raises(InvalidInputError, match="has shape"):
        policy_from_state(bad)


def test_linucb_picks_the_best_arm_and_ties_split_evenly() -> None:
    policy = LinUCB(n_actions=3, n_features=1, alpha=0.0)
    np.testing.assert_allclose(policy.action_probabilities(np.ones(1)), [1 / 3] * 3)
    policy.update_many(np.ones((30, 1)), np.repeat([0, 1, 2], 10), np.repeat([0.1, 0.9, 0.5], 10))
    assert policy.choose(np.ones(1)) == (1, 1.0)
    eg = EpsilonGreedy(n_actions=3, epsilon=0.3).update_many(3, [0, 1, 2], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(eg.action_probabilities(None), [0.1, 0.8, 0.1])
