"""Facts about processes on this machine, and holding Ctrl-C over a block that must finish."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

__all__ = ["pid_alive", "sigint_held"]


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this id runs on this machine (one of another user's counts)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def sigint_held(*, deliver_after: bool = False) -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) off the block: dropped, or with ``deliver_after`` raised as
    ``KeyboardInterrupt`` once the block has ended, if one came.

    Dropped: cleaning up after a Ctrl-C, so a second one cannot leave half a record. Delivered
    after: a unit of work that must not be cut (a scheduler's pass). Only the main thread can
    change signal handlers; elsewhere this does nothing.
    """
    caught: list[int] = []
    handler: object = (
        (lambda signum, frame: caught.append(signum)) if deliver_after else signal.SIG_IGN
    )
    try:
        previous = signal.signal(signal.SIGINT, handler)  # type: ignore[arg-type]
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
