"""Off-policy estimators on tiny logs whose answers are worked out by hand."""

import numpy as np
import pytest

from limelight.bandits import (
    BanditLog,
    EpsilonGreedy,
    Estimate,
    UniformRandom,
    beats,
    compare,
    direct_method,
    doubly_robust,
    estimate_rewards,
    evaluate,
    ips,
    replay,
    replay_policy,
    snips,
)
from limelight.core.errors import InvalidInputError

# Four rounds, two actions, uniform logging (pscore 0.5).
UNIFORM = BanditLog(
    context=np.zeros((4, 1)),
    action=[0, 1, 0, 1],
    reward=[1.0, 0.0, 0.0, 1.0],
    pscore=[0.5] * 4,
    n_actions=2,
)
ALWAYS_0 = np.tile([1.0, 0.0], (4, 1))
Q = np.tile([0.25, 0.75], (4, 1))


def test_ips_snips_replay_by_hand() -> None:
    # IPS: rounds with action 0 have weight 2; rewards 1 and 0 -> (2 + 0) / 4.
    assert ips(UNIFORM, ALWAYS_0, n_bootstrap=0).value == pytest.approx(0.5)
    # SNIPS and replay: matched rounds are 0 and 2, mean reward 0.5.
    assert snips(UNIFORM, ALWAYS_0, n_bootstrap=0).value == pytest.approx(0.5)
    assert replay(UNIFORM, ALWAYS_0, n_bootstrap=0).value == pytest.approx(0.5)
    always_1 = ALWAYS_0[:, ::-1]
    assert replay(UNIFORM, always_1, n_bootstrap=0).value == pytest.approx(0.5)
    half = np.full((4, 2), 0.5)
    assert ips(UNIFORM, half, n_bootstrap=0).value == pytest.approx(UNIFORM.reward.mean())


def test_dm_and_dr_by_hand() -> None:
    assert direct_method(UNIFORM, ALWAYS_0, Q, n_bootstrap=0).value == pytest.approx(0.25)
    # DR = 0.25 + mean(w * (r - q_taken)) with w = 2 on rounds 0 and 2: (2*0.75 + 2*-0.25)/4.
    dr = doubly_robust(UNIFORM, ALWAYS_0, Q, n_bootstrap=0).value
    assert dr == pytest.approx(0.25 + (1.5 - 0.5) / 4)
    # With a zero reward model DR is IPS.
    zero = np.zeros((4, 2))
    assert doubly_robust(UNIFORM, ALWAYS_0, zero, n_bootstrap=0).value == pytest.approx(0.5)


def test_positions_select_the_slice_of_a_slate_distribution() -> None:
    log = BanditLog(
        context=np.zeros((2, 1)),
        action=[0, 1],
        reward=[1.0, 1.0],
        pscore=[0.5, 0.5],
        n_actions=2,
        position=[0, 1],
        len_list=2,
    )
    dist = np.zeros((2, 2, 2))
    dist[:, 0, 0] = 1.0  # position 0: always action 0
    dist[:, 1, 1] = 1.0  # position 1: always action 1
    assert ips(log, dist, n_bootstrap=0).value == pytest.approx(2.0)
    dist_swapped = dist[:, ::-1, :]
    assert ips(log, dist_swapped, n_bootstrap=0).value == pytest.approx(0.0)


def test_clipping_and_effective_sample_size() -> None:
    log = BanditLog(
        context=np.zeros((4, 1)),
        action=[0, 0, 0, 0],
        reward=[1.0] * 4,
        pscore=[0.1, 0.5, 0.5, 0.5],
        n_actions=2,
    )
    e = ips(log, ALWAYS_0, clip=4.0, n_bootstrap=0)
    assert e.max_weight == 4.0 and e.clipped_fraction == 0.25
    assert e.value == pytest.approx((4 + 2 + 2 + 2) / 4)
    unclipped = ips(log, ALWAYS_0, n_bootstrap=0)
    assert unclipped.value == pytest.approx((10 + 6) / 4)
    assert unclipped.ess == pytest.approx(16**2 / (100 + 12))
    assert ips(UNIFORM, np.full((4, 2), 0.5), n_bootstrap=0).ess == pytest.approx(4.0)


def test_evaluate_runs_every_applicable_estimator_with_shared_resamples() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    log = BanditLog(
        context=rng.normal(size=(n, 2)),
        action=rng.integers(0, 3, n),
        reward=(rng.random(n) < 0.3).astype(float),
        pscore=np.full(n, 1 / 3),
        n_actions=3,
    )
    dist = rng.dirichlet(np.ones(3), size=n)
    q = estimate_rewards(log)
    out = evaluate(log, dist, q, random_state=0)
    assert list(out) == ["replay", "ips", "snips", "dm", "dr"]
    for e in out.values():
        assert isinstance(e, Estimate) and e.lower <= e.value <= e.upper
        assert e.n_bootstrap == 1000 and e.to_dict()["estimator"] == e.estimator
    assert list(evaluate(log, dist)) == ["replay", "ips", "snips"]
    again = evaluate(log, dist, q, random_state=0)
    assert again == out  # seeded bootstrap: reproducible


