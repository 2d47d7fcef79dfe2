"""The world: titles, members and the ground-truth chance that a member plays what they are shown.

Ids are integers: members are ``0 .. n_members-1`` and titles ``0 .. n_titles-1`` (so they are
the row and column indices of the history's CSR matrix); an artwork is an index
``0 .. n_artworks-1`` within its title, and artwork 0 is the title's default key art, which shows
its main genre. Titles are generated once (``n_titles`` rows); members are generated on demand
from their ids, so no member x title matrix is ever built.

A session shows a member a row of titles, each with one artwork. Each title in the row is played
independently with probability ``examination(position) * sigmoid(logit)``, where the logit adds
popularity, genre taste, latent taste, an idiosyncratic member x title term and the appeal of the
artwork (a member's taste for the genre the artwork emphasises, plus the artwork's quality).
The world has no memory: playing a title does not change later probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from limelight.core.errors import InvalidInputError
from limelight.sim._checks import (
    ArtworkWeights,
    as_artwork_weights,
    as_k,
    as_member_ids,
    as_slates,
    as_title_ids,
)
from limelight.sim._config import GENRES, WorldConfig
from limelight.sim._random import generator, hashed_normals, stream_key

__all__ = ["Artworks", "Lift", "Members", "World"]

_DAY = 86_400
_PAIR_BUDGET = 1 << 20  # (member, title) pairs evaluated per chunk

# Artworks given to the truth functions: None (uniformly random artwork), an (n, k) array of
# artwork indices, or an (n, k, n_artworks) array of probabilities.
Artworks = ArrayLike | None

# Streams of a world's randomness.
_TITLES, _TASTE, _LATENT, _ACTIVITY, _NOISE, _PAIR = 1, 11, 12, 13, 14, 15


@dataclass(frozen=True)
class Members:
    """Attributes of a batch of members, row ``i`` for ``ids[i]``."""

    ids: NDArray[np.int64]
    taste: NDArray[np.float64]  # (n, n_genres), standard normal: > 0 likes the genre
    latent: NDArray[np.float64]  # (n, n_latent)
    activity: NDArray[np.float64]  # (n,) expected sessions per day
    features: NDArray[np.float64]  # (n, n_genres) taste as the platform observes it


@dataclass(frozen=True)
class Lift:
    """True expected plays per session under control and treatment, and their difference."""

    control: float
    treatment: float

    @property
    def absolute(self) -> float:
        return self.treatment - self.control

    @property
    def relative(self) -> float:
        return self.treatment / self.control - 1.0


class World:
    """A seeded streaming service whose ground truth is known exactly."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        if config is not None and not isinstance(config, WorldConfig):
            raise InvalidInputError(
                f"World takes a WorldConfig, not {type(config).__name__}; for a size by name "
                "use World.from_scale('small', seed=0)"
            )
        self.config = config if config is not None else WorldConfig()
        cfg = self.config
        self._keys = {
            s: stream_key(cfg.seed, s) for s in (_TASTE, _LATENT, _ACTIVITY, _NOISE, _PAIR)
        }
        rng = generator(cfg.seed, _TITLES)
        t, g, a = cfg.n_titles, cfg.n_genres, cfg.n_artworks
        genre_weight = 1.0 / np.sqrt(np.arange(g) + 2.0)
        n_title_genres = 1 + rng.binomial(2, 0.35, size=t)
        # Gumbel top-k: each title's genres in order of importance, then the other genres.
        order = np.argsort(-(np.log(genre_weight) + rng.gumbel(size=(t, g))), axis=1)
        genres = np.zeros((t, g), dtype=bool)
        rows = np.arange(t)
        for j in range(3):
            has = n_title_genres > j
            genres[rows[has], order[has, j]] = True
        self.title_genres: NDArray[np.bool_] = genres
        self._genre_unit = genres / np.sqrt(genres.sum(axis=1, keepdims=True))
        self.log_popularity: NDArray[np.float64] = rng.standard_normal(t)
        share = np.exp(self.log_popularity - self.log_popularity.max())
        self.popularity: NDArray[np.float64] = share / share.sum()
        self.title_latent: NDArray[np.float64] = rng.standard_normal((t, cfg.n_latent))
        new = rng.random(t) < 0.15
        catalogue_start = cfg.history_start - 10 * 365 * _DAY
        self.release_times: NDArray[np.int64] = np.where(
            new,
            rng.integers(cfg.history_start, max(cfg.start, cfg.history_start + 1), size=t),
            rng.integers(catalogue_start, cfg.history_start, size=t),
        ).astype(np.int64)
        movie = rng.random(t) < 0.65
        minutes = np.where(
            movie,
            np.clip(rng.normal(105.0, 18.0, t), 70.0, 180.0),
            np.clip(rng.normal(45.0, 10.0, t), 20.0, 70.0),
        )
        self.runtimes: NDArray[np.float64] = minutes * 60.0
        self.artwork_styles: NDArray[np.int64] = order[:, :a].astype(np.int64)
        self.artwork_quality: NDArray[np.float64] = rng.normal(0.0, cfg.artwork_quality_sd, (t, a))
        for name in (
            "title_genres",
            "title_latent",
            "log_popularity",
            "popularity",
            "release_times",
            "runtimes",
            "artwork_styles",
            "artwork_quality",
        ):
            getattr(self, name).setflags(write=False)

    @classmethod
    def from_scale(cls, scale: str | float = "small", seed: int = 0, **overrides: object) -> World:
        """A world by size: ``"tiny"``, ``"small"``, ``"medium"``, ``"large"`` or a factor."""
        return cls(WorldConfig.from_scale(scale, seed, **overrides))

    def __repr__(self) -> str:
        c = self.config
        return (
            f"World(n_members={c.n_members}, n_titles={c.n_titles}, "
            f"n_artworks={c.n_artworks}, seed={c.seed})"
        )

    # ---- sizes -------------------------------------------------------------------------------

    @property
    def n_members(self) -> int:
        return self.config.n_members

    @property
    def n_titles(self) -> int:
        return self.config.n_titles

    @property
    def n_artworks(self) -> int:
        return self.config.n_artworks

    @property
    def context_dim(self) -> int:
        """Width of a bandit context: one observed taste feature per genre."""
        return self.config.n_genres

    @property
    def genres(self) -> tuple[str, ...]:
        """Genre names (generic names past the twelve built-in ones)."""
        g = self.config.n_genres
        return tuple(GENRES[i] if i < len(GENRES) else f"genre-{i}" for i in range(g))

    def title_labels(self, title_ids: ArrayLike) -> list[str]:
        """Readable names for titles, e.g. ``"Title 42 (drama, romance)"``, for demos and logs."""
        titles = as_title_ids(title_ids, self.n_titles)
        names = self.genres
        return [
            f"Title {t} ({', '.join(names[g] for g in np.flatnonzero(self.title_genres[t]))})"
            for t in titles.tolist()
        ]

    # ---- members -----------------------------------------------------------------------------

    def members(self, member_ids: ArrayLike) -> Members:
        """Attributes of the given members, generated from their ids."""
        ids = as_member_ids(member_ids, self.n_members)
        return self._members(ids)

    def _members(self, ids: NDArray[np.int64]) -> Members:
        cfg = self.config
        taste = hashed_normals(self._keys[_TASTE], ids, cfg.n_genres)
        latent = hashed_normals(self._keys[_LATENT], ids, cfg.n_latent) / np.sqrt(cfg.n_latent)
        activity = self._activity(ids)
        features = taste
        if cfg.context_noise > 0:
            features = taste + cfg.context_noise * hashed_normals(
                self._keys[_NOISE], ids, cfg.n_genres
            )
        return Members(ids=ids, taste=taste, latent=latent, activity=activity, features=features)

    def _activity(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        cfg = self.config
        z = hashed_normals(self._keys[_ACTIVITY], ids, 1)[:, 0]
        sd = cfg.activity_sd
        return np.asarray(cfg.mean_sessions_per_day * np.exp(sd * z - 0.5 * sd * sd))

    def contexts(self, member_ids: ArrayLike) -> NDArray[np.float64]:
        """Bandit contexts, ``(n, context_dim)``: taste per genre as observed (noisy if set)."""
        return self.members(member_ids).features

    def activity(self, member_ids: ArrayLike) -> NDArray[np.float64]:
        """Expected sessions per day of each member."""
        return self._activity(as_member_ids(member_ids, self.n_members))

    def artwork_candidates(self, title_ids: ArrayLike) -> NDArray[np.int64]:
        """The arms of the artwork problem, ``(n, n_artworks)``: the genre each artwork shows.

        Within a title they are distinct, so an arm id identifies the artwork; across titles
        they mean the same thing, so a policy can learn which members like which style.
        """
        return self.artwork_styles[as_title_ids(title_ids, self.n_titles)]

    # ---- ground truth ------------------------------------------------------------------------

    def examination(self, positions: ArrayLike) -> NDArray[np.float64]:
        """Chance a member looks at each (0-based) position of a row: the position-bias curve."""
        pos = np.asarray(positions, dtype=np.float64)
        if np.any(pos < 0):
            raise InvalidInputError("positions must be >= 0 (the first slot is 0)")
        return np.asarray((1.0 + pos) ** -self.config.position_decay, dtype=np.float64)

    def _terms(
        self, members: Members, titles: NDArray[np.int64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """(logit without artwork, personal affinity, artwork appeal) for (n, m) titles."""
        cfg = self.config
        genre = np.einsum("ng,nmg->nm", members.taste, self._genre_unit[titles])
        latent = np.einsum("nd,nmd->nm", members.latent, self.title_latent[titles])
        pair = (members.ids[:, None] * np.int64(cfg.n_titles) + titles).ravel()
        noise = hashed_normals(self._keys[_PAIR], pair, 1).reshape(titles.shape)
        personal = (
            cfg.genre_weight * genre + cfg.latent_weight * latent + cfg.idiosyncratic_sd * noise
        )
        logit = cfg.base_logit + cfg.popularity_weight * self.log_popularity[titles] + personal
        styles = self.artwork_styles[titles]  # (n, m, A)
        liked = np.take_along_axis(members.taste, styles.reshape(len(titles), -1), axis=1)
        appeal = cfg.artwork_weight * liked.reshape(styles.shape) + self.artwork_quality[titles]
        return logit, personal, appeal

    def _artwork_probs(
        self, members: Members, titles: NDArray[np.int64], positions: NDArray[np.float64] | None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """P(play) for each artwork, (n, m, A), and the mean completion of a play, (n, m)."""
        cfg = self.config
        logit, personal, appeal = self._terms(members, titles)
        attract = 1.0 / (1.0 + np.exp(-(logit[:, :, None] + appeal)))
        if positions is not None:
            attract *= self.examination(positions)[..., None]
        completion = 1.0 / (1.0 + np.exp(-(cfg.completion_bias + cfg.completion_weight * personal)))
        return attract, completion

    def _rows_per_chunk(self, width: int) -> int:
        """Members per chunk so that a chunk evaluates about ``_PAIR_BUDGET`` artwork cells."""
        return max(1, _PAIR_BUDGET // max(1, width * self.n_artworks))

    def _row_truth(
        self, ids: NDArray[np.int64], titles: NDArray[np.int64], weights: ArtworkWeights
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """P(play) and mean completion of a play, ``(n, k)``, of rows shown at positions 0..k-1."""
        k = titles.shape[1]
        positions = np.arange(k, dtype=np.float64)
        prob = np.empty(titles.shape, dtype=np.float64)
        completion = np.empty(titles.shape, dtype=np.float64)
        step = self._rows_per_chunk(k)
        for lo in range(0, len(ids), step):
            hi = lo + step
            probs, comp = self._artwork_probs(self._members(ids[lo:hi]), titles[lo:hi], positions)
            prob[lo:hi] = np.einsum("nka,nka->nk", probs, weights.chunk(lo, hi))
            completion[lo:hi] = comp
        return prob, completion

    def _checked_rows(
        self, member_ids: ArrayLike, slates: ArrayLike, artworks: Artworks
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], ArtworkWeights]:
        ids = as_member_ids(member_ids, self.n_members)
        titles = as_slates(slates, len(ids), self.n_titles)
        return ids, titles, as_artwork_weights(artworks, titles.shape, self.n_artworks)

    def play_probabilities(
        self, member_ids: ArrayLike, slates: ArrayLike, artworks: Artworks = None
    ) -> NDArray[np.float64]:
        """Exact P(play), ``(n, k)``, of each title shown in each row at positions 0..k-1."""
        return self._row_truth(*self._checked_rows(member_ids, slates, artworks))[0]

    def expected_plays(
        self, member_ids: ArrayLike, slates: ArrayLike, artworks: Artworks = None
    ) -> NDArray[np.float64]:
        """Exact expected plays in one session per row (member ``i`` shown ``slates[i]``)."""
        return self.play_probabilities(member_ids, slates, artworks).sum(axis=1)

    def expected_watch_seconds(
        self, member_ids: ArrayLike, slates: ArrayLike, artworks: Artworks = None
    ) -> NDArray[np.float64]:
        """Exact expected seconds watched in one session per row."""
        ids, titles, weights = self._checked_rows(member_ids, slates, artworks)
        prob, completion = self._row_truth(ids, titles, weights)
        return np.sum(prob * completion * self.runtimes[titles], axis=1)

    def artwork_play_probabilities(
        self, member_ids: ArrayLike, title_ids: ArrayLike, positions: ArrayLike | None = None
    ) -> NDArray[np.float64]:
        """Exact P(play), ``(n, n_artworks)``, of title ``i`` shown to member ``i`` per artwork.

        ``positions`` (default 0, the first slot) applies the position-bias curve.
        """
        ids = as_member_ids(member_ids, self.n_members)
        titles = as_title_ids(title_ids, self.n_titles, length=len(ids))
        pos = np.zeros(len(ids)) if positions is None else np.asarray(positions, dtype=np.float64)
        if pos.ndim == 0:
            pos = np.full(len(ids), float(pos))
        if pos.shape != (len(ids),):
            raise InvalidInputError(
                f"positions has shape {pos.shape}; give one position per member ({len(ids)},)"
            )
        out = np.empty((len(ids), self.n_artworks), dtype=np.float64)
        step = self._rows_per_chunk(1)
        for lo in range(0, len(ids), step):
            hi = lo + step
            probs, _ = self._artwork_probs(
                self._members(ids[lo:hi]), titles[lo:hi, None], pos[lo:hi, None]
            )
            out[lo:hi] = probs[:, 0, :]
        return out

    def artwork_policy_value(
        self,
        member_ids: ArrayLike,
        title_ids: ArrayLike,
        policy: ArrayLike | Callable[[NDArray[np.float64], NDArray[np.int64]], ArrayLike],
        positions: ArrayLike | None = None,
    ) -> float:
        """True expected reward (plays per decision) of an artwork policy on these decisions.

        ``policy`` is an ``(n, n_artworks)`` array of action probabilities, or a function
        ``(contexts, candidates) -> probabilities`` called with :meth:`contexts` and
        :meth:`artwork_candidates` of the decisions.
        """
        ids = as_member_ids(member_ids, self.n_members)
        titles = as_title_ids(title_ids, self.n_titles, length=len(ids))
        if callable(policy):
            policy = policy(self._members(ids).features, self.artwork_styles[titles])
        arr = np.asarray(policy)
        if arr.ndim in (1, 2):  # chosen indices (n,) or probabilities (n, n_artworks)
            arr = arr[:, None] if arr.ndim == 1 else arr[:, None, :]
        weights = as_artwork_weights(arr, (len(ids), 1), self.n_artworks).chunk(0, len(ids))
        probs = self.artwork_play_probabilities(ids, titles, positions)
        return float(np.mean(np.sum(probs * weights[:, 0, :], axis=1)))

    def optimal_artworks(self, member_ids: ArrayLike, title_ids: ArrayLike) -> NDArray[np.int64]:
        """The artwork with the highest true play probability per (member, title) decision."""
        return np.argmax(self.artwork_play_probabilities(member_ids, title_ids), axis=1)

    def ranker_value(
        self, member_ids: ArrayLike, slates: ArrayLike, artworks: Artworks = None
    ) -> float:
        """True expected plays per session when member ``i`` is always shown ``slates[i]``.

        Sessions come from members in proportion to their activity, so this is the
        activity-weighted mean of :meth:`expected_plays`.
        """
        ids = as_member_ids(member_ids, self.n_members)
        plays = self.expected_plays(ids, slates, artworks)
        activity = self._activity(ids)
        return float(np.sum(activity * plays) / np.sum(activity))

    def expected_plays_per_member(
        self, member_ids: ArrayLike, slates: ArrayLike, days: float, artworks: Artworks = None
    ) -> NDArray[np.float64]:
        """Exact expected plays of each member over ``days`` (the usual A/B metric's mean)."""
        if not days > 0:
            raise InvalidInputError(f"days={days} must be > 0")
        ids = as_member_ids(member_ids, self.n_members)
        return self._activity(ids) * days * self.expected_plays(ids, slates, artworks)

    def true_lift(
        self,
        member_ids: ArrayLike,
        control_slates: ArrayLike,
        treatment_slates: ArrayLike,
        control_artworks: Artworks = None,
        treatment_artworks: Artworks = None,
    ) -> Lift:
        """True plays per session of two rankers (or artwork choices) over the same members."""
        ids = as_member_ids(member_ids, self.n_members)
        return Lift(
            control=self.ranker_value(ids, control_slates, control_artworks),
            treatment=self.ranker_value(ids, treatment_slates, treatment_artworks),
        )

    # ---- reference rankers -------------------------------------------------------------------

    def popular_slates(self, member_ids: ArrayLike, k: int | None = None) -> NDArray[np.int64]:
        """The k most popular titles for every member (the non-personal baseline)."""
        ids = as_member_ids(member_ids, self.n_members)
        k = as_k(k, self.config.row_size, self.n_titles)
        top = np.argsort(-self.popularity, kind="stable")[:k]
        return np.tile(top, (len(ids), 1))

    def best_slates(self, member_ids: ArrayLike, k: int | None = None) -> NDArray[np.int64]:
        """The k titles with the highest true play chance per member (under random artwork)."""
        ids = as_member_ids(member_ids, self.n_members)
        k = as_k(k, self.config.row_size, self.n_titles)
        t = self.n_titles
        out = np.empty((len(ids), k), dtype=np.int64)
        step = self._rows_per_chunk(t)
        all_titles = np.arange(t, dtype=np.int64)
        for lo in range(0, len(ids), step):
            chunk = ids[lo : lo + step]
            titles = np.broadcast_to(all_titles, (len(chunk), t))
            probs, _ = self._artwork_probs(self._members(chunk), titles, None)
            score = probs.mean(axis=2)
            top = np.argpartition(-score, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(score, top, axis=1), axis=1, kind="stable")
            out[lo : lo + step] = np.take_along_axis(top, order, axis=1)
        return out
