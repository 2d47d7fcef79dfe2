"""Events drawn from the world: history, exploration log, sessions and online feedback.

Realised rates are checked against the world's exact expectations with z-test bounds of 4.5
standard errors (a false alarm about once in 300,000 runs per check; the seeds are fixed anyway).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from limelight import sim
from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.sim import World

Z = 4.5


@pytest.fixture(scope="module")
def world() -> World:
    return World.from_scale("tiny", seed=11)


@pytest.fixture(scope="module")
def past(world: World) -> sim.History:
    return sim.history(world)


def _random_slates(world: World, n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((n, world.n_titles)), axis=1)[:, :k]


# ---- history ---------------------------------------------------------------------------------


def test_history_shapes_ids_and_times(world: World, past: sim.History) -> None:
    cfg = world.config
    n = len(past)
    assert n > 5 * world.n_members  # a few plays per member: enough to train on
    for column in (past.user_ids, past.item_ids, past.timestamps, past.durations):
        assert column.shape == (n,)
    assert past.user_ids.dtype == np.int64 and past.item_ids.dtype == np.int64
    assert past.user_ids.min() >= 0 and past.user_ids.max() < world.n_members
    assert past.item_ids.min() >= 0 and past.item_ids.max() < world.n_titles
    assert np.all(np.diff(past.timestamps) >= 0)
    assert past.timestamps.min() >= cfg.history_start
    assert past.timestamps.max() < cfg.start
    # nobody plays a title before it is released
    assert np.all(past.timestamps >= world.release_times[past.item_ids])
    assert np.all(past.durations > 0)
    assert np.all(past.durations <= world.runtimes[past.item_ids])


def test_history_to_csr(world: World, past: sim.History) -> None:
    plays = past.to_csr()
    assert isinstance(plays, sp.csr_matrix)
    assert plays.shape == (world.n_members, world.n_titles)
    assert plays.sum() == pytest.approx(len(past))
    assert plays[past.user_ids[0], past.item_ids[0]] >= 1
    seconds = past.to_csr("duration", dtype=np.float64)
    assert seconds.sum() == pytest.approx(past.durations.sum())
    with pytest.raises(InvalidInputError, match="'plays' or 'duration'"):
        past.to_csr("minutes")


def test_history_chunks_do_not_change_the_events() -> None:
    world = World.from_scale("tiny", seed=2, n_members=9_000, n_titles=60, history_days=10.0)
    one = list(sim.iter_history(world, members_per_chunk=4_096))
    two = list(sim.iter_history(world, members_per_chunk=8_192))
    assert len(one) == 3 and len(two) == 2
    cat = [np.concatenate([getattr(h, f) for h in one]) for f in ("user_ids", "item_ids")]
    cat2 = [np.concatenate([getattr(h, f) for h in two]) for f in ("user_ids", "item_ids")]
    for a, b in zip(cat, cat2, strict=True):
        np.testing.assert_array_equal(a, b)
    # chunks hold consecutive member ids
    assert one[0].user_ids.max() < 4_096 <= one[1].user_ids.min()


def test_history_depends_on_the_seed(world: World, past: sim.History) -> None:
    again = sim.history(world)
    np.testing.assert_array_equal(again.item_ids, past.item_ids)
    other = sim.history(world, seed=99)
    assert len(other) != len(past) or not np.array_equal(other.item_ids, past.item_ids)


# ---- online feedback against the exact truth ---------------------------------------------------


def _z(observed: float, expected: float, variance: float) -> float:
    return (observed - expected) / np.sqrt(variance)


def test_realised_plays_match_expected_plays(world: World) -> None:
    online = sim.Online(world, seed=1)
    n, k = 40_000, 8
    rng = np.random.default_rng(5)
    ids = rng.integers(0, world.n_members, n)
    slates = _random_slates(world, n, k, seed=6)
    artworks = rng.integers(0, world.n_artworks, (n, k))
    p = world.play_probabilities(ids, slates, artworks)
    feedback = online.respond(ids, slates, artworks)
    assert abs(_z(len(feedback), p.sum(), (p * (1 - p)).sum())) < Z
    # per position: the position-bias curve is realised too
    counts = np.bincount(feedback.positions, minlength=k)
    for pos in range(k):
        col = p[:, pos]
        assert abs(_z(counts[pos], col.sum(), (col * (1 - col)).sum())) < Z
    # per row, and the rows of the feedback point back at the right requests
    np.testing.assert_array_equal(feedback.member_ids, ids[feedback.rows])
    np.testing.assert_array_equal(feedback.title_ids, slates[feedback.rows, feedback.positions])
    np.testing.assert_array_equal(feedback.artworks, artworks[feedback.rows, feedback.positions])
    assert feedback.plays_per_row().sum() == len(feedback)


def test_realised_watch_time_matches_expected_watch_time(world: World) -> None:
    online = sim.Online(world, seed=2)
    n = 30_000
    ids = np.random.default_rng(7).integers(0, world.n_members, n)
    slates = _random_slates(world, n, 6, seed=8)
    feedback = online.respond(ids, slates)  # random artwork, as the truth's None
    watched = feedback.seconds_per_row()
    expected = world.expected_watch_seconds(ids, slates)
    residual = watched - expected
    assert abs(residual.sum() / (residual.std() * np.sqrt(n))) < Z
    plays = feedback.plays_per_row()
    e_plays = world.expected_plays(ids, slates)
    assert abs((plays - e_plays).sum() / ((plays - e_plays).std() * np.sqrt(n))) < Z


def test_sessions_and_plays_per_member_match_the_exact_ab_metric(world: World) -> None:
    """Sessions arrive by activity; plays per member over days have the exact expected mean."""
    online = sim.Online(world, seed=3)
    days = 4.0
    members = np.arange(world.n_members)
    rows = world.popular_slates(members)
    arrivals = online.sessions(days)
    assert np.all(np.diff(arrivals.timestamps) >= 0)
    start = world.config.start
    assert arrivals.timestamps.min() >= start and arrivals.timestamps.max() < start + days * 86400
    feedback = online.respond(
        arrivals.member_ids, rows[arrivals.member_ids], None, arrivals.timestamps
    )
    assert np.all(feedback.timestamps > arrivals.timestamps[feedback.rows])
    lam = world.activity(members) * days
    per_session = world.play_probabilities(members, rows)
    e = per_session.sum(axis=1)
    second_moment = (per_session * (1 - per_session)).sum(axis=1) + e**2
    # compound Poisson: Var(total plays) = sum lambda * E[plays per session ** 2]
    total = len(feedback)
    assert abs(_z(total, (lam * e).sum(), (lam * second_moment).sum())) < Z
    np.testing.assert_allclose(lam * e, world.expected_plays_per_member(members, rows, days=days))
    n_sessions = len(arrivals)
    assert abs(_z(n_sessions, lam.sum(), lam.sum())) < Z


def test_take_rate_intervals_cover_at_the_nominal_rate(world: World) -> None:
    """Over many independent simulated days, the exact 95% interval for total plays covers the
    realised total about 95% of the time: the plays are the independent Bernoullis claimed."""
    n, k, runs = 2_000, 5, 400
    rng = np.random.default_rng(12)
    ids = rng.integers(0, world.n_members, n)
    slates = _random_slates(world, n, k, seed=13)
    p = world.play_probabilities(ids, slates)
    mean, sd = p.sum(), np.sqrt((p * (1 - p)).sum())
    online = sim.Online(world, seed=14)
    totals = np.array([len(online.respond(ids, slates)) for _ in range(runs)])
    covered = np.mean(np.abs(totals - mean) <= 1.96 * sd)
    assert abs(covered - 0.95) < Z * np.sqrt(0.95 * 0.05 / runs)


def test_respond_one(world: World) -> None:
    online = sim.Online(world, seed=5)
    row = world.best_slates([7])[0]
    total = 0
    for _ in range(300):
        feedback = online.respond_one(7, row, np.zeros(len(row), dtype=int), timestamp=10**9)
        assert feedback.n_rows == 1 and np.all(feedback.rows == 0)
        assert np.all(feedback.timestamps > 10**9)
        total += len(feedback)
    e = world.expected_plays([7], [row], np.zeros((1, len(row)), dtype=int))[0]
    assert abs(total / 300 - e) < Z * np.sqrt(e / 300)


def test_records_for_the_feedback_endpoint(world: World) -> None:
    online = sim.Online(world, seed=4)
    feedback = online.respond(np.zeros(200, dtype=int), np.tile(world.best_slates([0]), (200, 1)))
    records = feedback.to_records()
    assert len(records) == len(feedback) > 0
    assert set(records[0]) == {
        "row",
        "member_id",
        "title_id",
        "position",
        "artwork",
        "timestamp",
        "duration",
    }
    assert all(r["member_id"] == 0 for r in records)


# ---- exploration log ---------------------------------------------------------------------------


def test_exploration_log_is_uniform_and_unbiased(world: World) -> None:
    log = sim.exploration_log(world, 20_000)
    n = len(log)
    a = world.n_artworks
    assert log.contexts.shape == (n, world.context_dim)
    assert log.candidates.shape == (n, a)
    np.testing.assert_array_equal(log.propensities, 1.0 / a)
    np.testing.assert_array_equal(log.contexts, world.contexts(log.member_ids))
    np.testing.assert_array_equal(log.candidates, world.artwork_candidates(log.title_ids))
    assert np.all(log.candidate_mask().sum(axis=1) == a)
    assert np.all(log.candidate_mask()[np.arange(n), log.arms])
    counts = np.bincount(log.actions, minlength=a)
    assert abs(_z(counts[0], n / a, n * (1 / a) * (1 - 1 / a))) < Z
    # the logged rewards estimate the uniform policy's true value...
    truth = world.artwork_play_probabilities(log.member_ids, log.title_ids, log.positions)
    uniform = truth.mean(axis=1)
    assert abs(_z(log.rewards.sum(), uniform.sum(), (uniform * (1 - uniform)).sum())) < Z
    # ...and inverse propensity weighting recovers the oracle policy's true value
    best = np.argmax(truth, axis=1)
    ips = log.rewards * (log.actions == best) / log.propensities
    oracle = world.artwork_policy_value(log.member_ids, log.title_ids, best, log.positions)
    assert abs(ips.mean() - oracle) < Z * ips.std() / np.sqrt(n)
    assert oracle > 1.2 * uniform.mean()


# ---- determinism across processes ------------------------------------------------------------

_DIGEST = """
import hashlib, sys
import numpy as np
from limelight import sim
world = sim.World.from_scale("tiny", seed=21, n_members=3000, n_titles=80, history_days=20.0)
h = hashlib.sha256()
past = sim.history(world)
for a in (past.user_ids, past.item_ids, past.timestamps, past.durations):
    h.update(np.ascontiguousarray(a).tobytes())
