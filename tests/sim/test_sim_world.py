"""The world's ground truth: sizes, determinism, exact expectations and reference rankers."""

from __future__ import annotations

import numpy as np
import pytest

from limelight import sim
from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.sim import World, WorldConfig


@pytest.fixture(scope="module")
def world() -> World:
    return World.from_scale("tiny", seed=3)


def _random_slates(world: World, n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((n, world.n_titles)), axis=1)[:, :k]


def test_from_scale_sizes() -> None:
    assert World.from_scale("small").n_members == 5_000
    assert World.from_scale("small").n_titles == 500
    large = WorldConfig.from_scale(200.0)
    assert large.n_members == 1_000_000
    assert 9_000 <= large.n_titles <= 11_000
    assert WorldConfig.from_scale(1.0) == WorldConfig.from_scale("small")
    assert WorldConfig.from_scale("tiny", seed=5, n_artworks=3).n_artworks == 3


def test_same_seed_same_world_other_seed_other_world() -> None:
    a, b, c = World.from_scale("tiny", 1), World.from_scale("tiny", 1), World.from_scale("tiny", 2)
    ids = np.array([0, 5, 999])
    np.testing.assert_array_equal(a.artwork_styles, b.artwork_styles)
    np.testing.assert_array_equal(a.members(ids).taste, b.members(ids).taste)
    assert not np.array_equal(a.members(ids).taste, c.members(ids).taste)
    assert not np.array_equal(a.log_popularity, c.log_popularity)


def test_members_do_not_depend_on_the_batch(world: World) -> None:
    whole = world.members(np.arange(200))
    part = world.members(np.array([150, 3, 150]))
    np.testing.assert_array_equal(part.taste[0], whole.taste[150])
    np.testing.assert_array_equal(part.latent[1], whole.latent[3])
    np.testing.assert_array_equal(part.taste[0], part.taste[2])
    assert world.contexts([1, 2]).shape == (2, world.context_dim)


def test_catalogue_is_well_formed(world: World) -> None:
    g = world.title_genres.sum(axis=1)
    assert g.min() >= 1 and g.max() <= 3
    styles = world.artwork_styles
    assert styles.shape == (world.n_titles, world.n_artworks)
    assert all(len(set(row)) == world.n_artworks for row in styles.tolist())
    # the default artwork (0) shows one of the title's own genres
    assert world.title_genres[np.arange(world.n_titles), styles[:, 0]].all()
    assert np.isclose(world.popularity.sum(), 1.0)
    assert np.all(world.release_times < world.config.start)
    assert np.all(world.runtimes > 0)
    assert len(world.genres) == world.config.n_genres


def test_expected_plays_match_a_direct_computation() -> None:
    world = World.from_scale("tiny", seed=3, idiosyncratic_sd=0.0)
    cfg = world.config
    ids = np.array([4, 17])
    slates = np.array([[3, 9, 1], [0, 2, 50]])
    art = np.array([[0, 3, 1], [2, 2, 0]])
    m = world.members(ids)
    want = np.zeros(2)
    for i in range(2):
        for p, t in enumerate(slates[i]):
            genres = world.title_genres[t] / np.sqrt(world.title_genres[t].sum())
            logit = (
                cfg.base_logit
                + cfg.popularity_weight * world.log_popularity[t]
                + cfg.genre_weight * m.taste[i] @ genres
                + cfg.latent_weight * m.latent[i] @ world.title_latent[t]
                + cfg.artwork_weight * m.taste[i, world.artwork_styles[t, art[i, p]]]
                + world.artwork_quality[t, art[i, p]]
            )
            want[i] += (1 + p) ** -cfg.position_decay / (1 + np.exp(-logit))
    np.testing.assert_allclose(world.expected_plays(ids, slates, art), want, rtol=1e-12)