def test_grouped_bootstrap_matches_the_row_bootstrap() -> None:
    rng = np.random.default_rng(2)
    n = 40_000
    log = BanditLog(
        context=np.zeros((n, 1)),
        action=rng.integers(0, 4, n),
        reward=rng.exponential(size=n),
        pscore=np.full(n, 0.25),
        n_actions=4,
    )
    dist = rng.dirichlet(np.ones(4), size=n)
    kw: dict = dict(estimators=["ips"], n_bootstrap=300, random_state=0)
    rows = evaluate(log, dist, max_groups=n, **kw)["ips"]
    groups = evaluate(log, dist, max_groups=2000, **kw)["ips"]
    normal = ips(log, dist, n_bootstrap=0)
    assert groups.std_error == pytest.approx(rows.std_error, rel=0.15)
    assert normal.std_error == pytest.approx(rows.std_error, rel=0.15)


def test_replay_refuses_non_uniform_logs() -> None:
    log = BanditLog(
        context=np.zeros((2, 1)), action=[0, 1], reward=[1.0, 0.0], pscore=[0.2, 0.8], n_actions=2
    )
    with pytest.raises(InvalidInputError, match="uniform random policy"):
        replay(log, np.tile([1.0, 0.0], (2, 1)))
    assert "replay" not in evaluate(log, np.tile([1.0, 0.0], (2, 1)), n_bootstrap=0)


