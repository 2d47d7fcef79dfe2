"""The feedback already logged, shared by the worker processes of one server.

``/v1/feedback`` logs each (request id, item, event) once. Feedback for one recommendation may
reach any worker, so the workers share one table: a file mapped into memory before they are
forked (``memfd`` where the system has it), of fixed size, holding a 16-byte fingerprint of
each key and the time its request id expires. A key is looked for among ``probes`` slots
from its hash (up to the first never-used one); an expired slot is free, and when all are live the one expiring first is
reused, so memory never grows and an entry lives until its request id expires unless the
table is full. A POSIX record lock on the file orders the workers' updates; the system
releases it if a worker dies holding it.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
import tempfile

__all__ = ["DEFAULT_SLOTS", "SeenFeedback"]

DEFAULT_SLOTS = 1 << 19  # 12 MiB per server; a few days of feedback at tens per second
_SLOT = struct.Struct("<16sd")  # fingerprint, expiry (seconds since the epoch)


def _shared_file(size: int) -> int:
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("limelight-seen-feedback", os.MFD_CLOEXEC)
    else:  # pragma: no cover - systems without memfd
        with tempfile.TemporaryFile() as f:
            fd = os.dup(f.fileno())
    os.ftruncate(fd, size)
    return fd


def _fingerprint(key: tuple[str, ...]) -> tuple[bytes, int]:
    """The 16-byte fingerprint of ``key`` and the slot number its probes start from."""
    fingerprint = hashlib.blake2b(
        "\0".join(key).encode("utf-8", "surrogatepass"), digest_size=16
    ).digest()
    return fingerprint, int.from_bytes(fingerprint[:8], "little")


class SeenFeedback:
    """Which (request id, item, event) keys were logged; made once, before workers fork."""

    def __init__(self, slots: int = DEFAULT_SLOTS, *, probes: int = 16) -> None:
        if slots < 1 or probes < 1:
            raise ValueError("slots and probes must be positive")
        self.slots, self.probes = slots, min(probes, slots)
        self._fd = _shared_file(slots * _SLOT.size)
        self._mem = mmap.mmap(self._fd, slots * _SLOT.size)  # MAP_SHARED: forks see writes

    def close(self) -> None:
        """Unmap the table in this process (idempotent)."""
        if not self._mem.closed:
            self._mem.close()
            os.close(self._fd)

    def live(self, now: float) -> int:
        """How many keys are remembered at ``now``."""
        return sum(
            1 for i in range(self.slots) if _SLOT.unpack_from(self._mem, i * _SLOT.size)[1] > now
        )

    def forget(self, key: tuple[str, ...]) -> None:
        """Forget ``key`` (its feedback could not be logged after all: a retry must be taken)."""
        fingerprint, start = _fingerprint(key)
        mem, size = self._mem, _SLOT.size
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            for j in range(self.probes):
                slot = (start + j) % self.slots
                held, expiry = _SLOT.unpack_from(mem, slot * size)
                if expiry == 0.0:
                    return
                if held == fingerprint:  # expired, not never-used: later keys stay findable
                    _SLOT.pack_into(mem, slot * size, bytes(16), 1.0)
                    return
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def add(self, key: tuple[str, ...], expires: float, now: float) -> bool:
        """Remember ``key`` until ``expires``; False if it was already remembered."""
        fingerprint, start = _fingerprint(key)
        mem, size = self._mem, _SLOT.size
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            free, soonest, soonest_expiry = -1, -1, math.inf
            for j in range(self.probes):
                slot = (start + j) % self.slots
                held, expiry = _SLOT.unpack_from(mem, slot * size)
                if expiry == 0.0:  # never used: no key of this start lies further on
                    if free < 0:
                        free = slot
                    break
                if expiry > now:
                    if held == fingerprint:
                        return False
                    if expiry < soonest_expiry:
                        soonest, soonest_expiry = slot, expiry
                elif free < 0:
                    free = slot
            _SLOT.pack_into(mem, (free if free >= 0 else soonest) * size, fingerprint, expires)
            return True
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
