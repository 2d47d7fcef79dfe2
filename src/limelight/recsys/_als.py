"""Implicit-feedback ALS (Hu, Koren & Volinsky, 2008) with a batched conjugate-gradient solver.

Each half-step solves, for every user (then every item), ``A_u x_u = b_u`` with
``A_u = Y^T Y + reg I + alpha * sum_i r_ui y_i y_i^T`` and ``b_u = sum_i (1 + alpha r_ui) y_i``:
the confidence of an observed pair is ``1 + alpha * r_ui``. ``A_u`` is formed in BLAS, rows of
similar length padded into blocks so one batched matrix product serves many users, and a few
conjugate-gradient steps warm-started from the previous factors refine ``x_u`` (Takacs et al.,
2011), all users of a chunk at once. Chunks run on a small thread pool (numpy releases the GIL).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from limelight.core.errors import InvalidInputError
from limelight.recsys._base import Recommender, State, _array, blas_threads

__all__ = ["ImplicitALS"]

_BLOCK_ELEMS = 1 << 15  # padded interactions per batched matrix product
_CHUNK_ROWS = 2048  # users (or items) solved together


@dataclass(frozen=True)
class _Block:
    start: int  # position of the block's first row in the chunk
    index: np.ndarray  # (rows * width,) indices into the factor matrix with a zero row appended
    weight: np.ndarray | None  # alpha * r per padded slot, None when every r is 1
    width: int


@dataclass(frozen=True)
class _Chunk:
    rows: np.ndarray
    blocks: list[_Block]


def _layout(C: sp.csr_matrix, binary: bool, alpha: float) -> list[_Chunk]:
    """Rows sorted by length and cut into chunks of padded blocks (computed once per fit)."""
    n, m = C.shape
    counts = np.diff(C.indptr)
    order = np.argsort(counts, kind="stable")
    chunks: list[_Chunk] = []
    for c0 in range(0, n, _CHUNK_ROWS):
        rows = order[c0 : c0 + _CHUNK_ROWS]
        blocks: list[_Block] = []
        s = 0
        while s < len(rows):
            width = max(int(counts[rows[s]]), 1)
            # Rows are sorted by length, so the last row of a block sets its width.
            e = s + 1
            while e < len(rows) and (e - s + 1) * max(int(counts[rows[e]]), 1) <= _BLOCK_ELEMS:
                e += 1
            width = max(int(counts[rows[e - 1]]), 1)
            r = rows[s:e]
            pos = np.arange(width)[None, :]
            valid = pos < counts[r][:, None]
            src = np.where(valid, C.indptr[r][:, None] + pos, 0)
            index = np.where(valid, C.indices[src], m).ravel().astype(np.intp)
            weight = None
            if not binary:
                weight = np.where(valid, alpha * C.data[src], 0.0).astype(np.float32).ravel()
            blocks.append(_Block(s, index, weight, width))
            s = e
        chunks.append(_Chunk(rows, blocks))
    return chunks


class _Scratch:
    """Per-thread buffers reused across blocks: fresh large arrays would page-fault each time."""

    def __init__(self, factors: int) -> None:
        self._factors = factors
        self._local = threading.local()

    def get(self) -> tuple[np.ndarray, np.ndarray]:
        bufs: tuple[np.ndarray, np.ndarray] | None = getattr(self._local, "bufs", None)
        if bufs is None:
            f = self._factors
            bufs = (
                np.empty((_BLOCK_ELEMS, f), np.float32),
                np.empty((_CHUNK_ROWS, f, f), np.float32),
            )
            self._local.bufs = bufs
        return bufs


class ImplicitALS(Recommender):
    """Matrix factorisation for implicit feedback, fitted by alternating least squares.

    ``factors`` latent dimensions, L2 ``regularization``, confidence ``1 + alpha * r``,
    ``iterations`` sweeps of ``cg_steps`` conjugate-gradient steps; ``threads`` workers
    (0: one per CPU); ``random_state`` seeds the initial factors.
    """

    _params = (
        "factors",
        "regularization",
        "alpha",
        "iterations",
        "cg_steps",
        "threads",
        "random_state",
    )

    user_factors_: np.ndarray
    item_factors_: np.ndarray

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 5.0,
        alpha: float = 2.0,
        iterations: int = 15,
        cg_steps: int = 3,
        threads: int = 0,
        random_state: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.threads = threads
        self.random_state = random_state

    def _check_params(self) -> None:
        for name, low in (("factors", 1), ("iterations", 1), ("cg_steps", 1), ("threads", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidInputError(
                    f"ImplicitALS {name} must be an integer >= {low}, got {value!r}"
                )
        for name in ("regularization", "alpha"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise InvalidInputError(f"ImplicitALS {name} must be >= 0, got {value!r}")
        if not isinstance(self.random_state, int):
            raise InvalidInputError(
                f"ImplicitALS random_state must be an int, got {self.random_state!r}"
            )

    def _fit(self, X: sp.csr_matrix) -> None:
        rng = np.random.default_rng(self.random_state)
        f = self.factors
        U = rng.random((X.shape[0], f), dtype=np.float32) * np.float32(0.01)
        V = rng.random((X.shape[1], f), dtype=np.float32) * np.float32(0.01)
        binary = bool(np.all(X.data == 1.0))
        XT = X.T.tocsr()
        sides = []
        for C in (X, XT):
            Cb = C.copy()
            Cb.data = (1.0 + self.alpha * Cb.data).astype(np.float32)
            sides.append((Cb, _layout(C, binary, self.alpha)))
        threads = self.threads or os.cpu_count() or 1
        scratch = _Scratch(f)
        with blas_threads(1), ThreadPoolExecutor(threads) as pool:
            for _ in range(self.iterations):
                self._half(U, V, *sides[0], binary, pool, scratch)
                self._half(V, U, *sides[1], binary, pool, scratch)
        self.user_factors_ = U
        self.item_factors_ = V

    def _half(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        Cb: sp.csr_matrix,
        chunks: list[_Chunk],
        binary: bool,
        pool: ThreadPoolExecutor,
        scratch: _Scratch,
    ) -> None:
        """Update every row of ``X`` given the fixed factors ``Y`` (in place)."""
        f = Y.shape[1]
        base = (Y.T @ Y).astype(np.float32)
        base[np.diag_indices(f)] += np.float32(self.regularization)
        Yext = np.vstack([Y, np.zeros((1, f), dtype=np.float32)])
        b_all = np.asarray(Cb @ Y, dtype=np.float32)

        def work(chunk: _Chunk) -> None:
            gathered, gram = scratch.get()
            A = gram[: len(chunk.rows)]
            for block in chunk.blocks:
                if len(block.index) <= len(gathered):
                    flat = np.take(Yext, block.index, axis=0, out=gathered[: len(block.index)])
                else:  # one row longer than a block
                    flat = Yext[block.index]
                Yp = flat.reshape(-1, block.width, f)
                n = Yp.shape[0]
                Yw = Yp if block.weight is None else Yp * block.weight.reshape(n, -1, 1)
                np.matmul(Yw.transpose(0, 2, 1), Yp, out=A[block.start : block.start + n])
            if binary:
                A *= np.float32(self.alpha)
            A += base
            X[chunk.rows] = _cg(A, b_all[chunk.rows], X[chunk.rows], self.cg_steps)

        list(pool.map(work, chunks))

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_.T

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        V = self.item_factors_
        f = V.shape[1]
        base = V.T @ V + self.regularization * np.eye(f, dtype=np.float32)
        out = np.empty((history.shape[0], V.shape[0]), dtype=np.float32)
        for row, (items, r) in enumerate(_rows(history)):
            Vi = V[items]
            A = base + self.alpha * (Vi.T * r) @ Vi
            b = ((1.0 + self.alpha * r) @ Vi).astype(np.float32)
            x = np.linalg.solve(A.astype(np.float64), b.astype(np.float64)).astype(np.float32)
            out[row] = V @ x
        return out

    def _similar_scores(self, items: np.ndarray) -> np.ndarray:
        V = self.item_factors_
        norms = np.linalg.norm(V, axis=1)
        norms[norms == 0] = 1.0
        return (V[items] @ V.T) / (norms[items, None] * norms[None, :])

    def _model_state(self) -> State:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _load_model_state(self, state: State) -> None:
        self.user_factors_ = _array(state["user_factors"])
        self.item_factors_ = _array(state["item_factors"])


def _rows(M: sp.csr_matrix) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for r in range(M.shape[0]):
        lo, hi = M.indptr[r], M.indptr[r + 1]
        yield M.indices[lo:hi], M.data[lo:hi].astype(np.float32)


def _cg(A: np.ndarray, b: np.ndarray, x: np.ndarray, steps: int) -> np.ndarray:
    """A few conjugate-gradient steps on the batched SPD systems ``A x = b`` from ``x``."""
    x = x.copy()
    r = b - np.einsum("nij,nj->ni", A, x)
    p = r.copy()
    rs = np.einsum("ni,ni->n", r, r)
    for _ in range(steps):
        Ap = np.einsum("nij,nj->ni", A, p)
        denom = np.einsum("ni,ni->n", p, Ap)
        step = np.divide(rs, denom, out=np.zeros_like(rs), where=denom > 0)
        x += step[:, None] * p
        r -= step[:, None] * Ap
        rs_new = np.einsum("ni,ni->n", r, r)
        beta = np.divide(rs_new, rs, out=np.zeros_like(rs), where=rs > 0)
        p = r + beta[:, None] * p
        rs = rs_new
    return x
