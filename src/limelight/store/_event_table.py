"""The event log as two Apache Iceberg tables: ``limelight.impressions`` and ``limelight.feedback``.

The catalog is pyiceberg's SQL catalog in the metadata database (``Config.db``: SQLite by
default, PostgreSQL for a team), the warehouse is the events location (``Config.events``: a
folder or an fsspec URL such as ``s3://bucket/events``). Each table has its kind's schema plus
a ``date`` column (the UTC day of ``ts``) that partitions it: Iceberg's ``day`` transform only
applies to dates and timestamps, and ``ts`` is a float of unix seconds (see
docs/architecture.md).

Every change is one Iceberg commit. Data files are written once, before the commit; a commit
that loses a race with another writer or a maintenance job is retried on the refreshed table
with the same files, so no file is lost and none is added twice. Commits carry snapshot
properties that make replays idempotent (``limelight.buffer``: the durable-buffer segment the
rows came from).
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from limelight.core.errors import InvalidInputError, StorageError

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

    from limelight.core.config import Config

__all__ = ["NAMESPACE", "EventLog", "day_column", "open_event_log", "table_schema"]

log = logging.getLogger("limelight.events")
NAMESPACE = "limelight"
BUFFER_PROPERTY = "limelight.buffer"
IMPORT_PROPERTY = "limelight.imports"
_DAY = 86_400.0
# retries are ours (_retrying), on a reloaded table, so every retry re-checks what it must
_TABLE_PROPERTIES = {
    "write.parquet.compression-codec": "zstd",
    "commit.retry.num-retries": "0",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
}
_MAX_TS = datetime(9999, 12, 31, tzinfo=UTC).timestamp()
T = TypeVar("T")


def table_schema(kind: str) -> pa.Schema:
    """The Arrow schema of ``kind``'s table: the event schema and the ``date`` partition column."""
    from limelight.store.events import _kind

    return _kind(kind).append(pa.field("date", pa.date32()))


