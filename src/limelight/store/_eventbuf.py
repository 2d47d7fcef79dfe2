"""A worker's durable event buffer: append-only files fsynced in groups, committed in batches.

Each worker appends the JSON line of every event to its own segment file
``<folder>/<host>-<pid>-<kind>-<seq>.log``. A flusher thread writes what is waiting and fsyncs
it (group commit: one fsync for every line that arrived since the last one) and only then
wakes the requests that wait for their line. With ``sync="write"`` a request writes its own
line at once instead (a write to the kernel's page cache takes microseconds, and a hand-off to
the flusher and back cost more than that under load) and the flusher fdatasyncs the segment a
few times a second. The owner holds an exclusive ``flock`` on each of
its segments from creation until the segment's rows are in the table and the file is gone, so
another process can tell an orphaned segment (its owner died: the lock is free) from a live
one, and claim it safely: only one process gets the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from limelight.core.errors import StorageError

__all__ = ["SYNC_MODES", "DurableBuffer", "Segment", "orphans"]

SYNC_MODES = ("write", "fsync")  # when an appended line is acknowledged
_BACKGROUND_SYNC_SECONDS = 0.05  # sync="write": how often the flusher fdatasyncs written lines
_SEQ = itertools.count(1)  # segment numbers, unique in the process (several writers share a pid)


@dataclass
class Segment:
    """One buffer file and the lock its holder keeps on it."""

    path: Path
    fd: int
    rows: int = 0

    @property
    def name(self) -> str:
        return self.path.stem

    def lines(self) -> list[bytes]:
        """The complete lines of the file (a last line cut short by a crash was never
        acknowledged, and is dropped)."""
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        return [line for line in lines[:-1] if line]

    def discard(self) -> None:
        """Remove the file, then release its lock."""
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)


@dataclass
class _Group:
    """The lines that one fsync makes durable and who waits for it."""

    lines: list[bytes] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = field(
        default_factory=list
    )
    error: BaseException | None = None

    def wait(self, timeout: float | None = None) -> None:
        if not self.done.wait(timeout):
            raise StorageError("the event buffer did not reach the disk in time")
        if self.error is not None:
            raise StorageError(f"the event buffer could not be written: {self.error}")


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for fut in futures:
        if not fut.done():
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(StorageError(f"the event buffer could not be written: {error}"))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _lock(path: Path, create: bool) -> int | None:
    """An fd of ``path`` with its exclusive lock held, or None when another process holds it
    (or the file went away)."""
    flags = os.O_RDWR | os.O_APPEND | (os.O_CREAT | os.O_EXCL if create else 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if create:
        return fd
    try:  # the file may have been committed and removed between open and lock
        same = os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        return None
    return fd


def orphans(folder: Path, kind: str) -> Iterator[Segment]:
    """Segments of ``kind`` in ``folder`` that nobody holds (sealed by their writer for a
    committer, or left by a dead one), each claimed (locked) for the caller; a segment that
    another process holds is skipped."""
    if not folder.is_dir():
        return
    found = [*folder.glob(f"*-{kind}-*.sealed"), *folder.glob(f"*-{kind}-*.log")]
    for path in sorted(found):
        fd = _lock(path, create=False)
        if fd is not None:
            yield Segment(path, fd)


class DurableBuffer:
    """The current segment of one worker and kind, written and fsynced by a flusher thread."""

    def __init__(self, folder: Path, kind: str, sync: str = "fsync") -> None:
        if sync not in SYNC_MODES:
            raise StorageError(f"event sync must be one of {', '.join(SYNC_MODES)}, not {sync!r}")
        self.folder, self.kind, self.sync = folder, kind, sync
        self.sync_failures = 0
        self.prefix = f"{socket.gethostname()}-{os.getpid()}-{kind}"
        self._cond = threading.Condition()
        self._group = _Group()
        self._file_lock = threading.Lock()  # held while a group is written; rotation waits
        self._segment: Segment | None = None
        self._stop = False
        self._dirty = False  # sync="write": lines written since the last fdatasync
        self._thread: threading.Thread | None = None
        self.syncs = 0

    def start(self) -> None:
        with self._cond:
            if self._thread is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._thread = threading.Thread(
                    target=self._loop, name=f"limelight-eventbuf-{self.kind}", daemon=True
                )
                self._thread.start()

    def add(
        self, line: bytes, future: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None
    ) -> _Group:
        """Queue ``line`` for the next fsync (``future`` is settled once it is on disk)."""
        with self._cond:
            group = self._group
            group.lines.append(line)
            if future is not None:
                group.futures.append(future)
            self._cond.notify()
        if self._thread is None:
            self.start()
        return group

    def write(self, line: bytes) -> None:
        """Write ``line`` now, in the caller's thread (``sync="write"``): on return the kernel
        has it, which survives the death of this process; the flusher fdatasyncs it soon after.
        A failing write raises :class:`StorageError` and leaves nothing acknowledged."""
        try:
            if self._thread is None:
                self.start()
            with self._file_lock:
                segment = self._current()
                _write_all(segment.fd, line + b"\n")
                segment.rows += 1
        except OSError as exc:  # a full or failing disk
            raise StorageError(f"the event buffer could not be written: {exc}") from None
        self._dirty = True

    def _loop(self) -> None:
        timeout = _BACKGROUND_SYNC_SECONDS if self.sync == "write" else None
        while True:
            with self._cond:
                while not self._group.lines and not self._stop:
                    if not self._cond.wait(timeout) and self._dirty:
                        break
                if not self._group.lines and self._stop:
                    return
                group = None
                if self._group.lines:
                    group, self._group = self._group, _Group()
            if group is not None:
                self._write(group)
            elif self._dirty:
                self._sync_written()

    def _sync_written(self) -> None:
        """fdatasync the lines that requests wrote themselves, without holding the file lock
        (a request's write must not wait for the disk): on a duplicate of the segment's fd,
        which stays valid if the segment is sealed and discarded meanwhile."""
        self._dirty = False
        with self._file_lock:
            fd = None if self._segment is None else os.dup(self._segment.fd)
        if fd is None:
            return
        try:
            os.fdatasync(fd)
            self.syncs += 1
        except OSError:
            self.sync_failures += 1
        finally:
            os.close(fd)

    def _write(self, group: _Group) -> None:
        """Write ``group`` and fdatasync it; its waiters are released after the write
        (``sync="write"``: the kernel has the lines, which survive the death of this process)
        or after the fdatasync (``sync="fsync"``: the disk has them, which survives the host's)."""
        try:
            with self._file_lock:
                segment = self._current()
                _write_all(segment.fd, b"\n".join(group.lines) + b"\n")
                segment.rows += len(group.lines)
                if self.sync == "write":
                    self._release(group)
                os.fdatasync(segment.fd)
                self.syncs += 1
        except Exception as exc:  # a full or failing disk
            if group.done.is_set():  # written and acknowledged; only the fdatasync failed
                self.sync_failures += 1
            else:  # nothing of the group is acknowledged
                group.error = exc
        if not group.done.is_set():
            self._release(group)

    def _release(self, group: _Group) -> None:
        group.done.set()
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for loop, fut in group.futures:
            by_loop.setdefault(loop, []).append(fut)
        for loop, futures in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, futures, group.error)

    def _current(self) -> Segment:
        if self._segment is None:
            path = self.folder / f"{self.prefix}-{next(_SEQ):06d}.log"
            # locked under a name no claimer looks for, then renamed: never seen unlocked
            hidden = self.folder / f".{path.name}.new"
            fd = _lock(hidden, create=True)
            if fd is None:  # pragma: no cover - our own new, exclusive name
                raise StorageError(f"could not lock the event buffer {hidden}")
            os.rename(hidden, path)
            self._segment = Segment(path, fd)
        return self._segment

    def rotate(self) -> Segment | None:
        """Seal the current segment (every line in it is on disk; renamed ``.sealed``) and
        return it, still locked; the next group starts a new one. None when nothing was written
        since the last one."""
        with self._file_lock:
            segment, self._segment = self._segment, None
            if segment is not None:
                sealed = segment.path.with_suffix(".sealed")
                os.rename(segment.path, sealed)
                segment.path = sealed
        return segment

    def pending_lines(self) -> int:
        """Lines waiting for their fsync, and lines in the current segment."""
        with self._cond:
            waiting = len(self._group.lines)
        segment = self._segment
        return waiting + (segment.rows if segment is not None else 0)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every line queued so far is on disk."""
        with self._cond:
            group = self._group
            if not group.lines:
                return
        group.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"DurableBuffer({self.folder}/{self.prefix})"
