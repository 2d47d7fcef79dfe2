"""Train/test splits and filters. Splits keep the id maps, so train and test line up."""

from __future__ import annotations

from typing import Literal

import numpy as np

from limelight.core.errors import InvalidInputError
from limelight.recsys._interactions import Interactions

__all__ = ["filter_interactions", "leave_last_n_out", "random_holdout", "temporal_split"]


def _rank_within_user(users: np.ndarray, key: np.ndarray) -> np.ndarray:
    """0-based rank of each interaction within its user when sorted by ``key`` ascending."""
    order = np.lexsort((key, users))
    counts = np.bincount(users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(users)) - np.repeat(starts, counts)
    return rank


def random_holdout(
    data: Interactions, test_fraction: float = 0.2, *, seed: int = 0
) -> tuple[Interactions, Interactions]:
    """Per user, a seeded random ``test_fraction`` of interactions (rounded) held out.

    Every user keeps at least one training interaction; a user with a single interaction
    keeps it in train.
    """
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInputError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    _check_nonempty(data)
    rng = np.random.default_rng(seed)
    counts = data.user_counts()
    n_test = np.minimum(np.floor(counts * test_fraction + 0.5).astype(np.int64), counts - 1)
    rank = _rank_within_user(data.user_index, rng.random(len(data)))
    is_test = rank < n_test[data.user_index]
    return data.subset(~is_test), data.subset(is_test)


def leave_last_n_out(
    data: Interactions,
    n: int = 1,
    *,
    short_users: Literal["error", "train"] = "error",
) -> tuple[Interactions, Interactions]:
    """Per user, the ``n`` latest interactions (by timestamp) held out.

    A user with ``n`` or fewer interactions would have no training data: that is an error
    unless ``short_users="train"``, which keeps all of theirs in train.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidInputError(f"n must be a positive integer, got {n!r}")
    _check_nonempty(data)
    ts = _timestamps(data, "leave_last_n_out")
    counts = data.user_counts()
    short = (counts > 0) & (counts <= n)
    if np.any(short) and short_users != "train":
        ids = data.user_ids[np.flatnonzero(short)[:5]].tolist()
        raise InvalidInputError(
            f"leave_last_n_out(n={n}) would leave {int(short.sum())} users (e.g. {ids}) "
            f"with no training data; drop them with filter_interactions("
            f"min_user_interactions={n + 1}) or pass short_users='train'"
        )
    # Rank by time, latest first; ties broken by position so the split is deterministic.
    rank = _rank_within_user(data.user_index, -ts.astype(np.float64))
    is_test = (rank < n) & ~short[data.user_index]
    return data.subset(~is_test), data.subset(is_test)


def temporal_split(
    data: Interactions,
    test_fraction: float = 0.2,
    *,
    cutoff: int | None = None,
    cold_users: Literal["drop", "keep", "error"] = "drop",
) -> tuple[Interactions, Interactions]:
    """One global time cut: interactions at or after ``cutoff`` (or the latest
    ``test_fraction`` of all interactions) are the test set.

    Test users with no training data are dropped from the test set (``cold_users="drop"``),
    kept (``"keep"``; models give them the popularity fallback) or an error (``"error"``).
    """
    _check_nonempty(data)
    ts = _timestamps(data, "temporal_split")
    if cutoff is None:
        if not 0.0 < test_fraction < 1.0:
            raise InvalidInputError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
        cutoff = int(np.quantile(ts, 1.0 - test_fraction, method="higher"))
    is_test = ts >= cutoff
    is_train = ~is_test
    if not np.any(is_train):
        raise InvalidInputError(f"cutoff {cutoff} leaves no training data; choose a later one")
    train_users = np.bincount(data.user_index[is_train], minlength=data.n_users) > 0
    cold = is_test & ~train_users[data.user_index]
    if np.any(cold):
        if cold_users == "error":
            ids = np.unique(data.user_ids[data.user_index[cold]])[:5].tolist()
            raise InvalidInputError(
                f"temporal_split leaves {len(np.unique(data.user_index[cold]))} test users "
                f"(e.g. {ids}) with no training data; pass cold_users='drop' or 'keep'"
            )
        if cold_users == "drop":
            is_test &= ~cold
    return data.subset(is_train), data.subset(is_test)


def filter_interactions(
    data: Interactions,
    *,
    min_user_interactions: int = 1,
    min_item_interactions: int = 1,
    min_rating: float | None = None,
    repeat: bool = True,
) -> Interactions:
    """Keep ratings >= ``min_rating`` and users/items with enough interactions.

    With ``repeat`` the count filters are applied until nothing changes (a k-core). The
    result is compacted: users and items left without interactions leave the id maps.
    """
    _check_nonempty(data)
    keep = np.ones(len(data), dtype=bool)
    if min_rating is not None:
        if data.rating is None:
            raise InvalidInputError(f"{data.name} has no ratings; min_rating cannot be applied")
        keep &= data.rating >= min_rating
    while True:
        users = np.bincount(data.user_index[keep], minlength=data.n_users)
        items = np.bincount(data.item_index[keep], minlength=data.n_items)
        new = (
            keep
            & (users[data.user_index] >= min_user_interactions)
            & (items[data.item_index] >= min_item_interactions)
        )
        changed = bool(np.any(new != keep))
        keep = new
        if not changed or not repeat:
            break
    if not np.any(keep):
        raise InvalidInputError(
            f"the filters leave {data.name!r} empty; lower min_user_interactions, "
            "min_item_interactions or min_rating"
        )
    return data.subset(keep).compact()


def _check_nonempty(data: Interactions) -> None:
    if not isinstance(data, Interactions):
        raise InvalidInputError(f"expected Interactions, got {type(data).__name__}")
    if len(data) == 0:
        raise InvalidInputError(f"dataset {data.name!r} is empty: nothing to split or filter")


def _timestamps(data: Interactions, what: str) -> np.ndarray:
    if data.timestamp is None:
        raise InvalidInputError(
            f"{what} needs timestamps but {data.name!r} has none; use random_holdout"
        )
    return data.timestamp
