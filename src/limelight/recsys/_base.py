"""The recommender contract every model shares.

Models follow scikit-learn's conventions: ``__init__`` takes keyword-only parameters and only
stores them, ``fit`` returns ``self``, fitted attributes end in ``_``. ``fit`` takes an
:class:`Interactions` (the model keeps its id maps, and ``recommend`` takes external user ids and
returns external item ids) or a scipy.sparse user x item matrix (ids are then row and column
indices). Users the model has never seen get the most popular items, never an exception.

A model saves as a flat dict of numpy arrays and scalars (:meth:`Recommender.get_state`) and
is rebuilt from it, arrays used as given (memory-mapped arrays are not copied), with
:meth:`Recommender.from_state`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar, Literal, Self

import numpy as np
import scipy.sparse as sp

from limelight.core.errors import InvalidInputError
from limelight.recsys._interactions import Interactions, as_id_array, lookup_ids

__all__ = ["Recommender", "State", "blas_threads", "top_k"]

State = dict[str, "np.ndarray | int | float | str"]
_REGISTRY: dict[str, type[Recommender]] = {}
_BATCH = 1024
_STATE_VERSION = 1


def blas_threads(n: int) -> AbstractContextManager[object]:
    """Limit BLAS to ``n`` threads inside the block (``0``: leave BLAS as configured).

    Uses threadpoolctl when it is installed; without it BLAS keeps its own setting.
    """
    if n <= 0:
        return nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(n, "blas")


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the ``k`` largest scores of each row, best first."""
    n = scores.shape[1]
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), (scores.shape[0], n))
    # plain fancy indexing: take_along_axis builds its index in Python, 3x slower per call here
    rows = np.arange(scores.shape[0])[:, None]
    vals = scores[rows, part]
    order = np.argsort(-vals, axis=1, kind="stable")
    return part[rows, order], vals[rows, order]


def _check_matrix(X: Any) -> sp.csr_matrix:
    if not sp.issparse(X):
        raise InvalidInputError(
            f"fit takes Interactions or a scipy.sparse user x item matrix, got {type(X).__name__}"
        )
    X = sp.csr_matrix(X, dtype=np.float32)
    if X.shape[0] == 0 or X.shape[1] == 0 or X.nnz == 0:
        raise InvalidInputError(
            f"cannot fit on an empty matrix (shape {X.shape}, {X.nnz} interactions)"
        )
    if not np.all(np.isfinite(X.data)) or np.any(X.data < 0):
        raise InvalidInputError("the interaction matrix must hold finite, non-negative values")
    X.sum_duplicates()
    X.sort_indices()
    return X


