"""Events drawn from a world: play history, an artwork exploration log, sessions and feedback.

Every generator takes a ``seed`` (default: the world's seed) and gives the same events for the
same world and seed in any process. Members are processed in fixed blocks of ids, so history at
a million members is produced a block at a time.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from limelight.core.errors import InvalidInputError
from limelight.sim._checks import (
    ArtworkWeights,
    as_artwork_indices,
    as_k,
    as_member_ids,
    as_slates,
)
from limelight.sim._random import generator
from limelight.sim._world import World

__all__ = [
    "ExplorationLog",
    "Feedback",
    "History",
    "Online",
    "Sessions",
    "exploration_log",
    "history",
    "iter_history",
    "sessions",
]

_DAY = 86_400
_BLOCK = 4_096  # members per block of history randomness
_SECONDS_PER_SLOT = 30  # a play at position p starts this many seconds per slot after the session
_HISTORY, _LOG, _ONLINE, _SESSIONS = 21, 22, 23, 24


@dataclass(frozen=True)
class History:
    """Past plays, one row per play: who, what, when (Unix seconds) and for how long (seconds)."""

    user_ids: NDArray[np.int64]
    item_ids: NDArray[np.int64]
    timestamps: NDArray[np.int64]
    durations: NDArray[np.float64]
    n_users: int
    n_items: int

    def __len__(self) -> int:
        return len(self.user_ids)

    def to_csr(self, values: str = "plays", dtype: Any = np.float32) -> sp.csr_matrix:
        """A users x items CSR matrix of play counts (``"plays"``) or seconds (``"duration"``)."""
        if values == "plays":
            data = np.ones(len(self), dtype=dtype)
        elif values == "duration":
            data = self.durations.astype(dtype)
        else:
            raise InvalidInputError(f"values={values!r}: use 'plays' or 'duration'")
        matrix = sp.csr_matrix(
            (data, (self.user_ids, self.item_ids)), shape=(self.n_users, self.n_items)
        )
        matrix.sum_duplicates()
        return matrix


@dataclass(frozen=True)
class Sessions:
    """Session starts, sorted by time: ``member_ids[i]`` opens the service at ``timestamps[i]``."""

    member_ids: NDArray[np.int64]
    timestamps: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.member_ids)


@dataclass(frozen=True)
class Feedback:
    """Plays caused by a batch of responses; ``rows[j]`` is the index of the play's response."""

    rows: NDArray[np.int64]
    member_ids: NDArray[np.int64]
    title_ids: NDArray[np.int64]
    positions: NDArray[np.int64]
    artworks: NDArray[np.int64]
    timestamps: NDArray[np.int64]
    durations: NDArray[np.float64]
    n_rows: int = field(default=0)

    def __len__(self) -> int:
        return len(self.rows)

    def plays_per_row(self) -> NDArray[np.int64]:
        """Number of plays each response in the batch caused."""
        return np.bincount(self.rows, minlength=self.n_rows).astype(np.int64)

    def seconds_per_row(self) -> NDArray[np.float64]:
        """Seconds watched because of each response in the batch."""
        return np.bincount(self.rows, weights=self.durations, minlength=self.n_rows).astype(
            np.float64
        )

    def to_records(self) -> list[dict[str, int | float]]:
        """One plain dict per play, e.g. to post as feedback events."""
        return [
            {
                "row": int(r),
                "member_id": int(m),
                "title_id": int(t),
                "position": int(p),
                "artwork": int(a),
                "timestamp": int(ts),
                "duration": float(d),
            }
            for r, m, t, p, a, ts, d in zip(
                self.rows,
                self.member_ids,
                self.title_ids,
                self.positions,
                self.artworks,
                self.timestamps,
                self.durations,
                strict=True,
            )
        ]