log = sim.exploration_log(world, 500)
for a in (log.member_ids, log.title_ids, log.actions, log.rewards, log.contexts):
    h.update(np.ascontiguousarray(a).tobytes())
online = sim.Online(world)
s = online.sessions(1.0)
fb = online.respond(s.member_ids, world.popular_slates(s.member_ids), None, s.timestamps)
for a in (s.member_ids, s.timestamps, fb.rows, fb.title_ids, fb.durations):
    h.update(np.ascontiguousarray(a).tobytes())
h.update(world.members(np.arange(3000)).taste.tobytes())
print(h.hexdigest())
"""


def test_same_seed_same_events_in_another_process() -> None:
    here: dict[str, object] = {}
    out = subprocess.run(
        [sys.executable, "-c", _DIGEST],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    ).stdout.strip()
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(_DIGEST, here)
    assert out == buffer.getvalue().strip()
    assert len(out) == len(hashlib.sha256().hexdigest())


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda w: sim.history(w, seed=-1), InvalidInputError, "non-negative"),
        (lambda w: sim.history(w, k=1000), InvalidInputError, "larger than the catalogue"),
        (lambda w: list(sim.iter_history(w, members_per_chunk=0)), InvalidInputError, ">= 1"),
        (lambda w: sim.exploration_log(w, 0), InvalidInputError, "n_sessions"),
        (lambda w: sim.exploration_log(w, 5, member_ids=[5000]), NotFoundError, "unknown member"),
        (lambda w: sim.sessions(w, days=-1.0), InvalidInputError, "days"),
        (lambda w: sim.Online(w).respond([0], [[0, 1]], [[0]]), InvalidInputError, "artwork"),
        (lambda w: sim.Online(w).respond([0], [[0, 1]], [[0, 9]]), InvalidInputError, "0..3"),
        (
            lambda w: sim.Online(w).respond([0], [[0, 1]], None, [1, 2]),
            InvalidInputError,
            "timestamps",
        ),
        (lambda w: sim.Online(w).respond([7777], [[0, 1]]), NotFoundError, "member id 7777"),
        (lambda w: sim.Online(w).respond([0], [[0, 1], [1, 2]]), InvalidInputError, "one row"),
    ],
)
def test_bad_input_says_what_to_fix(world: World, call, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call(world)
