"""At a million members and ten thousand titles the simulator works in bounded memory and time."""

from __future__ import annotations

import itertools
import time
import tracemalloc

import numpy as np

from limelight import sim

# A dense 1M x 10k float matrix would be 80 GB; a generous bound still catches any dense one.
_PEAK_BYTES = 400 * 2**20


def test_large_world_in_batches_without_dense_matrices() -> None:
    began = time.perf_counter()
    tracemalloc.start()
    try:
        world = sim.World.from_scale("large", seed=1)
        assert (world.n_members, world.n_titles) == (1_000_000, 10_000)
        rng = np.random.default_rng(0)
        ids = rng.integers(0, world.n_members, 20_000)
        assert world.contexts(ids).shape == (20_000, world.context_dim)
        rows = world.popular_slates(ids)
        plays = world.expected_plays(ids, rows)
        assert plays.shape == (20_000,) and np.all((plays > 0) & (plays < world.config.row_size))
        best = world.best_slates(ids[:50])
        assert world.ranker_value(ids[:50], best) > world.ranker_value(ids[:50], rows[:50])
        first = next(sim.iter_history(world))
        assert len(first) > 0 and first.user_ids.max() < 4_096
        assert first.to_csr().shape == (1_000_000, 10_000)
        last_ids = np.array([world.n_members - 1, 999_998])
        np.testing.assert_array_equal(
            world.members(last_ids).taste[0], world.members(last_ids[:1]).taste[0]
        )
        log = sim.exploration_log(world, 1_000, member_ids=ids)
        assert len(log) > 0
        online = sim.Online(world)
        arrivals = online.sessions(1.0, member_ids=ids)
        feedback = online.respond(
            arrivals.member_ids, world.popular_slates(arrivals.member_ids), None
        )
        assert len(feedback) > 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < _PEAK_BYTES, f"peak {peak / 2**20:.0f} MiB"
    assert time.perf_counter() - began < 60


def test_history_chunks_are_lazy() -> None:
    world = sim.World.from_scale("large", seed=2)
    chunks = list(itertools.islice(sim.iter_history(world, members_per_chunk=4_096), 2))
    assert chunks[0].user_ids.max() < chunks[1].user_ids.min()
