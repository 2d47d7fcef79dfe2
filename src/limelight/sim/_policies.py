"""The two seams where the simulator calls a model: a ranker and an artwork policy.

They are protocols, so any recommender with ``recommend`` and any bandit with ``choose`` plugs
in without the simulator importing them.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from limelight.core.errors import InvalidInputError
from limelight.sim._checks import as_k, as_member_ids, as_slates, as_title_ids
from limelight.sim._world import World

__all__ = [
    "ArtworkPolicy",
    "Ranker",
    "artwork_probabilities",
    "choose_artworks",
    "ranker_slates",
    "uniform_artwork_probabilities",
]


@runtime_checkable
class Ranker(Protocol):
    """Anything that ranks titles for members: ``recommend(user_ids, k) -> (item_ids, scores)``."""

    def recommend(
        self, user_ids: NDArray[np.int64], k: int, exclude_seen: bool = True
    ) -> tuple[Any, Any]: ...


@runtime_checkable
class ArtworkPolicy(Protocol):
    """Anything that picks an artwork: ``choose(context, candidates) -> (arm, propensity)``.

    ``context`` is a member's context (``world.context_dim`` floats); ``candidates`` are the
    arm ids of the title's artworks (see :meth:`World.artwork_candidates`); the policy returns
    the chosen arm id (one of ``candidates``) and the probability it had of choosing it.
    """

    def choose(
        self, context: NDArray[np.float64], candidates: NDArray[np.int64]
    ) -> tuple[Any, Any]: ...


def ranker_slates(
    ranker: Ranker,
    world: World,
    member_ids: ArrayLike,
    k: int | None = None,
    exclude_seen: bool = False,
) -> NDArray[np.int64]:
    """The rows a ranker shows, ``(n, k)``, checked to be k distinct known titles per member.

    ``exclude_seen`` is passed on; it defaults to False because the world has no memory, so a
    title a member has played is still worth showing.
    """
    ids = as_member_ids(member_ids, world.n_members)
    k = as_k(k, world.config.row_size, world.n_titles)
    if not callable(getattr(ranker, "recommend", None)):
        raise InvalidInputError(
            f"{type(ranker).__name__} has no recommend(user_ids, k, exclude_seen) method"
        )
    items, _ = ranker.recommend(ids, k, exclude_seen=exclude_seen)
    slates = np.asarray(items)
    if slates.ndim != 2 or slates.shape != (len(ids), k):
        raise InvalidInputError(
            f"{type(ranker).__name__}.recommend returned item_ids of shape {slates.shape}; "
            f"the simulator needs ({len(ids)}, {k}): k titles for every member"
        )
    return as_slates(slates, len(ids), world.n_titles)


def choose_artworks(
    policy: ArtworkPolicy, world: World, member_ids: ArrayLike, slates: ArrayLike
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Ask a policy for the artwork of every shown title: (artwork indices, propensities)."""
    ids = as_member_ids(member_ids, world.n_members)
    titles = as_slates(slates, len(ids), world.n_titles)
    if not callable(getattr(policy, "choose", None)):
        raise InvalidInputError(
            f"{type(policy).__name__} has no choose(context, candidates) method"
        )
    contexts = world.contexts(ids)
    candidates = world.artwork_styles[titles]  # (n, k, A)
    artworks = np.empty(titles.shape, dtype=np.int64)
    propensities = np.empty(titles.shape, dtype=np.float64)
    for i in range(titles.shape[0]):
        for j in range(titles.shape[1]):
            arms = candidates[i, j]
            choice, propensity = policy.choose(contexts[i], arms)
            where = np.flatnonzero(arms == choice)
            if len(where) != 1:
                raise InvalidInputError(
                    f"{type(policy).__name__}.choose returned {choice!r}, which is not one of "
                    f"the candidates {arms.tolist()}; return the chosen candidate itself"
                )
            p = float(propensity)
            if not 0.0 < p <= 1.0:
                raise InvalidInputError(
                    f"{type(policy).__name__}.choose returned propensity {propensity!r}; "
                    "it must be the probability of the choice, in (0, 1]"
                )
            artworks[i, j] = where[0]
            propensities[i, j] = p
    return artworks, propensities


def artwork_probabilities(
    policy: Any, world: World, member_ids: ArrayLike, title_ids: ArrayLike
) -> NDArray[np.float64]:
    """A policy's probability of each artwork of title ``i`` for member ``i``, ``(n, n_artworks)``.

    ``policy.action_probabilities(contexts, candidate_mask)`` must return ``(n, n_arms)``
    probabilities over arm ids (a bandit built with ``n_actions=world.n_genres`` and
    ``n_features=world.context_dim``); the result feeds :meth:`World.artwork_policy_value`.
    """
    ids = as_member_ids(member_ids, world.n_members)
    titles = as_title_ids(title_ids, world.n_titles, length=len(ids))
    if not callable(getattr(policy, "action_probabilities", None)):
        raise InvalidInputError(
            f"{type(policy).__name__} has no action_probabilities(contexts, candidates) method"
        )
    arms = world.artwork_styles[titles]
    mask = np.zeros((len(ids), world.config.n_genres), dtype=bool)
    np.put_along_axis(mask, arms, True, axis=1)
    probs = np.asarray(policy.action_probabilities(world.contexts(ids), mask), dtype=np.float64)
    if probs.shape != mask.shape:
        raise InvalidInputError(
            f"{type(policy).__name__}.action_probabilities returned shape {probs.shape}; "
            f"expected {mask.shape}: one probability per arm (n_actions=world.n_genres)"
        )
    out = np.take_along_axis(probs, arms, axis=1)
    if not np.allclose(out.sum(axis=1), 1.0, atol=1e-6):
        raise InvalidInputError(
            f"{type(policy).__name__} puts probability outside a title's artworks; "
            "its probabilities over the candidates must sum to 1"
        )
    return out


def uniform_artwork_probabilities(
    contexts: NDArray[np.float64], candidates: NDArray[np.int64]
) -> NDArray[np.float64]:
    """The random-artwork baseline as an action-probability function."""
    cands = np.asarray(candidates)
    return np.full(cands.shape, 1.0 / cands.shape[-1])
