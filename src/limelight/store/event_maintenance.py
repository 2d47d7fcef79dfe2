"""Bulk import and maintenance of the event log's tables, each recorded in an audit table.

* :func:`import_events`: Parquet or Arrow IPC files of the documented schema, all in ONE commit
  (or none: a wrong schema, a truncated file or a bad ``ts`` in any file imports nothing).
  Idempotent: a file whose content (SHA-256) was imported before is skipped, so a backfill or
  a migration can be run again safely.
* :func:`compact`, :func:`expire`, :func:`stats`: see :class:`~limelight.store._event_table.EventLog`.

Every action writes an ``event_log_audit`` row when it starts and one when it ends (who, what,
when, and what it did). Each is one Iceberg commit, so a ``kill -9`` halfway leaves the table as
it was; its ``started`` row without an end says it was interrupted.
"""

from __future__ import annotations

import getpass
import hashlib
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from limelight.core.errors import InvalidInputError
from limelight.store.events import ADDED_COLUMNS

if TYPE_CHECKING:
    from limelight.store._store import Store

__all__ = [
    "DEFAULT_TARGET_SIZE",
    "compact",
    "expire",
    "import_events",
    "parse_age",
    "parse_size",
    "stats",
]

DEFAULT_TARGET_SIZE = 256 * 1024 * 1024
T = TypeVar("T")
Progress = Callable[[str], None]
_UNITS = {"": 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "k": 1024, "m": 1024**2}
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _quiet(_: str) -> None:
    pass


def parse_size(text: str) -> int:
    """``256MB``, ``1GB``, ``512kb`` or a number of bytes, as bytes (a positive integer)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS or float(match.group(1)) <= 0:
        raise InvalidInputError(
            f"{text!r} is not a size; give a positive number of bytes or one with a unit "
            "(KB, MB, GB), such as 256MB"
        )
    size = int(float(match.group(1)) * _UNITS[unit])
    if size < 1024:
        raise InvalidInputError(f"a target size of {size} bytes is too small; use at least 1KB")
    return size


def parse_age(text: str) -> float:
    """``90d``, ``12h``, ``2w``, ``30m``, ``45s`` as seconds (a positive number)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if match is None or float(match.group(1)) <= 0:
        raise InvalidInputError(
            f"{text!r} is not an age; give a positive number with a unit: s, m, h, d or w "
            "(such as 90d)"
        )
    return float(match.group(1)) * _AGE_UNITS[match.group(2)]


