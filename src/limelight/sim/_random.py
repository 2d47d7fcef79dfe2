"""Counter-based randomness: a member's attributes are a pure function of (seed, stream, id).

Members are never generated all at once; any batch of ids can be drawn in any order, in any
process, and gives the same numbers (SplitMix64 finaliser over 64-bit counters, which is the
same on every platform).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri

__all__ = ["stream_key", "hashed_normals", "hashed_uniforms", "generator"]

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


def _mix_int(x: int) -> int:
    x &= _MASK
    x = ((x ^ (x >> 30)) * _M1) & _MASK
    x = ((x ^ (x >> 27)) * _M2) & _MASK
    return x ^ (x >> 31)


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    # Arrays (never 0-d scalars) wrap silently on overflow, which is what a hash wants.
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(_M1)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(_M2)
    return x ^ (x >> np.uint64(31))


def stream_key(seed: int, stream: int) -> int:
    """A 64-bit key for one named stream of a world's randomness."""
    return _mix_int(_mix_int(seed * _GOLDEN + 1) ^ (stream * _M2 + 7))


def _bits(key: int, counters: NDArray[np.int64], width: int) -> NDArray[np.uint64]:
    ids = np.atleast_1d(np.asarray(counters, dtype=np.int64)).astype(np.uint64)
    base = _mix(ids * np.uint64(_GOLDEN) ^ np.uint64(key))
    cols = (np.arange(1, width + 1, dtype=np.uint64) * np.uint64(_M1))[None, :]
    return _mix(base[:, None] + cols)


def hashed_uniforms(key: int, counters: NDArray[np.int64], width: int) -> NDArray[np.float64]:
    """Uniforms in the open interval (0, 1), shape ``(len(counters), width)``."""
    bits = _bits(key, counters, width) >> np.uint64(11)
    return (bits.astype(np.float64) + 0.5) * (1.0 / (1 << 53))


def hashed_normals(key: int, counters: NDArray[np.int64], width: int) -> NDArray[np.float64]:
    """Standard normals, shape ``(len(counters), width)``."""
    return np.asarray(ndtri(hashed_uniforms(key, counters, width)), dtype=np.float64)


def generator(seed: int, *stream: int) -> np.random.Generator:
    """A numpy generator for one stream of events (PCG64 is stable across platforms)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *stream])))