@pytest.mark.parametrize(
    ("dist", "message"),
    [
        (np.full((4, 3), 1 / 3), "covers 3 actions but the log's behaviour policy had 2"),
        (np.full((5, 2), 0.5), "must have shape"),
        (np.full((4, 2), 0.7), "summing to 1"),
        (np.array([[1.5, -0.5]] * 4), "non-negative"),
        (np.full((4, 2, 3), 0.5), "has 3 positions but the log has len_list=1"),
        (np.full((4, 2), np.nan), "missing or infinite"),
    ],
)
def test_bad_action_distributions(dist: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        ips(UNIFORM, dist)


def test_bad_options() -> None:
    with pytest.raises(InvalidInputError, match="needs estimated_rewards"):
        evaluate(UNIFORM, ALWAYS_0, estimators=["dr"])
    with pytest.raises(InvalidInputError, match="unknown estimator 'magic'"):
        evaluate(UNIFORM, ALWAYS_0, estimators=["magic"])
    with pytest.raises(InvalidInputError, match="clip must be a positive"):
        ips(UNIFORM, ALWAYS_0, clip=0.0)
    with pytest.raises(InvalidInputError, match="level must be in"):
        ips(UNIFORM, ALWAYS_0, level=95)
    with pytest.raises(InvalidInputError, match="n_bootstrap"):
        ips(UNIFORM, ALWAYS_0, n_bootstrap=-1)
    with pytest.raises(InvalidInputError, match="estimated_rewards covers 3 actions"):
        direct_method(UNIFORM, ALWAYS_0, np.zeros((4, 3)))
    with pytest.raises(InvalidInputError, match="expected a BanditLog"):
        ips("log.csv", ALWAYS_0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="snips is undefined"):
        snips(UNIFORM.subset([0, 2]), np.tile([0.0, 1.0], (2, 1)))
    with pytest.raises(InvalidInputError, match="never picks a logged action"):
        replay(UNIFORM.subset([0, 2]), np.tile([0.0, 1.0], (2, 1)))


def _estimate(value: float, lower: float, upper: float, name: str = "dr") -> Estimate:
    return Estimate(
        estimator=name,
        value=value,
        lower=lower,
        upper=upper,
        level=0.95,
        std_error=0.0,
        n_rounds=100,
        ess=100.0,
        max_weight=1.0,
        clipped_fraction=0.0,
        n_bootstrap=1000,
    )


def test_gate_requires_the_interval_above_the_champion() -> None:
    champion = _estimate(0.10, 0.08, 0.12)
    ok, reason = beats(_estimate(0.13, 0.11, 0.15), champion)
    assert ok and "lies above the champion's 0.1" in reason
    ok, reason = beats(_estimate(0.13, 0.09, 0.17), champion)
    assert not ok and "keep the champion" in reason
    assert not beats(_estimate(0.13, 0.11, 0.15), champion, margin=0.02)[0]
    with pytest.raises(InvalidInputError, match="same estimator"):
        beats(_estimate(0.13, 0.11, 0.15, name="ips"), champion)
    with pytest.raises(InvalidInputError, match="margin"):
        beats(champion, champion, margin=-1)
    with pytest.raises(InvalidInputError, match="must be an Estimate"):
        beats(0.2, champion)  # type: ignore[arg-type]


def test_replay_of_a_learning_policy() -> None:
    rng = np.random.default_rng(4)
    n = 6000
    actions = rng.integers(0, 3, n)
    rewards = (rng.random(n) < np.array([0.1, 0.5, 0.2])[actions]).astype(float)
    log = BanditLog(
        context=np.zeros((n, 1)),
        action=actions,
        reward=rewards,
        pscore=np.full(n, 1 / 3),
        n_actions=3,
    )
    fixed = replay_policy(
        log, UniformRandom(n_actions=3, random_state=0), learn=False, random_state=0
    )
    assert fixed.lower <= 0.8 / 3 <= fixed.upper  # uniform policy's true value
    assert 1500 < fixed.ess < 2500  # about a third of the rounds match
    learner = EpsilonGreedy(n_actions=3, epsilon=0.1, random_state=0)
    learned = replay_policy(log, learner, random_state=0)
    assert learned.value > fixed.upper  # it found the 0.5 arm
    assert learner.n_updates_ == round(learned.ess)
    with pytest.raises(InvalidInputError, match="the action sets differ"):
        replay_policy(log, UniformRandom(n_actions=4))
    with pytest.raises(InvalidInputError, match="uniform random policy"):
        replay_policy(
            BanditLog(
                context=np.zeros((2, 1)),
                action=[0, 1],
                reward=[1.0, 0.0],
                pscore=[0.2, 0.8],
                n_actions=3,
            ),
            UniformRandom(n_actions=3),
        )
    with pytest.raises(InvalidInputError, match="expected a bandit Policy"):
        replay_policy(log, "greedy")  # type: ignore[arg-type]


def test_reward_model_predicts_every_action_and_position() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    x = rng.normal(size=(n, 2))
    actions = rng.integers(0, 2, n)
    position = rng.integers(0, 2, n)
    # Known linear truth: action 1 pays 0.5 more, position 1 pays 0.2 less, plus 0.3 x_0.
    reward = 0.1 + 0.5 * actions - 0.2 * position + 0.3 * x[:, 0] + rng.normal(0, 0.01, n)
    log = BanditLog(
        context=x,
        action=actions,
        reward=reward,
        pscore=np.full(n, 0.5),
        n_actions=2,
        position=position,
        len_list=2,
    )
    q = estimate_rewards(log, n_folds=2, random_state=0)
    assert q.shape == (n, 2, 2)
    np.testing.assert_allclose(q[:, 1, 0] - q[:, 0, 0], 0.5, atol=0.02)
    np.testing.assert_allclose(q[:, 0, 1] - q[:, 0, 0], -0.2, atol=0.02)
    with pytest.raises(InvalidInputError, match="n_folds must be"):
        estimate_rewards(log, n_folds=0)
    with pytest.raises(InvalidInputError, match="expected a BanditLog"):
        estimate_rewards({"action": [0]})  # type: ignore[arg-type]


def test_compare_gives_a_paired_interval_of_the_difference() -> None:
    rng = np.random.default_rng(6)
    n = 20_000
    x = rng.random(n)
    actions = rng.integers(0, 2, n)
    p_click = np.where(actions == 1, 0.3 + 0.2 * x, 0.3)  # action 1 is better by 0.1 on average
    log = BanditLog(
        context=x[:, None],
        action=actions,
        reward=(rng.random(n) < p_click).astype(float),
        pscore=np.full(n, 0.5),
        n_actions=2,
    )
    challenger = np.tile([0.2, 0.8], (n, 1))
    champion = np.tile([0.8, 0.2], (n, 1))
    q = np.column_stack([np.full(n, 0.3), 0.3 + 0.2 * x])
    diff = compare(log, challenger, champion, q, random_state=0)
    assert diff.estimator == "dr difference"
    assert diff.lower <= 0.6 * 0.1 <= diff.upper and diff.lower > 0  # true gain: 0.06
    # Pairing: narrower than combining the two separate intervals as if independent.
    widths = [
        e.upper - e.lower
        for e in (
            evaluate(log, d, q, estimators=["dr"], random_state=0)["dr"]
            for d in (challenger, champion)
        )
    ]
    assert diff.upper - diff.lower < 0.85 * float(np.hypot(*widths))
    with pytest.raises(InvalidInputError, match="compare supports the estimators ips, dm"):
        compare(log, challenger, champion, estimator="snips")
    with pytest.raises(InvalidInputError, match="covers 3 actions"):
        compare(log, challenger, np.full((n, 3), 1 / 3), q)
