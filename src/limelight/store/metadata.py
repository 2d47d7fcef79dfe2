"""The metadata store: one SQLAlchemy Core schema on SQLite (WAL) or PostgreSQL.

Writes run in short transactions. On SQLite they take the write lock up front
(``BEGIN IMMEDIATE``) and wait for it (busy timeout), so that several processes write at once
without "database is locked"; on PostgreSQL, serialization failures and deadlocks are retried.
The schema is created and upgraded by Alembic migrations when a store is first written.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from limelight.core.errors import ConfigError, SchemaVersionError, StorageError
from limelight.store.schema import SCHEMA_HEAD, metadata

__all__ = ["MetadataStore", "insert_once", "inserted_id"]

T = TypeVar("T")
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock n/a
_PG_MIGRATION_LOCK = 7_236_915_406  # any constant: serialises schema upgrades across processes


def _sqlite_engine(url: str) -> Engine:
    engine = sa.create_engine(
        url, connect_args={"timeout": 60, "check_same_thread": False}, pool_pre_ping=False
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("limelight_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key of the row an INSERT made."""
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every table here has a primary key
        raise StorageError("the database returned no primary key for an insert")
    return int(key[0])


def insert_once(conn: Connection, table: sa.Table, values: dict[str, Any]) -> Any | None:
    """INSERT ``values``; the new row's primary key, or None when a unique key already holds it.

    ``ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL alike: a lost race is an answer, not an
    error, and it does not abort the transaction around it.
    """
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    row = conn.execute(statement).first()
    return None if row is None else row[0]


@contextmanager
def _write_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect().execution_options(limelight_write=True) as conn, conn.begin():
        yield conn


def _is_retryable(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _RETRYABLE_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


class MetadataStore:
    """Runs, tasks, artifacts, metrics, models and experiments, in one relational database."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except Exception as exc:  # SQLAlchemy raises ArgumentError or ValueError
            raise ConfigError(f"{url!r} is not a database URL") from exc
        self.dialect = parsed.get_backend_name()
        self._sqlite_path = (
            Path(parsed.database) if self.dialect == "sqlite" and parsed.database else None
        )
        self._engine: Engine | None = None
        self._empty_engine: Engine | None = None
        self._lock = threading.Lock()

    # -- engines --------------------------------------------------------------------------------
    def _open(self) -> Engine:
        if self._engine is not None:
            return self._engine
        with self._lock:
            if self._engine is None:
                engine = self._create_engine()
                try:
                    self._migrate(engine)
                except BaseException:
                    engine.dispose()
                    raise
                self._engine = engine
        return self._engine

    def _create_engine(self) -> Engine:
        if self.dialect == "sqlite":
            if self._sqlite_path is not None:
                folder = self._sqlite_path.parent
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise ConfigError(
                        f"cannot create {folder} for the metadata database: {exc.strerror}. Set "
                        "LIMELIGHT_HOME (or LIMELIGHT_DB) to a folder you can write to."
                    ) from exc
                if not os.access(folder, os.W_OK):
                    raise ConfigError(
                        f"the folder {folder} is not writable, so the metadata database cannot "
                        "be created there. Set LIMELIGHT_HOME (or LIMELIGHT_DB) to a folder you "
                        "can write to."
                    )
            return _sqlite_engine(self.url)
        if self.dialect == "postgresql":
            try:
                engine = sa.create_engine(self.url, pool_pre_ping=True, pool_size=4)
            except ModuleNotFoundError as exc:
                raise ConfigError(
                    "PostgreSQL needs a driver: pip install 'limelight[postgres]'"
                ) from exc
            return engine
        raise ConfigError(f"database backend {self.dialect!r} is not supported")

    def _reader(self) -> Engine:
        """The engine for reads; an empty in-memory schema while a SQLite file does not exist."""
        if self._engine is not None:
            return self._engine
        if self._sqlite_path is not None and not self._sqlite_path.exists():
            if self._empty_engine is None:
                self._empty_engine = _sqlite_engine("sqlite://")
                metadata.create_all(self._empty_engine)
            return self._empty_engine
        return self._open()

    # -- schema ---------------------------------------------------------------------------------
    def _migrate(self, engine: Engine) -> None:
        try:
            with _write_transaction(engine) as conn:
                if self.dialect == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
                current = self._current_revision(conn)
                if current != SCHEMA_HEAD:
                    self._upgrade(conn, current)
        except OperationalError as exc:
            raise ConfigError(
                f"cannot open the metadata database {engine.url.render_as_string()}: "
                f"{' '.join(str(exc.orig).split())}. Check LIMELIGHT_DB and that the server is "
                "running."
            ) from exc

    @staticmethod
    def _current_revision(conn: Connection) -> str | None:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def _upgrade(self, conn: Connection, current: str | None) -> None:
        from alembic import command
        from alembic.config import Config as AlembicConfig
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError

        config = AlembicConfig()
        config.set_main_option("script_location", str(files("limelight.store") / "migrations"))
        config.attributes["connection"] = conn
        if current is not None:
            try:
                ScriptDirectory.from_config(config).get_revision(current)
            except CommandError as exc:
                raise SchemaVersionError(
                    f"the metadata database {self.url} has schema revision {current!r}, which this "
                    f"version of Limelight does not know (it knows up to {SCHEMA_HEAD!r}): it was "
                    "written by a newer Limelight. Upgrade with: pip install -U limelight"
                ) from exc
        command.upgrade(config, "head")

    def schema_revision(self) -> str | None:
        with self.connect() as conn:
            return self._current_revision(conn)

    # -- transactions ---------------------------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reading."""
        with self._reader().connect() as conn:
            yield conn

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction (the write lock is taken at the start on SQLite)."""
        with _write_transaction(self._open()) as conn:
            yield conn

    def transaction(self, work: Callable[[Connection], T], *, attempts: int = 10) -> T:
        """Run ``work`` in a write transaction, again when the database asks for a retry."""
        for attempt in range(attempts):
            try:
                with self.begin() as conn:
                    return work(conn)
            except DBAPIError as exc:
                if not _is_retryable(exc) or attempt == attempts - 1:
                    raise StorageError(f"metadata write failed: {exc.orig}") from exc
                time.sleep(min(1.0, 0.01 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def listener(self, channel: str) -> Any | None:
        """On PostgreSQL, a psycopg connection that LISTENs on ``channel`` (None on SQLite).

        ``publish_event`` NOTIFYs it, so a scheduler wakes at once instead of polling hard.
        """
        if self.dialect != "postgresql":
            return None
        raw = self._open().raw_connection()
        conn: Any = raw.driver_connection
        raw.detach()  # its own life: the pool never hands it to anyone else
        conn.autocommit = True
        conn.execute(f"LISTEN {channel}")
        return conn

    def dispose(self) -> None:
        """Close pooled connections (call after fork, or when done)."""
        for engine in (self._engine, self._empty_engine):
            if engine is not None:
                engine.dispose()
