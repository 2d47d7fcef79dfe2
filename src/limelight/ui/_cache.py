"""Results computed from the event log, kept until the log changes.

Reading the log and reducing it costs about a second of CPU on a modest log, and the bandit
page did it per request. The key is the current snapshot of both event tables
(:func:`limelight.store.events.segment_state`): reading it is cheap, every commit makes a new
one, and a snapshot never changes. Concurrent requests for a missing entry compute it once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from limelight.store import Store
from limelight.store.events import SCHEMAS, segment_state

__all__ = ["EventLogCache"]

T = TypeVar("T")


class EventLogCache:
    """``get(name, compute)``: ``compute(store)``, again only when the event log has changed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._entries: dict[str, tuple[Any, Any]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def state(self) -> tuple[Any, ...]:
        """The current snapshot of both event tables."""
        return tuple(segment_state(self.store.config.events, kind) for kind in sorted(SCHEMAS))

    def get(self, name: str, compute: Callable[[Store], T]) -> T:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            key = self.state()
            entry = self._entries.get(name)
            if entry is not None and entry[0] == key:
                return entry[1]
            value = compute(self.store)
            self._entries[name] = (key, value)
            return value
