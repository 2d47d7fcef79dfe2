"""Reading the event log out of core: which data files a query reads, and DuckDB over them.

An analysis never loads the log into Python. It asks :func:`scan_events` for the data files of
one kind (pruned by day when it gives a time window), opens an embedded DuckDB connection with
:func:`connect` (bounded memory, spilling to disk) and aggregates there with
:func:`events_relation` naming only the columns it needs; only the aggregates come back.

Each :class:`EventScan` names the table snapshot it read (``snapshot``), so an analysis can
record it and read exactly the same files again with ``as_of``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fsspec
import pyarrow as pa

from limelight.core.errors import InvalidInputError

if TYPE_CHECKING:
    import duckdb

__all__ = ["DEFAULT_MEMORY_LIMIT", "EventScan", "connect", "events_relation", "scan_events"]

DEFAULT_MEMORY_LIMIT = "768MB"


@dataclass(frozen=True)
class EventScan:
    """The data files of one event kind that a query reads, and the snapshot they make up."""

    kind: str
    files: tuple[str, ...]  # Parquet data files, as paths ``filesystem`` opens
    schema: pa.Schema  # the kind's current schema (older files may lack later columns)
    snapshot: int | None  # the table snapshot these files are; None: not a versioned table
    filesystem: Any  # the fsspec filesystem of ``files``
    protocol: str = "file"  # "file" for local paths; otherwise the fsspec protocol


def scan_events(
    root: str,
    kind: str,
    *,
    since: float | None = None,
    until: float | None = None,
    as_of: int | None = None,
) -> EventScan:
    """The data files of ``kind``'s table in the event log at ``root`` that can hold events of
    the window [``since``, ``until``) (unix seconds), from an Iceberg scan plan of snapshot
    ``as_of`` (default: the current one): days outside the window are pruned, not read.

    Rows inside a kept day but outside the window are for the query to filter on ``ts``. An
    unknown (or expired) ``as_of`` is an InvalidInputError naming it.
    """
    from limelight.store._event_table import open_event_log
    from limelight.store.events import SCHEMAS

    if kind not in SCHEMAS:
        raise InvalidInputError(f"unknown event kind {kind!r}; known: {', '.join(SCHEMAS)}")
    files, snapshot = open_event_log(root).plan_paths(kind, since=since, until=until, as_of=as_of)
    uris = sorted(files)
    fs, _ = fsspec.core.url_to_fs(uris[0] if uris else str(root))
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    paths = tuple(u.split("://", 1)[1] if "://" in u else u for u in uris)
    return EventScan(kind, paths, SCHEMAS[kind], snapshot, fs, protocol)


def connect(
    *, memory_limit: str = DEFAULT_MEMORY_LIMIT, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that streams and spills instead of growing past ``memory_limit``
    (``LIMELIGHT_DUCKDB_MEMORY`` overrides the default).

    The tables a query creates live in a scratch database file under the temporary folder
    (attached and made the default; its name is unlinked at once, so nothing is left behind):
    the blocks of an in-memory database's tables cannot be evicted, and an intermediate table of
    10M users would not fit in the limit.
    """
    import duckdb

    con = duckdb.connect(":memory:")
    limit = os.environ.get("LIMELIGHT_DUCKDB_MEMORY", memory_limit)
    spill = os.path.join(tempfile.gettempdir(), "limelight-duckdb")
    os.makedirs(spill, exist_ok=True)
    scratch = os.path.join(spill, f"scratch-{os.getpid()}-{uuid.uuid4().hex}.duckdb")
    con.execute(f"ATTACH {_quote(scratch)} AS scratch")
    con.execute("USE scratch")
    for leftover in (scratch, scratch + ".wal"):
        with contextlib.suppress(OSError):
            os.unlink(leftover)
    con.execute(f"SET memory_limit = '{limit}'")
    con.execute(f"SET temp_directory = '{spill}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")  # it would print into the command's output
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    return con


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def events_relation(con: duckdb.DuckDBPyConnection, scan: EventScan, columns: Sequence[str]) -> str:
    """A SQL table expression over ``scan``'s files with only ``columns`` (a subquery to put
    after FROM). Files written before a column joined the schema read it as NULL; an empty scan
    is an empty relation of the right types."""
    unknown = [c for c in columns if c not in scan.schema.names]
    if unknown:
        raise InvalidInputError(
            f"{scan.kind} have no column(s) {unknown}; known: {', '.join(scan.schema.names)}"
        )
    names = ", ".join(f'"{c}"' for c in columns)
    if not scan.files:
        return f"(SELECT {names} FROM {_empty_view(con, scan, columns)})"
    if scan.protocol not in ("file", "local"):
        con.register_filesystem(scan.filesystem)
        paths = [f"{scan.protocol}://{f}" for f in scan.files]
    else:
        paths = list(scan.files)
    listing = "[" + ", ".join(_quote(p) for p in paths) + "]"
    absent = _absent_columns(con, scan, listing, columns)
    if absent:  # in no file yet: a typed null, as the table reads them
        view = _empty_view(con, scan, absent)
        names = ", ".join(
            f'(SELECT "{c}" FROM {view}) AS "{c}"' if c in absent else f'"{c}"' for c in columns
        )
    return f"(SELECT {names} FROM read_parquet({listing}, union_by_name = true))"


def _empty_view(con: duckdb.DuckDBPyConnection, scan: EventScan, columns: Sequence[str]) -> str:
    """A registered empty relation of ``columns`` with the kind's types."""
    view = f"_empty_{scan.kind}_{'_'.join(columns)}"
    con.register(view, pa.schema([scan.schema.field(c) for c in columns]).empty_table())
    return view


def _absent_columns(
    con: duckdb.DuckDBPyConnection, scan: EventScan, listing: str, columns: Sequence[str]
) -> list[str]:
    """The columns asked for that joined the schema later and that no file of ``scan`` holds
    (only their footers are read)."""
    from limelight.store.events import ADDED_COLUMNS

    late = [c for c in columns if c in ADDED_COLUMNS.get(scan.kind, ())]
    if not late:
        return []
    import duckdb

    try:
        found = {
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT name FROM parquet_schema({listing}) WHERE name IN "
                f"({', '.join(_quote(c) for c in late)})"
            ).fetchall()
        }
    except duckdb.Error:  # an unreadable file: the query itself reports it, naming the file
        return []
    return [c for c in late if c not in found]
