"""Item-based k-nearest neighbours with cosine similarity, kept sparse."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from limelight.core.errors import InvalidInputError
from limelight.recsys._base import Recommender, State, _array

__all__ = ["ItemKNN"]


def _keep_top(S: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Each row of ``S`` reduced to its ``k`` largest entries."""
    counts = np.diff(S.indptr)
    if counts.max(initial=0) <= k:
        return S
    rows = np.repeat(np.arange(S.shape[0]), counts)
    # Sort entries by (row, -value) and keep the first k of each row.
    order = np.lexsort((-S.data, rows))
    rank = np.arange(len(order)) - np.repeat(S.indptr[:-1], counts)
    keep = order[rank < k]
    keep.sort()
    kept_rows = rows[keep]
    indptr = np.zeros(S.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(kept_rows, minlength=S.shape[0]), out=indptr[1:])
    out = sp.csr_matrix((S.data[keep], S.indices[keep], indptr), shape=S.shape)
    out.sort_indices()
    return out


class ItemKNN(Recommender):
    """Scores an item by its summed cosine similarity to the user's items.

    Each item keeps its ``neighbors`` most similar items; ``shrink`` damps similarities that
    rest on few common users (``cos * n / (n + shrink)`` is approximated by
    ``dot / (norm_i * norm_j + shrink)``).
    """

    _params = ("neighbors", "shrink")

    similarity_: sp.csr_matrix

    def __init__(self, *, neighbors: int = 100, shrink: float = 0.0) -> None:
        self.neighbors = neighbors
        self.shrink = shrink

    def _check_params(self) -> None:
        if (
            isinstance(self.neighbors, bool)
            or not isinstance(self.neighbors, int)
            or (self.neighbors < 1)
        ):
            raise InvalidInputError(
                f"ItemKNN neighbors must be a positive integer, got {self.neighbors!r}"
            )
        if not isinstance(self.shrink, int | float) or self.shrink < 0:
            raise InvalidInputError(f"ItemKNN shrink must be >= 0, got {self.shrink!r}")

    def _fit(self, X: sp.csr_matrix) -> None:
        Xc = X.tocsc()
        norms = np.sqrt(np.asarray(Xc.multiply(Xc).sum(axis=0)).ravel()).astype(np.float32)
        dots = (Xc.T @ Xc).tocsr()
        dots.setdiag(0)
        dots.eliminate_zeros()
        rows = np.repeat(np.arange(dots.shape[0]), np.diff(dots.indptr))
        denom = norms[rows] * norms[dots.indices] + np.float32(self.shrink)
        dots.data = (dots.data / np.maximum(denom, 1e-12)).astype(np.float32)
        self.similarity_ = _keep_top(dots, self.neighbors).astype(np.float32)

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray((history @ self.similarity_).toarray(), dtype=np.float32)

    def _similar_scores(self, items: np.ndarray) -> np.ndarray:
        return np.asarray(self.similarity_[items].toarray(), dtype=np.float32)

    def _model_state(self) -> State:
        S = self.similarity_
        return {"sim.indptr": S.indptr, "sim.indices": S.indices, "sim.data": S.data}

    def _load_model_state(self, state: State) -> None:
        n = len(_array(state["item_ids"]))
        self.similarity_ = sp.csr_matrix(
            (_array(state["sim.data"]), _array(state["sim.indices"]), _array(state["sim.indptr"])),
            shape=(n, n),
            copy=False,
        )
