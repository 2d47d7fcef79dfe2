"""Ranking metrics over the full catalogue, vectorised over users.

No sampled negatives: every item the user did not train on is a candidate. For a user with
held-out set ``T`` and top-``k`` list ``L`` (training items excluded):

- ``ndcg@k``: ``sum_{j: L_j in T} 1/log2(j+2)`` over the ideal ``sum_{j < min(k,|T|)} 1/log2(j+2)``
- ``recall@k``: ``hits / |T|``; ``capped_recall@k``: ``hits / min(k, |T|)``
- ``precision@k``: ``hits / k``; ``hit_rate@k``: 1 if any hit
- ``map@k``: ``sum_j precision@j * [L_j in T] / min(k, |T|)``
- ``mrr@k``: ``1 / rank`` of the first hit (0 without one)

and over all lists: ``coverage@k`` (share of the catalogue recommended to anyone) and
``popularity@k`` (mean training popularity of the recommended items, in interactions).
Per-user metrics are averaged over users with at least one held-out item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from limelight.core.errors import InvalidInputError
from limelight.recsys._base import Recommender
from limelight.recsys._interactions import Interactions

__all__ = ["evaluate", "ranking_metrics"]

_BATCH = 2048


def _hits(recommended: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean (users x K): whether each recommended item is in that user's held-out set."""
    n_users = recommended.shape[0]
    n_items = relevant.shape[1]
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(relevant.indptr))
    keys = rows * n_items + relevant.indices  # sorted: CSR with sorted indices
    wanted = np.arange(n_users, dtype=np.int64)[:, None] * n_items + recommended
    pos = np.searchsorted(keys, wanted)
    pos = np.minimum(pos, max(len(keys) - 1, 0))
    return (
        (keys[pos] == wanted) & (recommended >= 0)
        if len(keys)
        else np.zeros_like(recommended, dtype=bool)
    )


def ranking_metrics(
    recommended: np.ndarray,
    relevant: sp.spmatrix | sp.sparray,
    k: int | Sequence[int] = (10, 20),
    *,
    item_popularity: np.ndarray | None = None,
    per_user: bool = False,
) -> dict[str, Any]:
    """Metrics of ranked lists ``recommended`` (users x K item indices) against ``relevant``.

    ``relevant`` is a users x items sparse matrix of held-out items, row for row with
    ``recommended``; rows without held-out items are skipped. With ``per_user`` each
    per-user metric is an array over the evaluated users instead of its mean.
    """
    ks = [k] if isinstance(k, int | np.integer) else list(k)
    recommended = np.asarray(recommended)
    if recommended.ndim != 2:
        raise InvalidInputError("recommended must be a 2-D array: one ranked list per user")
    rel = sp.csr_matrix(relevant)
    if rel.shape[0] != recommended.shape[0]:
        raise InvalidInputError(
            f"recommended has {recommended.shape[0]} rows but relevant has {rel.shape[0]}"
        )
    if not ks or any(int(x) < 1 or int(x) > recommended.shape[1] for x in ks):
        raise InvalidInputError(
            f"each k must be between 1 and the list length {recommended.shape[1]}, got {ks}"
        )
    rel.sum_duplicates()
    rel.sort_indices()
    n_rel = np.diff(rel.indptr)
    users = np.flatnonzero(n_rel > 0)
    if len(users) == 0:
        raise InvalidInputError("no user has a held-out item; nothing to evaluate")
    hits = _hits(recommended[users], rel[users])
    n_rel = n_rel[users].astype(np.float64)
    n_items = rel.shape[1]
    depth = max(int(x) for x in ks)
    discount = 1.0 / np.log2(np.arange(depth) + 2.0)
    ideal_cum = np.cumsum(discount)
    out: dict[str, Any] = {}
    for kk in sorted(int(x) for x in ks):
        h = hits[:, :kk]
        n_hits = h.sum(axis=1)
        ideal = ideal_cum[np.minimum(n_rel, kk).astype(np.int64) - 1]
        cum_hits = np.cumsum(h, axis=1)
        prec_at = cum_hits / np.arange(1, kk + 1)
        first = np.where(h.any(axis=1), h.argmax(axis=1) + 1, 0)
        per = {
            f"ndcg@{kk}": (h * discount[:kk]).sum(axis=1) / ideal,
            f"recall@{kk}": n_hits / n_rel,
            f"capped_recall@{kk}": n_hits / np.minimum(n_rel, kk),
            f"precision@{kk}": n_hits / kk,
            f"map@{kk}": (prec_at * h).sum(axis=1) / np.minimum(n_rel, kk),
            f"mrr@{kk}": np.divide(1.0, first, out=np.zeros(len(first)), where=first > 0),
            f"hit_rate@{kk}": (n_hits > 0).astype(np.float64),
        }
        for name, values in per.items():
            out[name] = values if per_user else float(values.mean())
        lists = recommended[users, :kk]
        shown = np.unique(lists[lists >= 0])
        out[f"coverage@{kk}"] = len(shown) / n_items
        if item_popularity is not None:
            out[f"popularity@{kk}"] = float(np.asarray(item_popularity)[lists[lists >= 0]].mean())
    out["users"] = len(users)
    return out


def evaluate(
    model: Recommender,
    test: Interactions | sp.spmatrix | sp.sparray,
    k: int | Sequence[int] = (10, 20),
    *,
    exclude_seen: bool = True,
    per_user: bool = False,
) -> dict[str, Any]:
    """Full-catalogue ranking metrics of a fitted model on held-out interactions.

    ``test`` must share the model's id maps (a split of the data it was fitted on, or a
    matrix of the same shape). Items the model trained on are excluded from each user's list.
    """
    model._check_fitted()
    if isinstance(test, Interactions):
        if not (
            np.array_equal(test.item_ids, model.item_ids_)
            and np.array_equal(test.user_ids, model.user_ids_)
        ):
            raise InvalidInputError(
                "test interactions do not share the model's id maps; split one Interactions "
                "with limelight.recsys splits and fit on the train part"
            )
        rel = test.matrix("binary")
    else:
        rel = sp.csr_matrix(test)
        if rel.shape != model.user_items_.shape:
            raise InvalidInputError(
                f"test matrix has shape {rel.shape}, the model was fitted on "
                f"{model.user_items_.shape}"
            )
    ks = [k] if isinstance(k, int | np.integer) else list(k)
    if not ks:
        raise InvalidInputError("k must be a positive integer or a non-empty list of them")
    depth = model._check_k(max(int(x) for x in ks))
    users = np.flatnonzero(np.diff(rel.indptr) > 0)
    if len(users) == 0:
        raise InvalidInputError("the test set has no interactions; nothing to evaluate")
    recommended = np.empty((len(users), depth), dtype=np.int64)
    for start in range(0, len(users), _BATCH):
        batch = users[start : start + _BATCH]
        recommended[start : start + len(batch)], _ = model.recommend_indices(
            batch, depth, exclude_seen=exclude_seen
        )
    return ranking_metrics(
        recommended, rel[users], ks, item_popularity=model.item_popularity_, per_user=per_user
    )
