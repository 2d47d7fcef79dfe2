"""Published events: named JSON payloads that deployed flows are triggered by.

``publish_event`` lives in ``store`` so that every package may publish (the flows runtime at
the end of a run, the registry, monitoring) through the named hook ``publish_event`` without
importing ``scheduling``. An event is one row of ``published_events``; a ``dedup_key`` makes a
publication idempotent (the second publisher gets the first one's id).

Built-in names: ``run_finished`` (flow, run, status, branch), ``model_registered`` (model,
version, run), ``alias_moved`` (model, alias, from_version, to_version), ``new_impressions`` /
``new_feedback`` (rows, new_rows: the event log grew), ``monitor_alert`` (monitor, model, value,
threshold: left for monitors).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from limelight.core import clock
from limelight.core.config import Config
from limelight.core.errors import InvalidInputError
from limelight.store._store import open_store
from limelight.store.metadata import insert_once
from limelight.store.schema import published_events

__all__ = [
    "BUILTIN_EVENTS",
    "NOTIFY_CHANNEL",
    "check_event_name",
    "check_payload",
    "publish_event",
    "record_event",
]

BUILTIN_EVENTS = {
    "run_finished": ("flow", "run", "status", "branch"),
    "model_registered": ("model", "version", "run"),
    "alias_moved": ("model", "alias", "from_version", "to_version"),
    "new_impressions": ("rows", "new_rows"),
    "new_feedback": ("rows", "new_rows"),
    "monitor_alert": ("monitor", "model", "value", "threshold"),
}
_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:\-]{0,199}")
MAX_PAYLOAD = 64_000  # bytes of JSON
NOTIFY_CHANNEL = "limelight_events"  # PostgreSQL: schedulers LISTEN here for new events


def check_event_name(name: object) -> str:
    if not isinstance(name, str) or not _EVENT_NAME.fullmatch(name):
        raise InvalidInputError(
            f"{name!r} is not an event name: start with a letter, then letters, digits, "
            "'_', '.', ':', '-' (at most 200)"
        )
    return name


def check_payload(payload: object, name: str) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, Mapping) or not all(isinstance(k, str) for k in payload):
        raise InvalidInputError(
            f"the payload of event {name!r} is a JSON object (a dict with string keys), "
            f"not {type(payload).__name__}"
        )
    try:
        size = len(orjson.dumps(dict(payload)))
    except TypeError as exc:
        raise InvalidInputError(f"the payload of event {name!r} is not JSON: {exc}") from exc
    if size > MAX_PAYLOAD:
        raise InvalidInputError(
            f"the payload of event {name!r} is {size} bytes of JSON; at most {MAX_PAYLOAD}"
        )
    return dict(payload)


def publish_event(
    name: str,
    payload: Mapping[str, Any] | None = None,
    *,
    source: str | None = None,
    dedup_key: str | None = None,
    config: Config | None = None,
) -> int:
    """Publish event ``name`` with a JSON ``payload``; return its id (durable when this returns).

    Deployed flows with ``@trigger(event=name)`` fire on it (``limelight scheduler``).
    """
    metadata = open_store(config).metadata
    return metadata.transaction(
        lambda conn: record_event(conn, name, payload, source=source, dedup_key=dedup_key)
    )


def record_event(
    conn: Connection,
    name: str,
    payload: Mapping[str, Any] | None,
    *,
    source: str | None = None,
    dedup_key: str | None = None,
) -> int:
    """Publish inside the caller's transaction (the registry's own writes and the event commit
    together); the event's id."""
    name = check_event_name(name)
    body = check_payload(payload, name)
    values = {
        "name": name,
        "payload": body,
        "source": source,
        "dedup_key": dedup_key,
        "created_at": clock.now(),
    }
    new = insert_once(conn, published_events, values)
    if new is not None:
        if conn.dialect.name == "postgresql":  # delivered when the transaction commits
            conn.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, name)))
        return int(new)
    return int(
        conn.execute(
            sa.select(published_events.c.id).where(published_events.c.dedup_key == dedup_key)
        ).scalar_one()
    )
