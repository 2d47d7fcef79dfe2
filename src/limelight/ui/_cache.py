"""Results computed from the event log, kept until the log changes.

Reading every segment and reducing it costs about a second of CPU on a modest log, and the
bandit page did it per request. The key is the name, size and modification time of every
finished segment of both kinds (:func:`limelight.store.events.segment_state`): listing them is
cheap, a new segment changes the key, and segments never change once written. A log kept as a
table names its snapshot instead (``scan_events(...).snapshot``), which is the key then.
Concurrent requests for a missing entry compute it once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from limelight.store import Store
from limelight.store.event_queries import scan_events
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
        """Per kind: the table snapshot when the log names one, else every segment's name,
        size and mtime."""
        root = self.store.config.events
        key = []
        for kind in sorted(SCHEMAS):
            snapshot = scan_events(root, kind).snapshot
            key.append(
                ("snapshot", snapshot) if snapshot is not None else segment_state(root, kind)
            )
        return tuple(key)

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
