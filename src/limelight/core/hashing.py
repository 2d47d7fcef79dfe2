"""Content hashing: one fast hash (BLAKE3) for every blob key.

BLAKE3 hashes large buffers on a pool of threads (Rayon's), which starts the first time a
process hashes on several threads. A process forked after that inherits the pool's state but
not its threads, and its first multithreaded hash waits for them for ever: a local-executor
worker forked by a process that had already saved artifacts (an inline run, a scheduler's
inline firing) hung that way. So a process hashes on several threads only if the pool, when
started, was started by the process itself; a forked child of a process that started it hashes
on one thread.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import blake3

__all__ = ["HASH_NAME", "Hasher", "hash_bytes", "hash_chunks"]

HASH_NAME = "blake3"


_pool_owner: int | None = None  # the pid of the process that started BLAKE3's thread pool


def _threads() -> int:
    """``AUTO`` unless the thread pool was started by an ancestor this process was forked from."""
    global _pool_owner
    pid = os.getpid()
    if _pool_owner is None:
        _pool_owner = pid
    return blake3.blake3.AUTO if _pool_owner == pid else 1


class Hasher:
    """Incremental BLAKE3 hasher; multithreaded for large buffers (see the module's notes)."""

    def __init__(self) -> None:
        self._hasher = blake3.blake3(max_threads=_threads())

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
