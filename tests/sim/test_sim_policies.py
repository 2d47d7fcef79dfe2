"""Rankers and artwork policies plugged into the world, and the world being worth a demo."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from limelight import sim
from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.sim import World


@pytest.fixture(scope="module")
def world() -> World:
    return World.from_scale("tiny", seed=5)


class _FixedRanker:
    """Recommends the same titles to everyone (or whatever rows it is given)."""

    def __init__(self, rows: np.ndarray, honour_k: bool = True) -> None:
        self.rows = rows
        self.honour_k = honour_k
        self.calls: list[tuple[int, bool]] = []

    def recommend(self, user_ids, k, exclude_seen=True):
        self.calls.append((k, exclude_seen))
        items = np.resize(self.rows, (len(user_ids), self.rows.shape[-1]))
        if self.honour_k:
            items = items[:, :k]
        return items, np.zeros(items.shape)


class _TasteChooser:
    """Greedy on the observed taste for each artwork's genre; propensity 1."""

    def choose(self, context, candidates):
        return int(candidates[np.argmax(context[candidates])]), 1.0


class _ArmProbabilities:
    """A bandit-shaped policy: probabilities over all arm ids, uniform over the candidates."""

    def action_probabilities(self, contexts, candidates):
        mask = np.asarray(candidates, dtype=float)
        return mask / mask.sum(axis=1, keepdims=True)


def test_protocols_are_runtime_checkable() -> None:
    assert isinstance(_FixedRanker(np.arange(3)), sim.Ranker)
    assert isinstance(_TasteChooser(), sim.ArtworkPolicy)
    assert not isinstance(object(), sim.Ranker)


def test_ranker_slates(world: World) -> None:
    ranker = _FixedRanker(np.arange(20))
    rows = sim.ranker_slates(ranker, world, [3, 4, 5], k=6)
    np.testing.assert_array_equal(rows, np.tile(np.arange(6), (3, 1)))
    assert ranker.calls == [(6, False)]
    sim.ranker_slates(ranker, world, [3], exclude_seen=True)
    assert ranker.calls[-1] == (world.config.row_size, True)


def test_choose_artworks_maps_arms_to_artworks(world: World) -> None:
    ids = np.arange(30)
    rows = world.popular_slates(ids, k=4)
    artworks, propensities = sim.choose_artworks(_TasteChooser(), world, ids, rows)
    np.testing.assert_array_equal(propensities, 1.0)
    styles = world.artwork_styles[rows]
    chosen_arm = np.take_along_axis(styles, artworks[..., None], axis=2)[..., 0]
    taste = world.contexts(ids)
    want = np.max(np.take_along_axis(taste[:, None, :], styles, axis=2), axis=2)
    np.testing.assert_array_equal(np.take_along_axis(taste, chosen_arm, axis=1), want)


def test_artwork_probabilities_of_an_arm_space_policy(world: World) -> None:
    ids = np.arange(50)
    titles = world.popular_slates(ids, k=1)[:, 0]
    probs = sim.artwork_probabilities(_ArmProbabilities(), world, ids, titles)
    np.testing.assert_allclose(probs, 1.0 / world.n_artworks)
    assert world.artwork_policy_value(ids, titles, probs) == pytest.approx(
        world.artwork_policy_value(ids, titles, sim.uniform_artwork_probabilities)
    )


def test_bad_models_say_what_to_fix(world: World) -> None:
    with pytest.raises(InvalidInputError, match=r"shape \(2, 5\).*needs \(2, 4\)"):
        sim.ranker_slates(_FixedRanker(np.arange(5), honour_k=False), world, [0, 1], k=4)
    with pytest.raises(NotFoundError, match="unknown title id 100"):
        sim.ranker_slates(_FixedRanker(np.array([0, 100])), world, [0], k=2)
    with pytest.raises(InvalidInputError, match="larger than the catalogue"):
        sim.ranker_slates(_FixedRanker(np.arange(5)), world, [0], k=500)
    with pytest.raises(InvalidInputError, match="no recommend"):
        sim.ranker_slates(object(), world, [0], k=2)  # type: ignore[arg-type]

    class WrongArm:
        def choose(self, context, candidates):
            return 99, 0.5

    class ZeroPropensity:
        def choose(self, context, candidates):
            return int(candidates[0]), 0.0

    rows = world.popular_slates([0], k=2)
    with pytest.raises(InvalidInputError, match="not one of the candidates"):
        sim.choose_artworks(WrongArm(), world, [0], rows)
    with pytest.raises(InvalidInputError, match="propensity"):
        sim.choose_artworks(ZeroPropensity(), world, [0], rows)
    with pytest.raises(InvalidInputError, match="no choose"):
        sim.choose_artworks(object(), world, [0], rows)  # type: ignore[arg-type]

    class WrongShape:
        def action_probabilities(self, contexts, candidates):
            return np.ones((len(contexts), 3)) / 3

    with pytest.raises(InvalidInputError, match="one probability per arm"):
        sim.artwork_probabilities(WrongShape(), world, [0], [0])


