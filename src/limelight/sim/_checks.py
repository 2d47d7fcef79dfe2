"""Checks of user input: ids, rows of titles and artwork choices, with errors that say the fix."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from limelight.core.errors import InvalidInputError, NotFoundError

__all__ = [
    "ArtworkWeights",
    "as_artwork_indices",
    "as_artwork_weights",
    "as_k",
    "as_member_ids",
    "as_slates",
    "as_title_ids",
]


def _as_int_array(values: ArrayLike, name: str) -> NDArray[np.int64]:
    arr = np.asarray(values)
    if arr.size == 0:
        raise InvalidInputError(f"{name} is empty; give at least one id")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidInputError(
            f"{name} must hold integer ids (got dtype {arr.dtype}); ids are ints from 0"
        )
    return arr.astype(np.int64, copy=False)


def _check_range(arr: NDArray[np.int64], n: int, what: str) -> None:
    bad = (arr < 0) | (arr >= n)
    if np.any(bad):
        first = int(arr[bad].flat[0])
        raise NotFoundError(
            f"unknown {what} id {first}: this world's {what}s are 0..{n - 1} "
            f"({int(bad.sum())} bad id(s) in the input)"
        )


def as_k(k: object, default: int, n_titles: int) -> int:
    """The length of a row: ``default`` when None, else a positive int within the catalogue."""
    k = default if k is None else k
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidInputError(f"k={k!r} must be a positive integer")
    if k > n_titles:
        raise InvalidInputError(
            f"k={k} is larger than the catalogue ({n_titles} titles); ask for at most {n_titles}"
        )
    return int(k)


def as_member_ids(values: ArrayLike, n_members: int) -> NDArray[np.int64]:
    """A 1-d int64 array of known member ids."""
    arr = _as_int_array(values, "member_ids")
    if arr.ndim != 1:
        raise InvalidInputError(
            f"member_ids must be 1-dimensional, got shape {arr.shape}; pass one id per row"
        )
    _check_range(arr, n_members, "member")
    return arr


def as_title_ids(values: ArrayLike, n_titles: int, length: int | None = None) -> NDArray[np.int64]:
    """A 1-d int64 array of known title ids (of the given length, if one is given)."""
    arr = _as_int_array(values, "title_ids")
    if arr.ndim != 1 or (length is not None and len(arr) != length):
        want = "1-dimensional" if length is None else f"of shape ({length},), one per member"
        raise InvalidInputError(f"title_ids must be {want}, got shape {arr.shape}")
    _check_range(arr, n_titles, "title")
    return arr


def as_slates(values: ArrayLike, n_rows: int, n_titles: int) -> NDArray[np.int64]:
    """An ``(n_rows, k)`` int64 array of rows of distinct known titles."""
    arr = _as_int_array(values, "slates")
    if arr.ndim != 2 or arr.shape[0] != n_rows:
        raise InvalidInputError(
            f"slates must have shape (n_members, k) = ({n_rows}, k), got {arr.shape}: "
            "one row of titles per member id"
        )
    if arr.shape[1] > n_titles:
        raise InvalidInputError(
            f"rows of {arr.shape[1]} titles are longer than the catalogue ({n_titles} titles)"
        )
    _check_range(arr, n_titles, "title")
    if arr.shape[1] > 1:
        ordered = np.sort(arr, axis=1)
        dup = np.any(ordered[:, 1:] == ordered[:, :-1], axis=1)
        if np.any(dup):
            row = int(np.flatnonzero(dup)[0])
            raise InvalidInputError(
                f"row {row} of slates shows a title twice ({arr[row].tolist()}); "
                "each row must hold distinct titles"
            )
    return arr


class ArtworkWeights:
    """The probability of each artwork in each cell of a row, produced chunk by chunk."""

    def __init__(
        self,
        shape: tuple[int, int],
        n_artworks: int,
        indices: NDArray[np.int64] | None,
        probs: NDArray[np.float64] | None,
    ) -> None:
        self.shape = shape
        self.n_artworks = n_artworks
        self._indices = indices
        self._probs = probs

    def chunk(self, lo: int, hi: int) -> NDArray[np.float64]:
        """Weights of rows ``lo:hi``, shape ``(rows, k, n_artworks)``."""
        rows = min(hi, self.shape[0]) - lo
        if self._probs is not None:
            return self._probs[lo:hi]
        if self._indices is not None:
            out = np.zeros((rows, self.shape[1], self.n_artworks))
            np.put_along_axis(out, self._indices[lo:hi, :, None], 1.0, axis=2)
            return out
        return np.full((rows, self.shape[1], self.n_artworks), 1.0 / self.n_artworks)


def as_artwork_indices(
    artworks: ArrayLike, shape: tuple[int, int], n_artworks: int
) -> NDArray[np.int64]:
    """An ``(n, k)`` int64 array of artwork indices, one per shown title."""
    arr = np.asarray(artworks)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidInputError(f"artworks must be artwork indices (ints), not {arr.dtype}")
    if arr.shape != shape:
        raise InvalidInputError(
            f"artworks has shape {arr.shape}; give one artwork index per shown title, shape {shape}"
        )
    if np.any((arr < 0) | (arr >= n_artworks)):
        raise InvalidInputError(
            f"artwork indices must be in 0..{n_artworks - 1} (each title has {n_artworks})"
        )
    return arr.astype(np.int64, copy=False)


def as_artwork_weights(
    artworks: ArrayLike | None, shape: tuple[int, int], n_artworks: int
) -> ArtworkWeights:
    """Artworks as given to the truth functions: None, indices ``(n, k)`` or probabilities."""
    if artworks is None:
        return ArtworkWeights(shape, n_artworks, None, None)
    arr = np.asarray(artworks)
    if arr.dtype != np.bool_ and np.issubdtype(arr.dtype, np.integer):
        return ArtworkWeights(shape, n_artworks, as_artwork_indices(arr, shape, n_artworks), None)
    if not np.issubdtype(arr.dtype, np.floating):
        raise InvalidInputError(
            f"artworks must be artwork indices (ints) or probabilities (floats), not {arr.dtype}"
        )
    if arr.shape != (*shape, n_artworks):
        raise InvalidInputError(
            f"artwork probabilities have shape {arr.shape}; expected {(*shape, n_artworks)}"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InvalidInputError("artwork probabilities must be finite and >= 0")
    if not np.allclose(arr.sum(axis=-1), 1.0, atol=1e-6):
        raise InvalidInputError("artwork probabilities must sum to 1 over the artworks of a title")
    return ArtworkWeights(shape, n_artworks, None, arr.astype(np.float64, copy=False))
