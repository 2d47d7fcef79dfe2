"""Implicit-feedback ALS (Hu, Koren & Volinsky, 2008) with a batched conjugate-gradient solver.

Each half-step solves, for every user (then every item), ``A_u x_u = b_u`` with
``A_u = Y^T Y + reg I + alpha * sum_i r_ui y_i y_i^T`` and ``b_u = sum_i (1 + alpha r_ui) y_i``:
the confidence of an observed pair is ``1 + alpha * r_ui``. A few conjugate-gradient steps,
warm-started from the previous factors, refine ``x_u`` (Takacs et al., 2011) without ever
forming ``A_u``: each product ``A_u v`` is ``Y^T Y v + reg v + Y_u^T (alpha r_u * (Y_u v))``.
Users with similar numbers of interactions are padded into small blocks (kept in cache) whose
factor rows are gathered once, so every product is two batched matrix products for the whole
block. Chunks of blocks run on a small thread pool (numpy releases the GIL).
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

_BLOCK_ELEMS = 1 << 14  # padded interactions per block (its gathered factors stay in cache)


@dataclass(frozen=True)
class _Block:
    """Rows of similar length, padded to one width: a unit of work of about equal size."""

    rows: np.ndarray
    index: np.ndarray  # (rows * width,) indices into the factor matrix with a zero row appended
    weight: np.ndarray | None  # (rows, width, 1): alpha * r per padded slot; None if r is 1
    confidence: np.ndarray  # (rows, width, 1): 1 + alpha * r per slot, 0 in padding
    width: int


def _layout(C: sp.csr_matrix, binary: bool, alpha: float) -> list[_Block]:
    """Rows sorted by length and cut into padded blocks (computed once per fit)."""
    m = C.shape[1]
    counts = np.diff(C.indptr)
    order = np.argsort(counts, kind="stable")
    widths = np.maximum(counts[order], 1)
    blocks: list[_Block] = []
    s = 0
    while s < len(order):
        # Rows are sorted by length, so the last row of a block sets its width.
        e = s + 1
        while e < len(order) and (e - s + 1) * int(widths[e]) <= _BLOCK_ELEMS:
            e += 1
        rows = order[s:e]
        width = int(widths[e - 1])
        pos = np.arange(width)[None, :]
        valid = pos < counts[rows][:, None]
        src = np.where(valid, C.indptr[rows][:, None] + pos, 0)
        index = np.where(valid, C.indices[src], m).ravel().astype(np.intp)
        scaled = np.where(valid, alpha * C.data[src], 0.0).astype(np.float32)[:, :, None]
        confidence = np.where(valid[:, :, None], 1.0 + scaled, 0.0).astype(np.float32)
        blocks.append(_Block(rows, index, None if binary else scaled, confidence, width))
        s = e
    return blocks


class _Scratch:
    """A per-thread buffer for gathered factor rows, reused across blocks."""

    def __init__(self, factors: int) -> None:
        self._factors = factors
        self._local = threading.local()

    def get(self) -> np.ndarray:
        buf: np.ndarray | None = getattr(self._local, "buf", None)
        if buf is None:
            buf = np.empty((_BLOCK_ELEMS, self._factors), np.float32)
            self._local.buf = buf
        return buf


class ImplicitALS(Recommender):
    """Matrix factorisation for implicit feedback, fitted by alternating least squares.

    ``factors`` latent dimensions, L2 ``regularization``, confidence ``1 + alpha * r``,
    ``iterations`` sweeps of ``cg_steps`` conjugate-gradient steps; ``threads`` workers
    (0: one per CPU); ``random_state`` seeds the initial factors. (The ``implicit`` library
    weighs an observed pair by ``alpha * r``: its ``alpha = 1 + ours`` on binary data solves
    the same systems.)
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
        user_blocks = _layout(X, binary, self.alpha)
        item_blocks = _layout(XT, binary, self.alpha)
        threads = self.threads or os.cpu_count() or 1
        scratch = _Scratch(f)
        with blas_threads(1), ThreadPoolExecutor(threads) as executor:
            pool = executor if threads > 1 else None
            for _ in range(self.iterations):
                self._half(U, V, user_blocks, pool, scratch)
                self._half(V, U, item_blocks, pool, scratch)
        self.user_factors_ = U
        self.item_factors_ = V

    def _half(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        blocks: list[_Block],
        pool: ThreadPoolExecutor | None,
        scratch: _Scratch,
    ) -> None:
        """Update every row of ``X`` given the fixed factors ``Y`` (in place)."""
        f = Y.shape[1]
        base = (Y.T @ Y).astype(np.float32)
        base[np.diag_indices(f)] += np.float32(self.regularization)
        Yext = np.vstack([Y, np.zeros((1, f), dtype=np.float32)])
        alpha = np.float32(self.alpha)

        def work(block: _Block) -> None:
            gathered = scratch.get()
            if len(block.index) <= len(gathered):
                flat = np.take(Yext, block.index, axis=0, out=gathered[: len(block.index)])
            else:  # one row longer than a block
                flat = Yext[block.index]
            Yp = flat.reshape(-1, block.width, f)
            weight = alpha if block.weight is None else block.weight
            rows = block.rows
            X[rows] = _cg(Yp, weight, block.confidence, base, X[rows], self.cg_steps)

        if pool is None:
            for block in blocks:
                work(block)
        else:
            list(pool.map(work, blocks))

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        # items x users, transposed: BLAS runs this shape about twice as fast for a few users
        return (self.item_factors_ @ self.user_factors_[users].T).T

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


def _cg(
    Yp: np.ndarray,
    weight: np.ndarray | np.float32,
    confidence: np.ndarray,
    base: np.ndarray,
    x: np.ndarray,
    steps: int,
) -> np.ndarray:
    """``steps`` conjugate-gradient steps from ``x`` on ``(base + Yp^T W Yp) x = Yp^T c``.

    Batched over rows: ``Yp`` is (rows, width, f) with zero rows as padding, ``weight`` is
    ``alpha * r`` per slot and ``c`` the ``confidence`` ``1 + alpha * r`` (0 in padding).
    """
    YpT = Yp.transpose(0, 2, 1)

    def matvec(v: np.ndarray) -> np.ndarray:
        t = np.matmul(Yp, v[:, :, None])
        t *= weight
        out: np.ndarray = np.matmul(YpT, t)[:, :, 0]
        out += v @ base
        return out

    # r = b - A x in one pass: Yp^T (c - W (Yp x)) - base x
    t = np.matmul(Yp, x[:, :, None])
    t *= weight
    np.subtract(confidence, t, out=t)
    r = np.matmul(YpT, t)[:, :, 0]
    r -= x @ base
    p = r.copy()
    rs = np.einsum("ni,ni->n", r, r)
    for _ in range(steps):
        Ap = matvec(p)
        denom = np.einsum("ni,ni->n", p, Ap)
        step = np.divide(rs, denom, out=np.zeros_like(rs), where=denom > 0)
        x += step[:, None] * p
        r -= step[:, None] * Ap
        rs_new = np.einsum("ni,ni->n", r, r)
        beta = np.divide(rs_new, rs, out=np.zeros_like(rs), where=rs > 0)
        p = r + beta[:, None] * p
        rs = rs_new
    return x