# ---- the world is interesting enough for the demo ----------------------------------------------


def _ease_rows(train: sp.csr_matrix, k: int, l2: float = 100.0) -> np.ndarray:
    """Top-k of EASE (Steck 2019) with seen titles excluded: a small personal recommender."""
    x = (train > 0).astype(np.float64)
    gram = (x.T @ x).toarray()
    gram[np.diag_indices_from(gram)] += l2
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    scores = np.asarray(x @ weights)
    scores[x.toarray() > 0] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def _popular_rows(train: sp.csr_matrix, k: int) -> np.ndarray:
    counts = np.asarray((train > 0).sum(axis=0)).ravel().astype(np.float64)
    scores = np.tile(counts, (train.shape[0], 1))
    scores[train.toarray() > 0] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


@pytest.mark.slow
def test_ab_test_detects_a_personal_recommender_over_popularity() -> None:
    """EASE trained on the history beats popularity in truth, and an A/B test of 5,000 members
    over three days sees it (with the usual two-sample z-test on plays per member)."""
    world = World.from_scale("small", seed=0)
    train = sim.history(world).to_csr()
    members = np.arange(world.n_members)
    k = world.config.row_size
    control, treatment = _popular_rows(train, k), _ease_rows(train, k)
    lift = world.true_lift(members, control, treatment)
    assert lift.relative > 0.2

    in_treatment = np.random.default_rng(1).random(world.n_members) < 0.5
    rows = np.where(in_treatment[:, None], treatment, control)
    online = sim.Online(world, seed=2)
    arrivals = online.sessions(3.0)
    feedback = online.respond(
        arrivals.member_ids, rows[arrivals.member_ids], None, arrivals.timestamps
    )
    plays = np.bincount(feedback.member_ids, minlength=world.n_members).astype(np.float64)
    a, b = plays[~in_treatment], plays[in_treatment]
    z = (b.mean() - a.mean()) / np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    assert z > 4
    # the estimate is near the true per-member difference
    expected = world.expected_plays_per_member(members, rows, days=3.0)
    true_diff = expected[in_treatment].mean() - expected[~in_treatment].mean()
    se = (b.mean() - a.mean()) / z
    assert abs((b.mean() - a.mean()) - true_diff) < 4.5 * se


def test_contextual_artwork_learned_from_the_log_beats_random() -> None:
    """A per-arm linear model fitted on the uniform exploration log picks better artwork."""
    world = World.from_scale("tiny", seed=6, context_noise=0.5)
    log = sim.exploration_log(world, 20_000)
    n_arms, d = log.n_arms, world.context_dim
    x = np.hstack([log.contexts, np.ones((len(log), 1))])
    coef = np.zeros((n_arms, d + 1))
    for arm in range(n_arms):
        rows = log.arms == arm
        coef[arm] = np.linalg.lstsq(x[rows], log.rewards[rows], rcond=None)[0]

    def greedy(contexts: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        xs = np.hstack([contexts, np.ones((len(contexts), 1))])
        score = np.take_along_axis(xs @ coef.T, candidates, axis=1)
        return np.eye(candidates.shape[1])[np.argmax(score, axis=1)]

    fresh = sim.exploration_log(world, 5_000, seed=9)
    learned = world.artwork_policy_value(fresh.member_ids, fresh.title_ids, greedy)
    uniform = world.artwork_policy_value(
        fresh.member_ids, fresh.title_ids, sim.uniform_artwork_probabilities
    )
    assert learned > 1.15 * uniform
