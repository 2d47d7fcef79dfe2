"""Content hashing: one fast hash (BLAKE3) for every blob key."""

from __future__ import annotations

from collections.abc import Iterable

import blake3

__all__ = ["HASH_NAME", "Hasher", "hash_bytes", "hash_chunks"]

HASH_NAME = "blake3"


class Hasher:
    """Incremental BLAKE3 hasher; multithreaded for large buffers."""

    def __init__(self) -> None:
        self._hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._hasher.update(data)

    def update_file(self, path: str) -> None:
        """Hash a whole file through a memory map, on several threads, without copying it."""
        self._hasher.update_mmap(path)

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()


def hash_chunks(chunks: Iterable[bytes | bytearray | memoryview]) -> str:
    """Hex digest of the concatenation of ``chunks``."""
    hasher = Hasher()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.hexdigest()


def hash_bytes(data: bytes | bytearray | memoryview) -> str:
    """Hex digest of ``data``."""
    return hash_chunks([data])