def test_artwork_forms_agree(world: World) -> None:
    ids = np.arange(40)
    slates = _random_slates(world, 40, 5, seed=1)
    per_art = np.stack(
        [world.play_probabilities(ids, slates, np.full((40, 5), a)) for a in range(4)], axis=2
    )
    np.testing.assert_allclose(world.play_probabilities(ids, slates), per_art.mean(axis=2))
    probs = np.random.default_rng(0).dirichlet(np.ones(4), size=(40, 5))
    np.testing.assert_allclose(
        world.play_probabilities(ids, slates, probs), (per_art * probs).sum(axis=2)
    )
    first = world.artwork_play_probabilities(ids, slates[:, 0])
    np.testing.assert_allclose(first, per_art[:, 0, :])
    third = world.artwork_play_probabilities(ids, slates[:, 2], positions=2)
    np.testing.assert_allclose(third, per_art[:, 2, :])


def test_position_bias_decreases_and_starts_at_one(world: World) -> None:
    exam = world.examination(np.arange(10))
    assert exam[0] == 1.0
    assert np.all(np.diff(exam) < 0)


def test_personal_rows_beat_popular_rows_and_contextual_artwork_beats_random(
    world: World,
) -> None:
    ids = np.arange(world.n_members)
    best, popular = world.best_slates(ids), world.popular_slates(ids)
    lift = world.true_lift(ids, popular, best)
    assert lift.relative > 0.5
    assert lift.absolute == pytest.approx(lift.treatment - lift.control)
    random_rows = _random_slates(world, world.n_members, world.config.row_size, seed=2)
    assert world.ranker_value(ids, random_rows) < lift.control
    titles = popular[:, 0]
    uniform = world.artwork_policy_value(ids, titles, sim.uniform_artwork_probabilities)
    oracle = world.artwork_policy_value(ids, titles, world.optimal_artworks(ids, titles))

    def likes_the_style(contexts: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        chosen = np.argmax(np.take_along_axis(contexts, candidates, axis=1), axis=1)
        return np.eye(candidates.shape[1])[chosen]

    contextual = world.artwork_policy_value(ids, titles, likes_the_style)
    assert contextual > 1.2 * uniform
    assert oracle >= contextual


def test_best_slates_are_the_true_top_k(world: World) -> None:
    ids = np.arange(5)
    every = np.tile(np.arange(world.n_titles), (5, 1))
    art_mean = (
        np.stack(
            [
                world.artwork_play_probabilities(np.repeat(ids, world.n_titles), every.ravel())[
                    :, a
                ]
                for a in range(world.n_artworks)
            ],
            axis=1,
        )
        .mean(axis=1)
        .reshape(5, -1)
    )
    want = np.argsort(-art_mean, axis=1)[:, :7]
    np.testing.assert_array_equal(world.best_slates(ids, 7), want)


def test_expected_plays_per_member_scales_with_days(world: World) -> None:
    ids = np.arange(10)
    rows = world.popular_slates(ids)
    one = world.expected_plays_per_member(ids, rows, days=1.0)
    np.testing.assert_allclose(world.expected_plays_per_member(ids, rows, days=3.0), 3 * one)
    np.testing.assert_allclose(one, world.activity(ids) * world.expected_plays(ids, rows))


def test_activity_has_the_configured_mean() -> None:
    world = World.from_scale("small", seed=0)
    activity = world.activity(np.arange(world.n_members))
    se = activity.std() / np.sqrt(len(activity))
    assert abs(activity.mean() - world.config.mean_sessions_per_day) < 4 * se


def test_context_noise_keeps_taste_and_blurs_features() -> None:
    clean = World.from_scale("tiny", seed=4)
    noisy = World.from_scale("tiny", seed=4, context_noise=1.0)
    ids = np.arange(500)
    np.testing.assert_array_equal(clean.members(ids).taste, noisy.members(ids).taste)
    diff = noisy.contexts(ids) - clean.contexts(ids)
    assert abs(diff.std() - 1.0) < 0.05


# ---- bad input -------------------------------------------------------------------------------


def test_edge_configs_work() -> None:
    world = World.from_scale("tiny", history_days=0.0, n_genres=14, n_artworks=1, row_size=1)
    assert world.genres[-1] == "genre-13"
    assert np.all(world.release_times <= world.config.start)
    assert world.expected_plays([0], world.popular_slates([0])).shape == (1,)
    assert len(sim.history(world)) == 0 or sim.history(world).timestamps.min() >= world.config.start


def test_title_labels(world: World) -> None:
    label = world.title_labels([0])[0]
    assert label.startswith("Title 0 (")
    first_genre = world.genres[int(np.flatnonzero(world.title_genres[0])[0])]
    assert first_genre in label


def test_world_needs_a_config() -> None:
    with pytest.raises(InvalidInputError, match="from_scale"):
        World("small")  # type: ignore[arg-type]


def test_unknown_members_and_titles_are_not_found(world: World) -> None:
    with pytest.raises(NotFoundError, match="unknown member id 1000"):
        world.members([0, 1000])
    with pytest.raises(NotFoundError, match="unknown member id -1"):
        world.expected_plays([-1], [[0, 1]])
    with pytest.raises(NotFoundError, match="unknown title id 100"):
        world.expected_plays([0], [[0, 100]])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda w: w.popular_slates([0], k=101), "larger than the catalogue"),
        (lambda w: w.best_slates([0], k=0), "positive integer"),
        (lambda w: w.expected_plays([0], np.zeros((1, 101), dtype=int)), "longer than the"),
        (lambda w: w.expected_plays([0, 1], [[0, 1]]), r"shape \(n_members, k\)"),
        (lambda w: w.expected_plays([[0]], [[0, 1]]), "1-dimensional"),
        (lambda w: w.expected_plays([0.5], [[0, 1]]), "integer ids"),
        (lambda w: w.expected_plays([], [[0, 1]]), "empty"),
        (lambda w: w.expected_plays([0], [[3, 3]]), "shows a title twice"),
        (lambda w: w.expected_plays([0], [[0, 1]], [[0]]), "one artwork index"),
        (lambda w: w.expected_plays([0], [[0, 1]], [[0, 4]]), r"in 0\.\.3"),
        (lambda w: w.expected_plays([0], [[0, 1]], np.full((1, 2, 4), 0.3)), "sum to 1"),
        (lambda w: w.expected_plays([0], [[0, 1]], np.full((1, 2, 3), 0.25)), "shape"),
        (lambda w: w.artwork_policy_value([0, 1], [0], np.full((2, 4), 0.25)), "one per member"),
        (lambda w: w.artwork_play_probabilities([0], [0], positions=[1, 2]), "one position"),
        (lambda w: w.examination([-1]), ">= 0"),
        (lambda w: w.expected_plays_per_member([0], [[0]], days=0), "days"),
    ],
)
def test_bad_input_says_what_to_fix(world: World, call, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        call(world)


@pytest.mark.parametrize(
    ("scale", "overrides", "message"),
    [
        (-1.0, {}, "positive number"),
        (0, {}, "positive number"),
        (float("nan"), {}, "positive number"),
        ("huge", {}, "unknown scale 'huge'"),
        (True, {}, "scale must be"),
        ("tiny", {"n_artworks": 13}, "exceeds n_genres"),
        ("tiny", {"row_size": 101}, "row_size"),
        ("tiny", {"seed": -3}, "seed=-3"),
        ("tiny", {"n_members": 2.5}, "integer"),
        ("tiny", {"history_days": -1.0}, "history_days"),
        ("tiny", {"mean_sessions_per_day": 0.0}, "mean_sessions_per_day"),
        ("tiny", {"no_such_knob": 1}, "override"),
    ],
)
def test_bad_config_says_what_to_fix(scale, overrides: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        World.from_scale(scale, **overrides)


def test_all_is_honest() -> None:
    names = {n for n in vars(sim) if not n.startswith("_")}
    assert set(sim.__all__) <= names
    for name in sim.__all__:
        assert getattr(sim, name) is not None


def test_the_package_docstring_example_runs() -> None:
    doc = sim.__doc__ or ""
    lines = [line[4:] for line in doc.splitlines() if line.startswith("    ")]
    code = "\n".join(lines)
    assert "sim.World.from_scale" in code
    scope: dict[str, object] = {}
    exec(code, scope)
    assert len(scope["members"]) == 100  # type: ignore[arg-type]