@dataclass(frozen=True)
class ExplorationLog:
    """Artwork decisions logged under a uniformly random policy, one row per shown title.

    ``contexts`` is ``(n, world.context_dim)``; ``candidates[i]`` are the arm ids (the genre each
    artwork of the title shows, ``0 .. n_arms-1``); ``actions[i]`` is the index of the chosen
    artwork in ``candidates[i]`` and :attr:`arms` the chosen arm ids, logged with their
    ``propensities[i]``; ``rewards[i]`` is 1.0 for a play.
    """

    member_ids: NDArray[np.int64]
    title_ids: NDArray[np.int64]
    positions: NDArray[np.int64]
    timestamps: NDArray[np.int64]
    contexts: NDArray[np.float64]
    candidates: NDArray[np.int64]
    actions: NDArray[np.int64]
    propensities: NDArray[np.float64]
    rewards: NDArray[np.float64]
    n_arms: int

    def __len__(self) -> int:
        return len(self.member_ids)

    @property
    def arms(self) -> NDArray[np.int64]:
        """The chosen arm id of every decision (``candidates[i, actions[i]]``)."""
        return np.take_along_axis(self.candidates, self.actions[:, None], axis=1)[:, 0]

    def candidate_mask(self) -> NDArray[np.bool_]:
        """``(n, n_arms)`` booleans: which arms each decision could choose."""
        mask = np.zeros((len(self), self.n_arms), dtype=bool)
        np.put_along_axis(mask, self.candidates, True, axis=1)
        return mask


def _seed(world: World, seed: int | None) -> int:
    if seed is None:
        return world.config.seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidInputError(f"seed={seed!r} must be a non-negative integer")
    return int(seed)


def _exposure_cdf(world: World) -> NDArray[np.float64]:
    weight = world.popularity**world.config.history_exposure_flatness
    cdf = np.cumsum(weight)
    return cdf / cdf[-1]


