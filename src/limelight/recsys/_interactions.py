"""Interactions: who interacted with what, with id maps both ways and a sparse user x item matrix.

External ids (what a file or a service uses: ints or strings, never a mix) are kept sorted and
unique in ``user_ids`` / ``item_ids``; each interaction refers to them by internal index
(``user_index`` / ``item_index``), so the internal index of an id is its position in the sorted
array and a lookup is a binary search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from limelight.core.errors import InvalidInputError

__all__ = ["Interactions", "as_id_array", "lookup_ids"]

IdArray = np.ndarray


def as_id_array(values: Any, what: str = "ids") -> np.ndarray:
    """``values`` as a 1-D array of int64 or unicode ids; a mix of ints and strings is an error."""
    if not isinstance(values, np.ndarray) and hasattr(values, "to_numpy"):
        values = values.to_numpy()  # pandas and pyarrow columns
    if isinstance(values, np.ndarray) and values.dtype != object:
        arr = values.reshape(-1) if values.ndim == 0 else values
    else:
        if isinstance(values, str | bytes | int | np.integer):
            values = [values]
        items = list(values)
        kinds = {_kind(v) for v in items}
        if len(kinds) > 1:
            raise InvalidInputError(
                f"{what} mix types ({', '.join(sorted(kinds))}); convert them all to int or all "
                "to str before building Interactions or calling the model"
            )
        if kinds == {"str"}:
            arr = np.array(items, dtype=str)
        elif kinds == {"int"} or not items:
            arr = np.array(items, dtype=np.int64)
        elif kinds == {"float"}:
            arr = np.array(items, dtype=np.float64)
        else:
            raise InvalidInputError(f"{what} must be ints or strings, got {kinds.pop()}")
    if arr.ndim != 1:
        raise InvalidInputError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "U":
        return arr
    if arr.dtype.kind == "S":
        return arr.astype(str)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise InvalidInputError(
                f"{what} are floats that are not whole numbers (or NaN); ids must be ints or str"
            )
        return arr.astype(np.int64)
    raise InvalidInputError(f"{what} must be ints or strings, got dtype {arr.dtype}")


def _kind(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, str | np.str_):
        return "str"
    return type(value).__name__


def lookup_ids(known: np.ndarray, wanted: Any) -> np.ndarray:
    """Positions of ``wanted`` ids in the sorted array ``known``; -1 for ids it does not hold.

    Ids of the other kind are converted when they can be (``"12"`` finds the int 12 and
    ``12`` finds ``"12"``); ids that cannot be converted are unknown, never an error.
    """
    wanted_arr = _coerce(as_id_array(wanted, "ids"), known.dtype)
    if len(known) == 0 or len(wanted_arr) == 0:
        return np.full(len(wanted_arr), -1, dtype=np.int64)
    pos = np.searchsorted(known, wanted_arr)
    pos = np.minimum(pos, len(known) - 1)
    found = known[pos] == wanted_arr
    return np.where(found, pos, -1).astype(np.int64)


def _coerce(ids: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "U" and ids.dtype.kind != "U":
        return ids.astype(str)
    if dtype.kind in "iu" and ids.dtype.kind == "U":
        out = np.full(len(ids), np.iinfo(np.int64).min, dtype=np.int64)
        for j, value in enumerate(ids):
            try:
                out[j] = int(value)
            except ValueError:
                continue
        return out
    return ids


@dataclass(frozen=True, eq=False)
class Interactions:
    """User-item interactions with optional ``rating`` and ``timestamp`` and the data's terms.

    Build one with :meth:`from_arrays`. ``license`` and ``usage`` (for example
    ``"research-only"``) travel with the data into models and the registry's usage gate.
    """

    user_index: np.ndarray
    item_index: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    rating: np.ndarray | None = None
    timestamp: np.ndarray | None = None
    name: str = "interactions"
    license: str = "unknown"
    usage: str = "unknown"
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.user_index)
        for label, arr in (
            ("item_index", self.item_index),
            ("rating", self.rating),
            ("timestamp", self.timestamp),
        ):
            if arr is not None and len(arr) != n:
                raise InvalidInputError(
                    f"Interactions: {label} has {len(arr)} entries but user_index has {n}"
                )
        for label, ids in (("user_ids", self.user_ids), ("item_ids", self.item_ids)):
            if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
                raise InvalidInputError(
                    f"Interactions: {label} must be sorted and unique; build with "
                    "Interactions.from_arrays"
                )

    @classmethod
    def from_arrays(
        cls,
        users: Sequence[Any] | np.ndarray,
        items: Sequence[Any] | np.ndarray,
        rating: Sequence[float] | np.ndarray | None = None,
        timestamp: Sequence[int] | np.ndarray | None = None,
        *,
        name: str = "interactions",
        license: str = "unknown",
        usage: str = "unknown",
    ) -> Interactions:
        """Interactions from parallel arrays of external user and item ids (ints or strings)."""
        u = as_id_array(users, "user ids")
        i = as_id_array(items, "item ids")
        if len(u) != len(i):
            raise InvalidInputError(
                f"users and items must have the same length, got {len(u)} and {len(i)}"
            )
        if len(u) == 0:
            raise InvalidInputError(
                f"dataset {name!r} is empty: it has no interactions; check the file or the filters"
            )
        r = None
        if rating is not None:
            r = np.asarray(rating, dtype=np.float32)
            if len(r) != len(u):
                raise InvalidInputError(f"rating has {len(r)} entries but there are {len(u)}")
            if not np.all(np.isfinite(r)):
                raise InvalidInputError("rating holds NaN or infinite values; drop those rows")
        t = None
        if timestamp is not None:
            t = np.asarray(timestamp)
            if t.dtype.kind not in "iu":
                if t.dtype.kind == "M":
                    t = t.astype("datetime64[s]").astype(np.int64)
                else:
                    raise InvalidInputError(
                        f"timestamp must be integers (seconds) or datetime64, got {t.dtype}"
                    )
            t = t.astype(np.int64, copy=False)
            if len(t) != len(u):
                raise InvalidInputError(f"timestamp has {len(t)} entries but there are {len(u)}")
        user_ids, user_index = np.unique(u, return_inverse=True)
        item_ids, item_index = np.unique(i, return_inverse=True)
        return cls(
            user_index=user_index.astype(np.int32),
            item_index=item_index.astype(np.int32),
            user_ids=user_ids,
            item_ids=item_ids,
            rating=r,
            timestamp=t,
            name=name,
            license=license,
            usage=usage,
        )

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.user_index)

    def __repr__(self) -> str:
        extras = [c for c in ("rating", "timestamp") if getattr(self, c) is not None]
        return (
            f"Interactions({self.name!r}: {len(self)} interactions, {self.n_users} users, "
            f"{self.n_items} items, columns={extras}, usage={self.usage!r})"
        )

    def matrix(self, values: Literal["binary", "rating"] = "binary") -> sp.csr_matrix:
        """The user x item matrix (float32 CSR): 1 per interacted pair, or the (last) rating."""
        key = f"matrix:{values}"
        if key not in self._cache:
            if values == "binary":
                data = np.ones(len(self), dtype=np.float32)
            elif values == "rating":
                if self.rating is None:
                    raise InvalidInputError(f"{self.name} has no ratings; use values='binary'")
                data = self.rating
            else:
                raise InvalidInputError(f"values must be 'binary' or 'rating', got {values!r}")
            order = np.lexsort((np.arange(len(self)), self.item_index, self.user_index))
            u, i, d = self.user_index[order], self.item_index[order], data[order]
            # Keep one entry per (user, item): the last one in the original order.
            last = np.ones(len(u), dtype=bool)
            last[:-1] = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
            u, i, d = u[last], i[last], d[last]
            indptr = np.zeros(self.n_users + 1, dtype=np.int32)
            np.cumsum(np.bincount(u, minlength=self.n_users), out=indptr[1:])
            self._cache[key] = sp.csr_matrix(
                (d.astype(np.float32), i.astype(np.int32), indptr),
                shape=(self.n_users, self.n_items),
            )
        out: sp.csr_matrix = self._cache[key]
        return out

    def user_index_of(self, user_ids: Any) -> np.ndarray:
        """Internal indices of external user ids (-1 for unknown users)."""
        return lookup_ids(self.user_ids, user_ids)

    def item_index_of(self, item_ids: Any) -> np.ndarray:
        """Internal indices of external item ids (-1 for unknown items)."""
        return lookup_ids(self.item_ids, item_ids)

    def subset(self, mask: np.ndarray) -> Interactions:
        """The interactions where ``mask`` is true, keeping the same id maps (for splits)."""
        mask = np.asarray(mask)
        return replace(
            self,
            user_index=self.user_index[mask],
            item_index=self.item_index[mask],
            rating=None if self.rating is None else self.rating[mask],
            timestamp=None if self.timestamp is None else self.timestamp[mask],
            _cache={},
        )

    def compact(self) -> Interactions:
        """The same interactions with users and items that have none dropped from the id maps."""
        if len(self) == 0:
            raise InvalidInputError(
                f"dataset {self.name!r} has no interactions left; loosen the filters"
            )
        users, user_index = np.unique(self.user_index, return_inverse=True)
        items, item_index = np.unique(self.item_index, return_inverse=True)
        return replace(
            self,
            user_index=user_index.astype(np.int32),
            item_index=item_index.astype(np.int32),
            user_ids=self.user_ids[users],
            item_ids=self.item_ids[items],
            _cache={},
        )

    def user_counts(self) -> np.ndarray:
        """Interactions per user (by internal index)."""
        return np.bincount(self.user_index, minlength=self.n_users)

    def item_counts(self) -> np.ndarray:
        """Interactions per item (by internal index)."""
        return np.bincount(self.item_index, minlength=self.n_items)
