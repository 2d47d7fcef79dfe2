"""Identifiers: sortable, unique, readable."""

from __future__ import annotations

import os
import time

__all__ = ["new_id", "new_request_id"]

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rem = divmod(number, 36)
        digits.append(_ALPHABET[rem])
    return "".join(reversed(digits))


def new_id() -> str:
    """A 16-character id, sorted by creation time (ms) and unique across processes."""
    millis = time.time_ns() // 1_000_000
    return _base36(millis, 9) + _base36(int.from_bytes(os.urandom(5), "big"), 7)


def new_request_id() -> str:
    """An id for one serving request."""
    return new_id()