def _draw_rows(
    world: World, rng: np.random.Generator, n: int, k: int, times: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Rows shown by the old popularity-leaning service, and which of their cells are real.

    A cell is dropped when its title repeats earlier in the row or was not yet released.
    """
    cdf = _exposure_cdf(world)
    titles = np.searchsorted(cdf, rng.random((n, k)), side="right").astype(np.int64)
    titles = np.minimum(titles, world.n_titles - 1)
    order = np.argsort(titles, axis=1, kind="stable")
    ordered = np.take_along_axis(titles, order, axis=1)
    repeat = np.zeros((n, k), dtype=bool)
    repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    valid = np.empty((n, k), dtype=bool)
    np.put_along_axis(valid, order, ~repeat, axis=1)
    valid &= world.release_times[titles] <= times[:, None]
    return titles, valid


def _play(
    world: World,
    rng: np.random.Generator,
    ids: NDArray[np.int64],
    titles: NDArray[np.int64],
    artworks: NDArray[np.int64],
    valid: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Draw which cells are played and for how many seconds (0 where not played)."""
    weights = ArtworkWeights(titles.shape, world.n_artworks, artworks, None)
    prob, completion = world._row_truth(ids, titles, weights)
    played = rng.random(titles.shape) < prob
    if valid is not None:
        played &= valid
    kappa = world.config.completion_concentration
    mean = completion[played]
    seconds = np.zeros(titles.shape)
    seconds[played] = rng.beta(mean * kappa, (1.0 - mean) * kappa) * world.runtimes[titles[played]]
    return played, seconds


def _session_counts(
    world: World, rng: np.random.Generator, ids: NDArray[np.int64], days: float
) -> NDArray[np.int64]:
    return rng.poisson(world._activity(ids) * days).astype(np.int64)


def _history_block(world: World, seed: int, block: int, k: int) -> History:
    cfg = world.config
    rng = generator(seed, _HISTORY, block)
    ids = np.arange(block * _BLOCK, min((block + 1) * _BLOCK, cfg.n_members), dtype=np.int64)
    counts = _session_counts(world, rng, ids, cfg.history_days)
    who = np.repeat(ids, counts)
    # sessions start early enough that their last play is still before ``start``
    window = cfg.start - cfg.history_start - _SECONDS_PER_SLOT * k
    times = cfg.history_start + rng.integers(0, max(window, 1), size=len(who))
    titles, valid = _draw_rows(world, rng, len(who), k, times)
    artworks = rng.integers(0, cfg.n_artworks, size=titles.shape)
    played, seconds = _play(world, rng, who, titles, artworks, valid)
    session, position = np.nonzero(played)
    return History(
        user_ids=who[session],
        item_ids=titles[session, position],
        timestamps=(times[session] + _SECONDS_PER_SLOT * (position + 1)).astype(np.int64),
        durations=seconds[session, position],
        n_users=cfg.n_members,
        n_items=cfg.n_titles,
    )


def iter_history(
    world: World, seed: int | None = None, k: int | None = None, members_per_chunk: int = _BLOCK
) -> Iterator[History]:
    """Play history in chunks of consecutive member ids (memory bounded by the chunk).

    Members see rows of ``k`` titles (default ``row_size``) drawn by a popularity-leaning old
    service, each with a uniformly random artwork, in sessions spread over the history window.
    ``members_per_chunk`` is rounded down to a multiple of 4,096 (at least one block of
    4,096 ids); the events do not depend on it.
    """
    seed = _seed(world, seed)
    k = as_k(k, world.config.row_size, world.n_titles)
    if isinstance(members_per_chunk, bool) or not isinstance(members_per_chunk, int):
        raise InvalidInputError(f"members_per_chunk={members_per_chunk!r} must be an integer")
    if members_per_chunk < 1:
        raise InvalidInputError(f"members_per_chunk={members_per_chunk} must be >= 1")
    blocks_per_chunk = max(1, members_per_chunk // _BLOCK)
    n_blocks = -(-world.n_members // _BLOCK)
    for first in range(0, n_blocks, blocks_per_chunk):
        parts = [
            _history_block(world, seed, b, k)
            for b in range(first, min(first + blocks_per_chunk, n_blocks))
        ]
        yield _concat(parts, world)


def history(world: World, seed: int | None = None, k: int | None = None) -> History:
    """The whole play history, sorted by timestamp (see :func:`iter_history`)."""
    whole = _concat(list(iter_history(world, seed, k)), world)
    order = np.argsort(whole.timestamps, kind="stable")
    return History(
        user_ids=whole.user_ids[order],
        item_ids=whole.item_ids[order],
        timestamps=whole.timestamps[order],
        durations=whole.durations[order],
        n_users=whole.n_users,
        n_items=whole.n_items,
    )


def _concat(parts: list[History], world: World) -> History:
    return History(
        user_ids=np.concatenate([p.user_ids for p in parts]),
        item_ids=np.concatenate([p.item_ids for p in parts]),
        timestamps=np.concatenate([p.timestamps for p in parts]),
        durations=np.concatenate([p.durations for p in parts]),
        n_users=world.n_members,
        n_items=world.n_titles,
    )


def _pool(world: World, member_ids: ArrayLike | None) -> NDArray[np.int64]:
    if member_ids is None:
        return np.arange(world.n_members, dtype=np.int64)
    return as_member_ids(member_ids, world.n_members)


def _check_days(days: float) -> float:
    if isinstance(days, bool) or not isinstance(days, numbers.Real) or not days > 0:
        raise InvalidInputError(f"days={days!r} must be a positive number")
    return float(days)


def _sessions(
    world: World,
    rng: np.random.Generator,
    days: float,
    start: int | None,
    member_ids: ArrayLike | None,
) -> Sessions:
    days = _check_days(days)
    start = world.config.start if start is None else int(start)
    pool = _pool(world, member_ids)
    counts = _session_counts(world, rng, pool, days)
    who = np.repeat(pool, counts)
    times = start + rng.integers(0, max(1, int(days * _DAY)), size=len(who))
    order = np.argsort(times, kind="stable")
    return Sessions(member_ids=who[order], timestamps=times[order].astype(np.int64))


def sessions(
    world: World,
    days: float,
    start: int | None = None,
    member_ids: ArrayLike | None = None,
    seed: int | None = None,
) -> Sessions:
    """Session starts over ``days`` from ``start`` (default: the world's start), by activity."""
    return _sessions(world, generator(_seed(world, seed), _SESSIONS), days, start, member_ids)


def exploration_log(
    world: World,
    n_sessions: int,
    k: int | None = None,
    member_ids: ArrayLike | None = None,
    seed: int | None = None,
) -> ExplorationLog:
    """Artwork decisions with uniformly random artwork, from ``n_sessions`` sessions of k titles.

    Sessions come from members in proportion to their activity; rows are drawn like the
    history's; every shown title is one logged decision with propensity ``1 / n_artworks``.
    """
    if isinstance(n_sessions, bool) or not isinstance(n_sessions, int | np.integer):
        raise InvalidInputError(f"n_sessions={n_sessions!r} must be a positive integer")
    if n_sessions < 1:
        raise InvalidInputError(f"n_sessions={n_sessions} must be >= 1")
    k = as_k(k, world.config.row_size, world.n_titles)
    cfg = world.config
    rng = generator(_seed(world, seed), _LOG)
    pool = _pool(world, member_ids)
    activity = world._activity(pool)
    who = pool[rng.choice(len(pool), size=int(n_sessions), p=activity / activity.sum())]
    times = cfg.start + rng.integers(0, _DAY, size=len(who))
    titles, valid = _draw_rows(world, rng, len(who), k, times)
    artworks = rng.integers(0, cfg.n_artworks, size=titles.shape)
    played, _ = _play(world, rng, who, titles, artworks, valid)
    session, position = np.nonzero(valid)
    chosen_titles = titles[session, position]
    return ExplorationLog(
        member_ids=who[session],
        title_ids=chosen_titles,
        positions=position.astype(np.int64),
        timestamps=times[session].astype(np.int64),
        contexts=world._members(who[session]).features,
        candidates=world.artwork_styles[chosen_titles],
        actions=artworks[session, position].astype(np.int64),
        propensities=np.full(len(session), 1.0 / cfg.n_artworks),
        rewards=played[session, position].astype(np.float64),
        n_arms=cfg.n_genres,
    )


class Online:
    """The live service: sessions arrive, the platform answers, members play (or not).

    Each call draws fresh randomness from the simulator's own stream, so the same sequence of
    calls on a world with the same seed gives the same events.
    """

    def __init__(self, world: World, seed: int | None = None) -> None:
        self.world = world
        self._rng = generator(_seed(world, seed), _ONLINE)

    def sessions(
        self, days: float, start: int | None = None, member_ids: ArrayLike | None = None
    ) -> Sessions:
        """Session starts over ``days`` from ``start`` (default: the world's start)."""
        return _sessions(self.world, self._rng, days, start, member_ids)

    def respond(
        self,
        member_ids: ArrayLike,
        slates: ArrayLike,
        artworks: ArrayLike | None = None,
        timestamps: ArrayLike | None = None,
    ) -> Feedback:
        """Feedback to a batch of responses: row ``i`` showed ``slates[i]`` to ``member_ids[i]``.

        ``artworks[i, j]`` is the artwork shown with ``slates[i, j]``; None draws each uniformly
        (matching the truth functions' None). ``timestamps`` are the session starts (default:
        the world's start).
        """
        world = self.world
        ids = as_member_ids(member_ids, world.n_members)
        titles = as_slates(slates, len(ids), world.n_titles)
        if artworks is None:
            shown = self._rng.integers(0, world.n_artworks, size=titles.shape)
        else:
            shown = as_artwork_indices(artworks, titles.shape, world.n_artworks)
        if timestamps is None:
            times = np.full(len(ids), world.config.start, dtype=np.int64)
        else:
            times = np.asarray(timestamps)
            if times.shape != (len(ids),) or not np.issubdtype(times.dtype, np.number):
                raise InvalidInputError(
                    f"timestamps must be numbers of shape ({len(ids)},), got {times.shape}"
                )
            times = times.astype(np.int64)
        played, seconds = _play(world, self._rng, ids, titles, shown)
        return _feedback(ids, titles, shown, times, played, seconds)

    def respond_one(
        self,
        member_id: int,
        title_ids: ArrayLike,
        artworks: ArrayLike | None = None,
        timestamp: int | None = None,
    ) -> Feedback:
        """Feedback to one response: ``title_ids`` shown in order, each with its artwork."""
        return self.respond(
            [member_id],
            np.asarray(title_ids)[None, :],
            None if artworks is None else np.asarray(artworks)[None, :],
            None if timestamp is None else [timestamp],
        )


def _feedback(
    ids: NDArray[np.int64],
    titles: NDArray[np.int64],
    shown: NDArray[np.int64],
    times: NDArray[np.int64],
    played: NDArray[np.bool_],
    seconds: NDArray[np.float64],
) -> Feedback:
    """Feedback events of the played cells of a batch of rows."""
    row, position = np.nonzero(played)
    return Feedback(
        rows=row.astype(np.int64),
        member_ids=ids[row],
        title_ids=titles[row, position],
        positions=position.astype(np.int64),
        artworks=shown[row, position],
        timestamps=times[row] + _SECONDS_PER_SLOT * (position + 1),
        durations=seconds[row, position],
        n_rows=len(ids),
    )
