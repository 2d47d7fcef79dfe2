"""EASE: a closed-form linear item-item model (Steck, "Embarrassingly Shallow Autoencoders", 2019).

``B = I - P / diag(P)`` with ``P = (X^T X + l2 I)^-1`` and a zero diagonal. The Gram matrix is
inverted in float32 through its Cholesky factor (it is symmetric positive definite), which costs
a third of a general inverse.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from limelight.core.errors import InvalidInputError
from limelight.recsys._base import Recommender, State, _array, blas_threads

__all__ = ["EASE"]


def _spd_inverse(G: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix, in place where LAPACK allows."""
    potrf, potri = scipy.linalg.get_lapack_funcs(("potrf", "potri"), (G,))
    c, info = potrf(G, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise InvalidInputError(
            f"the Gram matrix is not positive definite (LAPACK info {info}); raise l2"
        )
    inv, info = potri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise InvalidInputError(f"inverting the Gram matrix failed (LAPACK info {info}); raise l2")
    # potri fills the upper triangle only.
    upper = np.triu(inv)
    out: np.ndarray = upper + np.triu(inv, 1).T
    return out


class EASE(Recommender):
    """Closed-form item-item regression with L2 penalty ``l2`` (float32 throughout).

    ``dropout`` adds the item-wise penalty ``dropout / (1 - dropout) * G_ii`` of emphasized
    denoising (Steck, 2020); ``user_weight`` (beta) weighs each user's row by
    ``n_u ** -beta`` in the Gram matrix so that the heaviest users do not dominate the
    item-item weights. Both default to 0: the textbook EASE. ``threads`` BLAS threads
    factorise the Gram matrix (one is fastest on a busy machine; 0 leaves BLAS's setting).
    """

    _params = ("l2", "dropout", "user_weight", "threads")

    B_: np.ndarray

    def __init__(
        self,
        *,
        l2: float = 500.0,
        dropout: float = 0.0,
        user_weight: float = 0.0,
        threads: int = 1,
    ) -> None:
        self.l2 = l2
        self.dropout = dropout
        self.user_weight = user_weight
        self.threads = threads

    def _check_params(self) -> None:
        if not isinstance(self.l2, int | float) or not self.l2 > 0:
            raise InvalidInputError(f"EASE l2 must be a positive number, got {self.l2!r}")
        if not isinstance(self.dropout, int | float) or not 0.0 <= self.dropout < 1.0:
            raise InvalidInputError(f"EASE dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.user_weight, int | float) or not 0.0 <= self.user_weight <= 1.0:
            raise InvalidInputError(f"EASE user_weight must be in [0, 1], got {self.user_weight!r}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 0:
            raise InvalidInputError(f"EASE threads must be an integer >= 0, got {self.threads!r}")

    def _fit(self, X: sp.csr_matrix) -> None:
        Xw = X
        if self.user_weight:
            counts = np.maximum(np.diff(X.indptr), 1).astype(np.float32)
            Xw = sp.csr_matrix(X.multiply((counts ** -np.float32(self.user_weight))[:, None]))
        # G is symmetric, so its C-ordered buffer read as Fortran order is G itself.
        G = np.asarray((X.T @ Xw).toarray(), dtype=np.float32).T
        diag = np.diag_indices_from(G)
        G[diag] += np.float32(self.l2) + np.float32(self.dropout / (1.0 - self.dropout)) * G[diag]
        with blas_threads(self.threads):
            P = _spd_inverse(G)
        B = P / (-np.diag(P))[None, :]
        B[np.diag_indices_from(B)] = 0.0
        self.B_ = np.ascontiguousarray(B, dtype=np.float32)

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray(history @ self.B_, dtype=np.float32)

    def _similar_scores(self, items: np.ndarray) -> np.ndarray:
        return self.B_[items]

    def _model_state(self) -> State:
        return {"B": self.B_}

    def _load_model_state(self, state: State) -> None:
        self.B_ = _array(state["B"])