class Recommender(ABC):
    """Base class: id handling, batching, exclusion of seen items, fallbacks and state."""

    _params: ClassVar[tuple[str, ...]] = ()
    # What the model learns from: "binary" (1 per interaction) or "rating" values.
    _values: ClassVar[Literal["binary", "rating"]] = "binary"

    user_ids_: np.ndarray
    item_ids_: np.ndarray
    user_items_: sp.csr_matrix
    item_popularity_: np.ndarray

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    # -- parameters -------------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters."""
        return {name: getattr(self, name) for name in self._params}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_params(self) -> None:
        """Raise :class:`InvalidInputError` for parameters that cannot be used."""
        return None  # an optional hook: nothing to do unless a subclass says

    # -- fitting ----------------------------------------------------------------------------

    def fit(self, data: Interactions | sp.spmatrix | sp.sparray) -> Self:
        """Learn from interactions; returns ``self``."""
        self._check_params()
        if isinstance(data, Interactions):
            X = data.matrix(
                "rating" if self._values == "rating" and data.rating is not None else "binary"
            )
            if X.nnz == 0:
                raise InvalidInputError(f"cannot fit on {data.name!r}: it has no interactions")
            X = _check_matrix(X)
            ids = (data.user_ids, data.item_ids)
            about = (data.name, data.license, data.usage)
        else:
            X = _check_matrix(data)
            ids = (np.arange(X.shape[0], dtype=np.int64), np.arange(X.shape[1], dtype=np.int64))
            about = ("matrix", "unknown", "unknown")
        self._fit(X)  # fitted attributes are set only once the model has learnt
        self.user_ids_, self.item_ids_ = ids
        self.dataset_, self.license_, self.usage_ = about
        self.user_items_ = X
        self.item_popularity_ = np.bincount(X.indices, minlength=X.shape[1]).astype(np.int64)
        return self

    @abstractmethod
    def _fit(self, X: sp.csr_matrix) -> None:
        """Each subclass says."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "user_items_"):
            raise InvalidInputError(f"{type(self).__name__} is not fitted; call fit(...) first")

    @property
    def n_users_(self) -> int:
        return int(self.user_items_.shape[0])

    @property
    def n_items_(self) -> int:
        return int(self.user_items_.shape[1])

    # -- scoring (subclasses) ---------------------------------------------------------------

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        """Dense float32 scores (len(users) x n_items) for known users (internal indices)."""
        return self._score_history(self._user_rows(users))

    def _user_rows(self, users: np.ndarray) -> sp.csr_matrix:
        """The training rows of ``users``; one user's row is sliced, not fancy-indexed.

        Serving asks for one user at a time, where scipy's row indexing cost more than the
        scoring itself.
        """
        if len(users) != 1:
            return self.user_items_[users]
        matrix = self.user_items_
        lo, hi = matrix.indptr[users[0]], matrix.indptr[users[0] + 1]
        indptr = np.array([0, hi - lo], dtype=matrix.indptr.dtype)
        return sp.csr_matrix(
            (matrix.data[lo:hi], matrix.indices[lo:hi], indptr), shape=(1, matrix.shape[1])
        )

    @abstractmethod
    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        """Dense float32 scores for users described only by their history rows."""

    @abstractmethod
    def _similar_scores(self, items: np.ndarray) -> np.ndarray:
        """Dense float32 similarity of ``items`` (internal indices) to every item."""

    def _popularity_scores(self, n: int) -> np.ndarray:
        pop = self.item_popularity_.astype(np.float32)
        return np.broadcast_to(pop, (n, len(pop)))

    # -- recommending -----------------------------------------------------------------------

    def _check_k(self, k: int) -> int:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        if k > self.n_items_:
            raise InvalidInputError(
                f"k={k} is larger than the catalogue of {self.n_items_} items; "
                f"ask for at most {self.n_items_}"
            )
        return int(k)

    def recommend_indices(
        self, users: np.ndarray, k: int, *, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` internal item indices and scores for internal user indices (-1: unknown).

        Seen items get score ``-inf``; they appear only when fewer than ``k`` unseen items
        remain. Unknown users, and users without training interactions, get the most
        popular items.
        """
        self._check_fitted()
        k = self._check_k(k)
        users = np.asarray(users, dtype=np.int64)
        if np.any(users >= self.n_users_):
            raise InvalidInputError(
                f"user index {int(users.max())} is out of range for {self.n_users_} users"
            )
        out_idx = np.empty((len(users), k), dtype=np.int64)
        out_scores = np.empty((len(users), k), dtype=np.float32)
        # Users without any training interaction are served like unknown users.
        has_history = np.zeros(len(users), dtype=bool)
        valid = users >= 0
        indptr = self.user_items_.indptr
        has_history[valid] = indptr[users[valid] + 1] > indptr[users[valid]]
        known = np.flatnonzero(has_history)
        unknown = np.flatnonzero(~has_history)
        for start in range(0, len(known), _BATCH):
            rows = known[start : start + _BATCH]
            scores = np.array(self._score_users(users[rows]), dtype=np.float32, order="C")
            if exclude_seen:
                _mask_seen(scores, self.user_items_, users[rows])
            out_idx[rows], out_scores[rows] = top_k(scores, k)
        if len(unknown):
            idx, vals = top_k(self._popularity_scores(1), k)
            out_idx[unknown], out_scores[unknown] = idx[0], vals[0]
        return out_idx, out_scores

    def recommend(
        self, user_ids: Any, k: int = 10, *, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (item_ids, scores) for one user (1-D results) or many (2-D, one row each).

        ``user_ids`` are external ids when fitted on :class:`Interactions`, row indices when
        fitted on a matrix. Unknown users get the most popular items.
        """
        self._check_fitted()
        single = np.ndim(user_ids) == 0
        users = lookup_ids(self.user_ids_, [user_ids] if single else user_ids)
        idx, scores = self.recommend_indices(users, k, exclude_seen=exclude_seen)
        items = self.item_ids_[idx]
        return (items[0], scores[0]) if single else (items, scores)

    def recommend_items(
        self, seen_item_ids: Any, k: int = 10, *, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (item_ids, scores) for a user described by the items they interacted with.

        Unknown item ids are ignored; an empty history gets the most popular items.
        """
        self._check_fitted()
        k = self._check_k(k)
        seen = lookup_ids(self.item_ids_, as_id_array(seen_item_ids, "seen item ids"))
        seen = np.unique(seen[seen >= 0])
        if len(seen) == 0:
            idx, vals = top_k(self._popularity_scores(1), k)
            return self.item_ids_[idx[0]], vals[0]
        history = sp.csr_matrix(
            (
                np.ones(len(seen), dtype=np.float32),
                seen.astype(np.int32),
                np.array([0, len(seen)], dtype=np.int32),
            ),
            shape=(1, self.n_items_),
        )
        scores = np.array(self._score_history(history), dtype=np.float32, copy=True)
        if exclude_seen:
            scores[0, seen] = -np.inf
        idx, vals = top_k(scores, k)
        return self.item_ids_[idx[0]], vals[0]

    def similar_items(self, item_ids: Any, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most similar to each given item (never the item itself).

        Raises :class:`InvalidInputError` for an item id the model does not know.
        """
        self._check_fitted()
        if self._check_k(k) >= self.n_items_:
            raise InvalidInputError(
                f"k={k}: an item has only {self.n_items_ - 1} other items; ask for fewer"
            )
        single = np.ndim(item_ids) == 0
        items = lookup_ids(self.item_ids_, [item_ids] if single else item_ids)
        if np.any(items < 0):
            bad = as_id_array([item_ids] if single else item_ids)[items < 0][:5]
            raise InvalidInputError(f"unknown item ids {bad.tolist()}; the model never saw them")
        scores = np.array(self._similar_scores(items), dtype=np.float32, copy=True)
        scores[np.arange(len(items)), items] = -np.inf
        idx, vals = top_k(scores, k)
        out = self.item_ids_[idx]
        return (out[0], vals[0]) if single else (out, vals)

    # -- state ------------------------------------------------------------------------------

    @abstractmethod
    def _model_state(self) -> State:
        """The learned arrays of the subclass."""

    @abstractmethod
    def _load_model_state(self, state: State) -> None:
        """Each subclass says."""

    def get_state(self) -> State:
        """Everything needed to rebuild the model: numpy arrays, ints, floats and strings."""
        self._check_fitted()
        X = self.user_items_
        state: State = {
            "class": type(self).__name__,
            "state_version": _STATE_VERSION,
            "user_ids": self.user_ids_,
            "item_ids": self.item_ids_,
            "seen.indptr": X.indptr,
            "seen.indices": X.indices,
            "seen.data": X.data,
            "item_popularity": self.item_popularity_,
            "dataset": self.dataset_,
            "license": self.license_,
            "usage": self.usage_,
        }
        for name, value in self.get_params().items():
            if value is not None:
                state[f"param.{name}"] = value
        state.update(self._model_state())
        return state

    @classmethod
    def from_state(cls, state: State) -> Recommender:
        """Rebuild a model from :meth:`get_state`'s dict without copying its arrays."""
        name = str(state.get("class", ""))
        target = _REGISTRY.get(name)
        if target is None or not issubclass(target, cls):
            raise InvalidInputError(
                f"state is for class {name!r}, which is not a {cls.__name__}; "
                f"known: {sorted(_REGISTRY)}"
            )
        version = _scalar(state.get("state_version", _STATE_VERSION))
        if not isinstance(version, int) or version > _STATE_VERSION:
            raise InvalidInputError(
                f"state_version {version!r} was written by a newer Limelight; upgrade to load it"
            )
        params = {p: _scalar(state[f"param.{p}"]) for p in target._params if f"param.{p}" in state}
        model = target(**params)
        user_ids, item_ids = _array(state["user_ids"]), _array(state["item_ids"])
        model.user_ids_ = user_ids
        model.item_ids_ = item_ids
        model.user_items_ = sp.csr_matrix(
            (
                _array(state["seen.data"]),
                _array(state["seen.indices"]),
                _array(state["seen.indptr"]),
            ),
            shape=(len(user_ids), len(item_ids)),
            copy=False,
        )
        model.item_popularity_ = _array(state["item_popularity"])
        model.dataset_ = str(state.get("dataset", "unknown"))
        model.license_ = str(state.get("license", "unknown"))
        model.usage_ = str(state.get("usage", "unknown"))
        model._load_model_state(state)
        return model


def _array(value: Any) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise InvalidInputError(f"state holds {type(value).__name__} where an array is needed")
    return value


def _scalar(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _mask_seen(scores: np.ndarray, seen: sp.csr_matrix, users: np.ndarray) -> None:
    """Set the scores of the items each of ``users`` has seen to -inf, in place.

    Reads the rows' spans of ``seen`` directly: scipy's row indexing (a new matrix per batch)
    cost more than the masking itself when serving.
    """
    if len(users) == 1:  # serving's common case
        user = int(users[0])
        scores[0, seen.indices[seen.indptr[user] : seen.indptr[user + 1]]] = -np.inf
        return
    starts = seen.indptr[users]
    counts = seen.indptr[users + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return
    rows = np.repeat(np.arange(len(users)), counts)
    # the position in ``seen.indices`` of every seen item: its row's start plus its rank in the row
    ends = np.cumsum(counts)
    positions = np.arange(total) + np.repeat(starts - (ends - counts), counts)
    scores[rows, seen.indices[positions]] = -np.inf
