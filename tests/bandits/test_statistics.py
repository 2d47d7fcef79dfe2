"""Statistical claims against a synthetic environment whose truth is known exactly."""

from __future__ import annotations

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
    evaluate,
)

from ._env import LinearEnv

REPETITIONS = 500
ROUNDS = 2000


def logged(env: LinearEnv, rng: np.random.Generator) -> tuple[BanditLog, np.ndarray]:
    """One log of ROUNDS rounds from the environment's logging policy, and who was shown."""
    who = env.draw(ROUNDS, rng)
    dist = env.logging_dist()[who]
    u = rng.random(ROUNDS)[:, None]
    actions = np.argmax(np.cumsum(dist, axis=1) > u * dist.sum(axis=1, keepdims=True), axis=1)
    log = BanditLog(
        context=env.z[who],
        action=actions,
        reward=env.rewards(who, actions, rng),
        pscore=dist[np.arange(ROUNDS), actions],
        n_actions=env.n_actions,
    )
    return log, who


@pytest.mark.slow
def test_ips_and_dr_intervals_cover_the_truth_95_percent_of_the_time() -> None:
    env = LinearEnv(seed=0)
    target = env.target_dist()
    truth = env.value(target)
    # A fixed, deliberately wrong reward model: DR stays unbiased, DM does not.
    q_model = 0.6 * env.q + 0.05
    rng = np.random.default_rng(12345)
    covered = {"ips": 0, "dr": 0}
    for rep in range(REPETITIONS):
        log, who = logged(env, rng)
        out = evaluate(
            log,
            target[who],
            q_model[who],
            estimators=["ips", "dr"],
            n_bootstrap=400,
            random_state=rep,
        )
        for name in covered:
            covered[name] += out[name].lower <= truth <= out[name].upper
    rates = {name: c / REPETITIONS for name, c in covered.items()}
    assert 0.93 <= rates["ips"] <= 0.97, rates
    assert 0.93 <= rates["dr"] <= 0.97, rates


def regret(env: LinearEnv, policy: Policy, rounds: int, batch: int, seed: int) -> float:
    """Cumulative expected regret over ``rounds``, choosing and learning in batches."""
    rng = np.random.default_rng(seed)
    best = env.q.max(axis=1)
    total = 0.0
    for _ in range(rounds // batch):
        who = env.draw(batch, rng)
        x = env.z[who]
        actions, _ = policy.choose_many(x if policy.contextual else batch)
        total += float(np.sum(best[who] - env.q[who, actions]))
        policy.update_many(
            x if policy.contextual else batch, actions, env.rewards(who, actions, rng)
        )
    return total


@pytest.mark.slow
def test_contextual_policies_have_lower_regret_over_100k_rounds() -> None:
    env = LinearEnv(seed=1)
    k, d = env.n_actions, env.n_features
    makers: dict[str, Callable[[], Policy]] = {
        "epsilon_greedy": lambda: EpsilonGreedy(n_actions=k, epsilon=0.1, random_state=0),
        "beta_ts": lambda: BetaThompsonSampling(n_actions=k, random_state=0),
        "reward_model": lambda: RewardModelPolicy(
            n_actions=k, n_features=d, epsilon=0.05, random_state=0
        ),
        "linucb": lambda: LinUCB(n_actions=k, n_features=d, alpha=0.5, random_state=0),
        "lin_ts": lambda: LinearThompsonSampling(
            n_actions=k, n_features=d, v=0.2, n_samples=64, random_state=0
        ),
    }
    regrets = {name: regret(env, make(), 100_000, 1000, seed=7) for name, make in makers.items()}
    baseline = min(regrets["epsilon_greedy"], regrets["beta_ts"])
    for name in ("reward_model", "linucb", "lin_ts"):
        assert regrets[name] < baseline, regrets
    # Learning, not luck: the contextual policies end far below a uniform chooser's regret.
    uniform_regret = 100_000 * float(np.mean(env.q.max(axis=1) - env.q.mean(axis=1)))
    assert regrets["linucb"] < 0.2 * uniform_regret, regrets


def test_a_reward_model_learned_from_logs_beats_the_logging_policy() -> None:
    env = LinearEnv(seed=2)
    log, _ = logged(env, np.random.default_rng(3))
    policy = RewardModelPolicy(n_actions=env.n_actions, n_features=env.n_features)
    learned = env.value(policy.fit(log).action_probabilities(env.z))
    best_single_arm = float(env.q.mean(axis=0).max())
    assert learned > env.value(env.logging_dist()) + 0.05
    assert learned > best_single_arm + 0.05
    assert learned > 0.9 * float(env.q.max(axis=1).mean())  # near the best possible policy