def _audited(
    store: Store, action: str, kind: str, asked: dict[str, Any], work: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    from limelight.store.schema import event_log_audit

    who = getpass.getuser()

    def record(outcome: str, details: dict[str, Any]) -> None:
        row = {"at": time.time(), "who": who, "action": action, "kind": kind}
        store.metadata.transaction(
            lambda conn: conn.execute(
                event_log_audit.insert().values(**row, outcome=outcome, details=details)
            )
        )

    record("started", asked)
    try:
        result = work()
    except BaseException as exc:
        record("failed", asked | {"error": f"{type(exc).__name__}: {exc}"})
        raise
    record("done", asked | result)
    return result


def _check_kind(kind: str) -> None:
    from limelight.store.events import _kind

    _kind(kind)


# -- import ---------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_file(path: Path) -> pa.Table:
    """A Parquet or Arrow IPC (file or stream) file as a table; anything else a clear error."""
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(6)
    try:
        if head[:4] == b"PAR1":
            return pq.read_table(path)
        if head == b"ARROW1":
            with ipc.open_file(path) as reader:
                return reader.read_all()
        with ipc.open_stream(path) as stream:
            return stream.read_all()
    except (pa.ArrowException, OSError) as exc:
        kind = "Parquet" if head[:4] == b"PAR1" else "Arrow IPC"
        raise InvalidInputError(
            f"{path}: not a readable Parquet or Arrow IPC file (read as {kind}: {exc}); is it "
            "truncated?"
        ) from exc


def _normal(t: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return pa.list_(_normal(t.value_type))
    if pa.types.is_list(t):
        return pa.list_(_normal(t.value_type))
    return t


def _conform(table: pa.Table, kind: str, path: Path) -> pa.Table:
    """``table`` in ``kind``'s schema, or an InvalidInputError naming each wrong column."""
    from limelight.store.events import _kind

    schema = _kind(kind)
    problems = []
    have = {f.name: f.type for f in table.schema}
    for field in schema:
        if field.name not in have:
            if field.name not in ADDED_COLUMNS.get(kind, ()):
                problems.append(f"column {field.name!r} ({field.type}) is missing")
        elif _normal(have[field.name]) != field.type:
            problems.append(
                f"column {field.name!r} is {have[field.name]}, but {kind} need {field.type}"
            )
    extra = [name for name in have if name not in schema.names]
    if extra:
        problems.append(f"unknown column(s) {', '.join(map(repr, extra))}")
    if problems:
        raise InvalidInputError(
            f"{path} does not have the {kind} schema: {'; '.join(problems)}. "
            f"The schema: {', '.join(f'{f.name} {f.type}' for f in schema)}"
        )
    columns = [
        table[f.name].cast(f.type) if f.name in have else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def import_events(
    store: Store, kind: str, paths: Sequence[str | Path], progress: Progress = _quiet
) -> dict[str, Any]:
    """Import ``paths`` into ``kind``'s table in one commit; files imported before (same
    content) are skipped. Nothing is imported when any file is wrong."""
    from limelight.store._event_table import IMPORT_PROPERTY, with_day

    _check_kind(kind)
    if not paths:
        raise InvalidInputError("give at least one file to import")
    log = store.event_log
    done = _imported_hashes(store, kind)
    batches, hashes, files, skipped = [], [], [], []
    for i, raw in enumerate(paths):
        path = Path(raw)
        digest = _sha256(path) if path.is_file() else ""
        table = _conform(_read_file(path), kind, path)
        if digest in done or digest in hashes:
            skipped.append(str(path))
            progress(f"[{i + 1}/{len(paths)}] {path}: imported before, skipped")
            continue
        try:
            batches.append(with_day(table, kind))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{path}: {exc}") from None
        hashes.append(digest)
        files.append({"path": str(path), "sha256": digest, "rows": table.num_rows})
        progress(f"[{i + 1}/{len(paths)}] {path}: {table.num_rows} rows")
    asked = {"files": [str(p) for p in paths]}

    def work() -> dict[str, Any]:
        if not batches:
            return {"imported": [], "skipped": skipped, "rows": 0, "snapshot": None}
        rows = pa.concat_tables(batches)
        progress(f"writing {rows.num_rows} rows")
        data = log.write_files(kind, rows)
        label = ",".join(hashes)
        snap = log.commit_files(
            kind,
            data,
            {IMPORT_PROPERTY: label},
            unless=lambda t: log.committed(t, IMPORT_PROPERTY, hashes[0]),
            check_first=False,
        )
        progress(f"committed snapshot {snap}")
        return {"imported": files, "skipped": skipped, "rows": rows.num_rows, "snapshot": snap}

    return _audited(store, "import", kind, asked, work)


def _imported_hashes(store: Store, kind: str) -> set[str]:
    """Content hashes of the files imported into ``kind`` (the audit's finished imports, and the
    table's snapshots, which also know an import whose audit row a crash kept from being written)."""
    import sqlalchemy as sa

    from limelight.store._event_table import IMPORT_PROPERTY
    from limelight.store.schema import event_log_audit

    found: set[str] = set()
    query = sa.select(event_log_audit.c.details).where(
        event_log_audit.c.kind == kind,
        event_log_audit.c.action == "import",
        event_log_audit.c.outcome == "done",
    )
    with store.metadata.connect() as conn:
        for (details,) in conn.execute(query):
            found.update(f["sha256"] for f in (details or {}).get("imported", []))
    for snap in store.event_log.table(kind).snapshots():
        props = snap.summary.additional_properties if snap.summary else {}
        found.update(props.get(IMPORT_PROPERTY, "").split(","))
    return found


# -- maintenance ----------------------------------------------------------------------------------
def compact(
    store: Store,
    kind: str,
    *,
    day: str | None = None,
    target_size: int = DEFAULT_TARGET_SIZE,
    progress: Progress = _quiet,
) -> list[dict[str, Any]]:
    """Compact one day (``YYYY-MM-DD``) of ``kind``, or every day with small files."""
    _check_kind(kind)
    if day is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        raise InvalidInputError(f"--day {day!r} is not a date; give YYYY-MM-DD")
    log = store.event_log
    days = [day] if day is not None else [s.day for s in log.stats(kind) if s.files > 1]
    results = []
    for d in days:

        def work(d: str = d) -> dict[str, Any]:
            return log.compact(kind, d, target_size, progress)

        asked: dict[str, Any] = {"day": d, "target_size": target_size}
        results.append(_audited(store, "compact", kind, asked, work))
    return results


def expire(
    store: Store,
    kind: str,
    *,
    older_than: float,
    keep_snapshots: float = 7 * 86_400.0,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Drop the days of ``kind`` older than ``older_than`` seconds, expire the snapshots older
    than ``keep_snapshots`` seconds (their ``--as-of`` can no longer be read) and delete the
    files no snapshot references."""
    _check_kind(kind)
    now = time.time()
    asked = {"older_than_seconds": older_than, "keep_snapshots_seconds": keep_snapshots}

    def work() -> dict[str, Any]:
        return store.event_log.expire(
            kind, now - older_than, progress, snapshots_before=now - keep_snapshots
        )

    return _audited(store, "expire", kind, asked, work)


def stats(store: Store, kind: str) -> list[dict[str, Any]]:
    """Files, rows and bytes per day of ``kind``."""
    _check_kind(kind)
    return [
        {"kind": s.kind, "day": s.day, "files": s.files, "rows": s.rows, "bytes": s.bytes}
        for s in store.event_log.stats(kind)
    ]
