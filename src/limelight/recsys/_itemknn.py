"""Item-based k-nearest neighbours with cosine similarity, kept sparse."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from limelight.core.errors import InvalidInputError
from limelight.recsys._base import Recommender, State, _array

__all__ = ["ItemKNN"]


_BLOCK_CELLS = 1 << 24  # dense similarity cells computed at once (64 MiB of float32)


def _cosine_top(X: sp.csr_matrix, k: int, shrink: float) -> sp.csr_matrix:
    """Each item's ``k`` most cosine-similar other items, computed a block of items at a time."""
    m = X.shape[1]
    Xc = X.tocsc()
    norms = np.sqrt(np.asarray(Xc.multiply(Xc).sum(axis=0)).ravel()).astype(np.float32)
    k = min(k, m - 1)
    if k == 0:  # a catalogue of one item has no neighbours
        return sp.csr_matrix((m, m), dtype=np.float32)
    step = max(1, _BLOCK_CELLS // m)
    indices, values = [], []
    for start in range(0, m, step):
        stop = min(m, start + step)
        dots = np.asarray((Xc[:, start:stop].T @ Xc).toarray(), dtype=np.float32)
        sims = dots / np.maximum(norms[start:stop, None] * norms[None, :] + shrink, 1e-12)
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # not its own neighbour
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(sims, top, axis=1)
        indices.append(top)
        values.append(vals)
    top = np.concatenate(indices).astype(np.int32)
    vals = np.concatenate(values)
    keep = vals > 0  # items with no common user are not neighbours
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(keep.sum(axis=1), out=indptr[1:])
    out = sp.csr_matrix((vals[keep].astype(np.float32), top[keep], indptr), shape=(m, m))
    out.sort_indices()
    return out


class ItemKNN(Recommender):
    """Scores an item by its summed cosine similarity to the user's items.

    Each item keeps its ``neighbors`` most similar items (``dot / (norm_i * norm_j + shrink)``;
    ``shrink`` damps similarities between rarely seen items).
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
        self.similarity_ = _cosine_top(X, self.neighbors, float(self.shrink))

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