def day_column(ts: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
    """The UTC day of each unix-seconds ``ts`` as an Arrow date (null where ``ts`` is null).

    A ``ts`` that is missing, not finite or outside 1970-9999 has no day: an InvalidInputError.
    """
    if ts.null_count:
        raise InvalidInputError(f"{ts.null_count} event(s) have no ts (unix seconds)")
    valid = ts
    if len(valid) and (
        not pc.all(pc.is_finite(valid)).as_py()
        or pc.max(valid).as_py() > _MAX_TS
        or pc.min(valid).as_py() < 0
    ):
        raise InvalidInputError(
            "some events have a ts that is not a unix time in seconds between 1970 and 9999 "
            "(infinite, NaN or out of range)"
        )
    days = pc.cast(pc.floor(pc.divide(ts, _DAY)), pa.int32())
    return pc.cast(days, pa.date32())


def with_day(table: pa.Table, kind: str) -> pa.Table:
    """``table`` (of ``kind``'s event schema) with its ``date`` column, in table column order."""
    from limelight.store.events import _kind

    table = table.select(_kind(kind).names)
    return table.append_column("date", day_column(table["ts"])).cast(table_schema(kind))


def _sqlite_catalog_engine(url: str) -> Any:
    """An engine for the catalog on SQLite: every transaction takes the write lock up front
    and waits for it, so concurrent committers queue instead of failing with 'locked'."""
    import sqlalchemy as sa
    from sqlalchemy import event

    engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _open_catalog(db: str, warehouse: str) -> SqlCatalog:
    from pyiceberg.catalog import Catalog
    from pyiceberg.catalog.sql import SqlCatalog

    class _Catalog(SqlCatalog):
        def __init__(self) -> None:
            Catalog.__init__(self, NAMESPACE, uri=db, warehouse=warehouse)
            if db.startswith("sqlite"):
                self.engine = _sqlite_catalog_engine(db)
            else:
                import sqlalchemy as sa

                self.engine = sa.create_engine(db, pool_pre_ping=True)
            self._init_catalog()

    return _Catalog()


def _warehouse_url(events: str) -> str:
    return events if "://" in events else "file://" + events


def _retrying(work: Callable[[], T], what: str, attempts: int = 30) -> T:
    """``work()``, retried with backoff when a concurrent commit or a busy database got there
    first (the work reloads the table each time)."""
    from pyiceberg.exceptions import CommitFailedException
    from sqlalchemy.exc import OperationalError

    for attempt in range(attempts):
        try:
            return work()
        except (CommitFailedException, OperationalError) as exc:
            if attempt == attempts - 1:
                raise StorageError(f"{what}: gave up after {attempts} conflicts: {exc}") from exc
            time.sleep(min(1.0, 0.02 * 2**attempt) * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class DayStats:
    """Files, rows and bytes of one day of one kind."""

    kind: str
    day: str
    files: int
    rows: int
    bytes: int


class EventLog:
    """The Iceberg tables of one event log: catalog in ``db``, data files under ``events``."""

    def __init__(self, events: str, db: str) -> None:
        self.events, self.db = events, db
        self._catalog: SqlCatalog | None = None
        self._reader: Any = None  # a plain engine on the catalog's database, for plan_paths
        self._lock = threading.Lock()

    @property
    def catalog(self) -> SqlCatalog:
        with self._lock:
            if self._catalog is None:
                if self.db.startswith("sqlite"):
                    from sqlalchemy.engine import make_url

                    path = make_url(self.db).database
                    if path:
                        from pathlib import Path

                        Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._catalog = _open_catalog(self.db, _warehouse_url(self.events))
            return self._catalog

    def table(self, kind: str) -> Table:
        """``kind``'s table, created (with its namespace) on first use."""
        from pyiceberg.exceptions import (
            CommitFailedException,
            NoSuchTableError,
            TableAlreadyExistsError,
        )

        table_schema(kind)  # an unknown kind is an InvalidInputError here
        catalog = self.catalog
        name = f"{NAMESPACE}.{kind}"
        try:
            return self._evolved(catalog.load_table(name), kind)
        except NoSuchTableError:
            pass
        from pyiceberg.catalog import Catalog
        from pyiceberg.partitioning import PartitionField, PartitionSpec
        from pyiceberg.transforms import IdentityTransform

        schema = Catalog._convert_schema_if_needed(table_schema(kind), format_version=2)
        day = schema.find_field("date").field_id
        spec = PartitionSpec(
            PartitionField(source_id=day, field_id=1000, transform=IdentityTransform(), name="date")
        )

        def namespace() -> None:
            from sqlalchemy.exc import IntegrityError

            # another process may make it between pyiceberg's check and its insert
            with contextlib.suppress(IntegrityError):
                catalog.create_namespace_if_not_exists(NAMESPACE)

        _retrying(namespace, "namespace")
        try:
            tx = catalog.create_table_transaction(
                name, schema=schema, partition_spec=spec, properties=_TABLE_PROPERTIES
            )
            legacy = _legacy_segments(self.events, kind)
            if legacy:  # an event log from before the table: its segments become the first commit
                log.info("importing %d %s segments into the table", len(legacy), kind)
                tx.append(_read_legacy(legacy, kind), {IMPORT_PROPERTY: "legacy-segments"})
            tx.commit_transaction()
        except (TableAlreadyExistsError, CommitFailedException):
            pass  # another process made it first (with the same segments): "already exists"
        return catalog.load_table(name)

    def _evolved(self, table: Table, kind: str) -> Table:
        """``table`` with every column of ``kind``'s schema: the columns a newer Limelight added
        are added by one schema-evolution commit (old data files read them as null)."""
        wanted = table_schema(kind)
        have = {f.name for f in table.schema().fields}
        if all(name in have for name in wanted.names):
            return table
        from pyiceberg.exceptions import CommitFailedException

        def evolve() -> Table:
            current = self.catalog.load_table(table.name())
            names = {f.name for f in current.schema().fields}
            missing = [f for f in wanted if f.name not in names]
            if missing:
                log.info("adding %s to the %s table", [f.name for f in missing], kind)
                try:
                    with current.update_schema() as update:
                        update.union_by_name(pa.schema(missing))
                except ValueError as exc:  # another process added them meanwhile
                    raise CommitFailedException(str(exc)) from exc
                current = self.catalog.load_table(table.name())
            return current

        return _retrying(evolve, f"adding columns to the {kind} table")

    # -- writing --------------------------------------------------------------------------------
    def write_files(self, kind: str, rows: pa.Table) -> list[DataFile]:
        """Write ``rows`` (the table's schema) as data files of ``kind``, not yet committed."""
        from pyiceberg.io.pyarrow import _dataframe_to_data_files

        table = self.table(kind)
        return list(_dataframe_to_data_files(table_metadata=table.metadata, df=rows, io=table.io))

    def commit_files(
        self,
        kind: str,
        files: list[DataFile],
        properties: dict[str, str] | None = None,
        *,
        unless: Callable[[Table], bool] | None = None,
        check_first: bool = True,
    ) -> int | None:
        """Append ``files`` to ``kind`` in one commit and return its snapshot id.

        A lost race is retried on the refreshed table with the same files. ``unless(table)``,
        checked on each refreshed table, skips the commit (returns None) when it is true: the
        rows are in the table already (a replay that a crashed process had committed). With
        ``check_first`` false it is only checked on retries (an unknown outcome may have landed).
        """
        tries = [0]

        def attempt() -> int | None:
            table = self.table(kind)
            tries[0] += 1
            if unless is not None and (check_first or tries[0] > 1) and unless(table):
                return None
            tx = table.transaction()
            with tx.update_snapshot(snapshot_properties=properties or {}).fast_append() as a:
                for f in files:
                    a.append_data_file(f)
            tx.commit_transaction()
            snap = table.current_snapshot()  # the commit refreshed ``table``
            return snap.snapshot_id if snap is not None else None

        return _retrying(attempt, f"appending {kind} events")

    def append(self, kind: str, rows: pa.Table, properties: dict[str, str] | None = None) -> int:
        """Write and commit ``rows`` of ``kind`` (its event schema); return the snapshot id."""
        files = self.write_files(kind, with_day(rows, kind))
        snap = self.commit_files(kind, files, properties)
        assert snap is not None
        return snap

    def committed(self, table: Table, key: str, value: str) -> bool:
        """Whether a snapshot of ``table`` carries ``value`` in its ``key`` property."""
        for snap in table.snapshots():
            found = (snap.summary.additional_properties if snap.summary else {}).get(key)
            if found is not None and value in found.split(","):
                return True
        return False

    # -- reading --------------------------------------------------------------------------------
    def snapshot_table(self, kind: str, as_of: int | None) -> tuple[Table, int | None]:
        table = self.table(kind)
        if as_of is not None:
            if table.snapshot_by_id(as_of) is None:
                raise InvalidInputError(
                    f"the {kind} table has no snapshot {as_of}; see `limelight events stats` "
                    "(an expired snapshot can no longer be read)"
                )
            return table, as_of
        current = table.current_snapshot()
        return table, current.snapshot_id if current is not None else None

    def plan(
        self,
        kind: str,
        *,
        since: float | None = None,
        until: float | None = None,
        as_of: int | None = None,
    ) -> tuple[list[DataFile], int | None]:
        """The data files of ``kind`` for the days of [since, until) at snapshot ``as_of``
        (default: the current one), partitions outside the window pruned; and that snapshot."""
        table, snap = self.snapshot_table(kind, as_of)
        if snap is None:
            return [], None
        terms: list[str] = []
        if since is not None:
            terms.append(f"date >= '{_iso_day(since)}'")
        if until is not None:
            terms.append(f"date <= '{_iso_day(until)}'")
        scan = table.scan(row_filter=_where(terms), snapshot_id=snap)
        return [task.file for task in scan.plan_files()], snap

    def plan_paths(
        self,
        kind: str,
        *,
        since: float | None = None,
        until: float | None = None,
        as_of: int | None = None,
    ) -> tuple[list[str], int | None]:
        """The data files (as URIs) of :meth:`plan`, and that snapshot: from the file list
        remembered for the snapshot when there is one (no pyiceberg import, no table load),
        else planned with pyiceberg once and remembered (``store._event_plans``)."""
        from limelight.store import _event_plans as plans

        table_schema(kind)  # an unknown kind is an InvalidInputError here

        def snapshot() -> plans.Snapshot | None:
            engine = self._reader_engine()
            return plans.current_snapshot(engine, NAMESPACE, NAMESPACE, kind, as_of)

        found = snapshot()
        if found is None:  # no table yet: make it (importing old segments), then look again
            self.table(kind)
            found = snapshot()
        if found is None:  # not readable without pyiceberg: plan as before
            files, snap = self.plan(kind, since=since, until=until, as_of=as_of)
            return [f.file_path for f in files], snap
        snap, manifest_list = found
        if snap is None or manifest_list is None:
            return [], None
        pairs = plans.recall(manifest_list)
        if pairs is None:
            table, _ = self.snapshot_table(kind, snap)
            tasks = table.scan(snapshot_id=snap).plan_files()
            pairs = [(task.file.file_path, _partition_day(task.file)) for task in tasks]
            plans.remember(manifest_list, pairs)
        first = _iso_day(since) if since is not None else None
        last = _iso_day(until) if until is not None else None
        kept = [
            path
            for path, day in pairs
            if (first is None or day >= first) and (last is None or day <= last)
        ]
        return kept, snap

    def _reader_engine(self) -> Any:
        import sqlalchemy as sa

        with self._lock:
            if self._reader is None:
                self._reader = sa.create_engine(self.db)
            return self._reader

    def read(
        self, kind: str, *, since: float | None = None, until: float | None = None
    ) -> pa.Table:
        """Every committed event of ``kind`` (optionally of a time window) as one Arrow table."""
        from limelight.store.events import _kind

        schema = _kind(kind)
        table, snap = self.snapshot_table(kind, None)
        if snap is None:
            return schema.empty_table()
        terms: list[str] = []
        if since is not None:
            terms.append(f"ts >= {float(since)!r}")
        if until is not None:
            terms.append(f"ts < {float(until)!r}")
        rows = table.scan(row_filter=_where(terms), snapshot_id=snap).to_arrow()
        return rows.select(schema.names).cast(schema)

    def stats(self, kind: str) -> list[DayStats]:
        """Files, rows and bytes per day of ``kind``'s current snapshot."""
        files, _ = self.plan(kind)
        days: dict[str, list[int]] = {}
        for f in files:
            day = _partition_day(f)
            entry = days.setdefault(day, [0, 0, 0])
            entry[0] += 1
            entry[1] += f.record_count
            entry[2] += f.file_size_in_bytes
        return [DayStats(kind, d, *v) for d, v in sorted(days.items())]

    # -- maintenance ----------------------------------------------------------------------------
    def compact(
        self,
        kind: str,
        day: str,
        target_size: int,
        progress: Callable[[str], None] = lambda _: None,
    ) -> dict[str, Any]:
        """Rewrite the small files of ``day`` into files of about ``target_size`` bytes, and
        swap them in with one commit (readers of older snapshots keep reading theirs).

        Killed before the commit, the table is unchanged (the new files are unreferenced and
        ``expire`` removes them); a second run does the work again.
        """
        import pyarrow.parquet as pq
        from pyiceberg.io.pyarrow import _dataframe_to_data_files

        table = self.table(kind)
        small = [f for f in self.plan_day(table, day) if f.file_size_in_bytes < target_size]
        groups = [g for g in _groups(small, target_size) if len(g) > 1]  # one file: as it is
        files = [f for g in groups for f in g]
        if len(files) < 2:
            return {"kind": kind, "day": day, "rewritten": 0, "written": 0, "rows": 0}
        progress(f"compacting {len(files)} {kind} files of {day}")
        fs = table.io
        meta = table.metadata
        props = dict(meta.properties)
        props["write.target-file-size-bytes"] = str(target_size)
        meta = meta.model_copy(update={"properties": props})
        # One group of small files (about ``target_size`` of Parquet together) at a time, each
        # written out before the next is read: the memory is a group's, not the day's.
        new_files: list[DataFile] = []
        rows_written = 0
        for g, group in enumerate(groups):
            parts = []
            for f in group:
                with fs.new_input(f.file_path).open() as stream:
                    parts.append(pq.read_table(stream, schema=table_schema(kind)))
            rows = pa.concat_tables(parts)
            del parts
            new_files += _dataframe_to_data_files(table_metadata=meta, df=rows, io=fs)
            rows_written += rows.num_rows
            del rows
            progress(f"  group {g + 1}: {len(group)} files rewritten ({rows_written} rows so far)")
        progress(f"  wrote {len(new_files)} files of {rows_written} rows; committing")
        old_paths = {f.file_path for f in files}

        def attempt() -> None:
            current = self.table(kind)
            live = {f.file_path for f in self.plan_day(current, day)}
            if not old_paths <= live:
                raise StorageError(
                    f"the {kind} files of {day} changed under the compaction (another one ran); "
                    "run it again"
                )
            tx = current.transaction()
            with tx.update_snapshot(
                snapshot_properties={"limelight.compacted": day}
            ).overwrite() as o:
                for f in files:
                    o.delete_data_file(f)
                for f in new_files:
                    o.append_data_file(f)
            tx.commit_transaction()

        _retrying(attempt, f"compacting {kind} of {day}")
        return {
            "kind": kind,
            "day": day,
            "rewritten": len(files),
            "written": len(new_files),
            "rows": rows_written,
        }

    def plan_day(self, table: Table, day: str) -> list[DataFile]:
        if table.current_snapshot() is None:
            return []
        return [t.file for t in table.scan(row_filter=f"date = '{day}'").plan_files()]

    def expire(
        self,
        kind: str,
        before: float,
        progress: Callable[[str], None] = lambda _: None,
        *,
        snapshots_before: float | None = None,
    ) -> dict[str, Any]:
        """Drop the days of ``kind`` before the UTC day of ``before`` (whole partitions), expire
        snapshots older than ``snapshots_before`` (default ``before``) and delete the files no
        snapshot references."""
        keep_from = before if snapshots_before is None else snapshots_before
        cutoff = _iso_day(before)
        table = self.table(kind)
        dropped = [f for f in self.plan(kind)[0] if _partition_day(f) < cutoff]
        if dropped:
            progress(f"dropping {len(dropped)} {kind} files of days before {cutoff}")

            def drop() -> None:
                self.table(kind).delete(
                    delete_filter=f"date < '{cutoff}'",
                    snapshot_properties={"limelight.expired-before": cutoff},
                )

            _retrying(drop, f"expiring {kind}")
        table = self.table(kind)
        current = table.current_snapshot()
        old = [
            s.snapshot_id
            for s in table.snapshots()
            if s.timestamp_ms < keep_from * 1000
            and current
            and s.snapshot_id != current.snapshot_id
        ]
        if old:
            progress(f"expiring {len(old)} {kind} snapshots")
            _retrying(
                lambda: self.table(kind).maintenance.expire_snapshots().by_ids(old).commit(),
                f"expiring {kind} snapshots",
            )
        removed = self.remove_unreferenced(kind, older_than=min(keep_from, time.time() - 3600))
        return {
            "kind": kind,
            "before": cutoff,
            "dropped_files": len(dropped),
            "dropped_rows": sum(f.record_count for f in dropped),
            "expired_snapshots": len(old),
            "deleted_files": removed,
        }

    def remove_unreferenced(self, kind: str, older_than: float) -> int:
        """Delete data files under the table's data folder that no snapshot references and that
        are older than ``older_than`` (younger ones may belong to a commit in flight)."""
        import fsspec

        table = self.table(kind)
        referenced = set()
        for snap in table.snapshots():
            for manifest in snap.manifests(table.io):
                for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                    referenced.add(_strip(entry.data_file.file_path))
        fs, root = fsspec.core.url_to_fs(f"{table.location()}/data")
        if not fs.exists(root):
            return 0
        removed = 0
        for path, info in fs.find(root, detail=True).items():
            if not path.endswith(".parquet") or _strip(path) in referenced:
                continue
            mtime = info.get("mtime") or info.get("LastModified") or 0
            stamp = mtime.timestamp() if isinstance(mtime, datetime) else float(mtime)
            if stamp < older_than:
                fs.rm(path)
                removed += 1
        return removed


def _legacy_segments(events: str, kind: str) -> list[str]:
    """The Parquet segments of the event log before it was a table: ``<kind>/date=*/*.parquet``."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(events)
    found = fs.glob(f"{root.rstrip('/')}/{kind}/date=*/*.parquet")
    return sorted(f for f in found if not f.rsplit("/", 1)[1].startswith("."))


def _read_legacy(paths: list[str], kind: str) -> pa.Table:
    import fsspec
    import pyarrow.parquet as pq

    from limelight.store.events import _kind

    fs = fsspec.core.url_to_fs(paths[0])[0] if "://" in paths[0] else fsspec.filesystem("file")
    parts = [_kind(kind).empty_table()]
    for path in paths:
        try:
            with fs.open(path, "rb") as f:
                parts.append(pq.read_table(f, schema=_kind(kind)))
        except (OSError, pa.ArrowException) as exc:  # left where it is, for events import to name
            log.warning(
                "segment %s cannot be read as %s (%s); left out of the table", path, kind, exc
            )
    return with_day(pa.concat_tables(parts), kind)


def _groups(files: list[DataFile], target_size: int) -> list[list[DataFile]]:
    """``files`` in runs of about ``target_size`` bytes together (each at least one file)."""
    groups: list[list[DataFile]] = [[]]
    size = 0
    for f in files:
        if groups[-1] and size + f.file_size_in_bytes > target_size:
            groups.append([])
            size = 0
        groups[-1].append(f)
        size += f.file_size_in_bytes
    return groups


def _where(terms: list[str]) -> Any:
    """A pyiceberg row filter: the terms ANDed (everything when there are none)."""
    from pyiceberg.expressions import AlwaysTrue

    return " AND ".join(terms) if terms else AlwaysTrue()


def _strip(path: str) -> str:
    return path.split("://", 1)[-1]


def _iso_day(ts: float) -> str:
    if not math.isfinite(ts):
        raise InvalidInputError(f"{ts!r} is not a time")
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _partition_day(f: DataFile) -> str:
    value = f.partition[0]
    if isinstance(value, int):
        return date.fromordinal(date(1970, 1, 1).toordinal() + value).isoformat()
    return str(value)


_logs: dict[tuple[str, str], EventLog] = {}
_logs_lock = threading.Lock()


def open_event_log(where: str | Config) -> EventLog:
    """The event log of a configuration, or of an events location.

    A location is matched to the configuration whose ``events`` it is (open stores first, then
    the environment), so the catalog is in that configuration's metadata database. A folder no
    configuration names keeps its catalog beside its data, in ``<folder>/catalog.db``.
    """
    from limelight.core.config import Config, resolve_config

    if isinstance(where, Config):
        events, db = where.events, where.db
    else:
        events, db = str(where), ""
        from limelight.store._store import _stores

        for config in list(_stores):
            if config.events.rstrip("/") == events.rstrip("/"):
                db = config.db
                break
        if not db:
            try:
                resolved: Config | None = resolve_config()
            except Exception:  # an unusable environment: the folder's own catalog
                resolved = None
            if resolved is not None and resolved.events.rstrip("/") == events.rstrip("/"):
                db = resolved.db
        if not db:
            if "://" in events and not events.startswith("file://"):
                raise InvalidInputError(
                    f"no configuration names the event log {events}; set LIMELIGHT_EVENTS and "
                    "LIMELIGHT_DB so its catalog is found"
                )
            db = f"sqlite:///{events.removeprefix('file://').rstrip('/')}/catalog.db"
    key = (events, db)
    with _logs_lock:
        found = _logs.get(key)
        if found is None:
            found = _logs[key] = EventLog(events, db)
    return found
