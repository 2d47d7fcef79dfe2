"""Allocation: which variant a user sees, as a pure function of (user id, salt).

Users are hashed with BLAKE2b (a cryptographic hash from the standard library, the same on
every process and machine, unlike Python's ``hash()``) of ``salt + 0x1f + user id``. The top
53 bits of the digest give a point ``u`` in ``[0, 1)``; the variant is the share interval that
``u`` falls in. Different salts give independent points, so experiments are independent.
A layer hashes users with its own salt; each experiment in it owns a disjoint slice of the
layer's ``[0, 1)``, so a user can be in at most one of them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from limelight.core.errors import InvalidInputError
from limelight.experiments.spec import SHARE_TOLERANCE, ExperimentSpec, check_layers

__all__ = [
    "allocate",
    "allocate_many",
    "assign",
    "assignment_fields",
    "hash_unit",
    "layer_salt",
]

_SEPARATOR = b"\x1f"
_TWO_53 = float(2**53)


def _key(user_id: str | int) -> bytes:
    if isinstance(user_id, bool) or not isinstance(user_id, str | int):
        raise InvalidInputError(f"user ids must be strings or integers, got {user_id!r}")
    return str(user_id).encode()


def hash_unit(user_ids: Iterable[str | int], salt: str) -> NDArray[np.float64]:
    """Points in ``[0, 1)``, one per user id, uniform and fixed for a given salt."""
    if not isinstance(salt, str) or not salt:
        raise InvalidInputError("the salt must be a non-empty string")
    prefix = salt.encode() + _SEPARATOR
    blake2b = hashlib.blake2b
    digests = b"".join([blake2b(prefix + _key(u), digest_size=8).digest() for u in user_ids])
    words = np.frombuffer(digests, dtype=">u8")
    return (words >> np.uint64(11)).astype(np.float64) / _TWO_53


def _check_shares(shares: Sequence[float]) -> NDArray[np.float64]:
    arr = np.asarray(shares, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 1 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InvalidInputError(f"shares must be a list of non-negative numbers, got {shares!r}")
    total = math.fsum(arr.tolist())
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise InvalidInputError(f"shares sum to {total!r}, not 1: make them add up to 1")
    return arr


def _bucket(points: NDArray[np.float64], shares: NDArray[np.float64]) -> NDArray[np.intp]:
    edges = np.cumsum(shares)[:-1]
    return np.searchsorted(edges, points, side="right").astype(np.intp)


def allocate_many(
    user_ids: Iterable[str | int], salt: str, shares: Sequence[float]
) -> NDArray[np.intp]:
    """The variant index of each user: vectorised allocation for many users at once."""
    return _bucket(hash_unit(user_ids, salt), _check_shares(shares))


def allocate(user_id: str | int, salt: str, shares: Sequence[float]) -> int:
    """The variant index of one user for an experiment with ``salt`` and ``shares``."""
    return int(allocate_many([user_id], salt, shares)[0])


def layer_salt(layer: str) -> str:
    """The salt a layer hashes users with (distinct from any experiment salt)."""
    return f"layer\x1f{layer}"


def assign(user_id: str | int, experiments: Sequence[ExperimentSpec], now: float) -> dict[str, str]:
    """The serving hook: ``{experiment name: variant name}`` for one user at time ``now``.

    Only running experiments within their start/stop window take part. In a layer, the user
    is hashed with the layer's salt and enters the one experiment whose slice holds that point.
    """
    active = [spec for spec in experiments if spec.is_active(now)]
    check_layers(active)
    key = [user_id]
    layer_points: dict[str, float] = {}
    result: dict[str, str] = {}
    for spec in active:
        if spec.layer is not None:
            if spec.layer not in layer_points:
                layer_points[spec.layer] = float(hash_unit(key, layer_salt(spec.layer))[0])
            low, high = spec.layer_slice
            if not low <= layer_points[spec.layer] < high:
                continue
        index = int(_bucket(hash_unit(key, spec.salt), np.asarray(spec.shares))[0])
        result[spec.name] = spec.variants[index].name
    return result


def assignment_fields(assignments: Mapping[str, str]) -> dict[str, list[str]]:
    """The impression event's parallel lists ``experiments`` and ``variants`` (sorted by name)."""
    names = sorted(assignments)
    return {"experiments": names, "variants": [assignments[n] for n in names]}
