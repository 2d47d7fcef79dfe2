"""The event log: impressions and feedback as Parquet segments, appended without blocking.

A serving worker calls :meth:`EventWriter.append` on its request path: the record is encoded
as one JSON line (orjson, a couple of microseconds) that joins a list in memory. A background
thread parses the lines into an Arrow table every ``flush_seconds`` (or ``flush_rows`` records)
with Arrow's JSON reader, which runs without the GIL, and writes one Parquet segment, to a
temporary name first and then renamed, so readers never see half a segment. Keeping bytes
rather than dicts and lists matters under load: a second of buffered records as Python
objects (about 45 per impression) made the garbage collector's full passes take 15-30 ms in a
serving worker, which showed as the p99 latency. :meth:`EventWriter.close`
flushes what is left (serving calls it on SIGTERM). Analysis jobs read every finished segment
with :func:`read_events` while serving goes on.

Layout: ``<root>/<kind>/date=YYYY-MM-DD/<time>-<host>-<pid>-<seq>.parquet``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import fsspec
import orjson
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from limelight.core.errors import InvalidInputError, StorageError

__all__ = [
    "FEEDBACK_SCHEMA",
    "IMPRESSION_SCHEMA",
    "SCHEMAS",
    "EventWriter",
    "read_events",
    "segment_state",
]

log = logging.getLogger("limelight.events")

IMPRESSION_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("ts", pa.float64()),
        ("user_id", pa.string()),
        ("items", pa.list_(pa.string())),
        ("scores", pa.list_(pa.float64())),
        ("artworks", pa.list_(pa.string())),  # the artwork shown with each item (null: none chosen)
        ("propensities", pa.list_(pa.float64())),  # probability of each artwork choice
        ("experiments", pa.list_(pa.string())),
        ("variants", pa.list_(pa.string())),  # parallel to experiments
        (
            "decided",
            pa.list_(pa.bool_()),
        ),  # parallel to experiments: this experiment chose the served model
        ("models", pa.list_(pa.string())),  # "name/version" of each model that served the request
        ("latency_ms", pa.float64()),  # time spent serving the request
    ]
)
FEEDBACK_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("ts", pa.float64()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("event", pa.string()),
        ("value", pa.float64()),
    ]
)
SCHEMAS = {"impressions": IMPRESSION_SCHEMA, "feedback": FEEDBACK_SCHEMA}


def _kind(kind: str) -> pa.Schema:
    if kind not in SCHEMAS:
        raise InvalidInputError(f"unknown event kind {kind!r}; known: {', '.join(SCHEMAS)}")
    return SCHEMAS[kind]


class EventWriter:
    """Buffers events of one kind and writes them as Parquet segments from a background thread."""

    def __init__(
        self, root: str, kind: str, *, flush_seconds: float = 1.0, flush_rows: int = 50_000
    ):
        self.schema = _kind(kind)
        self.kind = kind
        self.fs, path = fsspec.core.url_to_fs(str(root))
        self.root = path.rstrip("/")
        self.flush_seconds, self.flush_rows = flush_seconds, flush_rows
        self._rows: list[bytes] = []  # one JSON document per event
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._seq = 0
        self._thread: threading.Thread | None = None
        self.written = 0
        self.failures = 0
        self.rejected = 0

    def warm_up(self) -> None:
        """Start the writer thread and pay Arrow's and Parquet's first-use costs now.

        The first table conversion and Parquet write of a process take a few hundred
        milliseconds; a server calls this before it is ready, so no request waits for them.
        """
        empty = self._table([b"{}"])
        pq.write_table(empty, pa.BufferOutputStream(), compression="zstd")
        self._start()

    def append(self, record: dict[str, Any]) -> None:
        """Queue one event (never blocks on I/O); a value JSON cannot hold is a TypeError here."""
        line = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)
        with self._lock:
            self._rows.append(line)
            full = len(self._rows) >= self.flush_rows
        if self._thread is None:
            self._start()
        if full:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._loop, name=f"limelight-events-{self.kind}", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a failed write keeps its rows for the next try
                self.failures += 1

    def flush(self) -> int:
        """Write what is buffered as one segment; return the number of events written."""
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                try:
                    table: pa.Table | None = self._table(rows)
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    rows = self._set_aside_rejected(rows)
                    table = self._table(rows) if rows else None
                if table is not None:
                    self._write(table)
            except BaseException:
                with self._lock:
                    self._rows[:0] = rows
                raise
            self.written += len(rows)
            return len(rows)

    def _set_aside_rejected(self, lines: list[bytes]) -> list[bytes]:
        """The lines the schema can hold; the others go, verbatim, to a ``rejected`` file.

        One event of the wrong shape (a text where a number belongs) must neither stop every
        later flush nor be lost: it is kept under ``<root>/<kind>/rejected/`` as JSON lines,
        counted in ``rejected`` and logged.
        """
        good, bad = [], []
        for line in lines:
            try:
                self._table([line])
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                bad.append(line)
            else:
                good.append(line)
        now = datetime.now(UTC)
        folder = f"{self.root}/{self.kind}/rejected"
        name = f"{now:%Y%m%d-%H%M%S%f}-{socket.gethostname()}-{os.getpid()}.jsonl"
        self._put(folder, name, lambda f: f.write(b"\n".join(bad) + b"\n"))
        self.rejected += len(bad)
        log.warning(
            "%d %s event(s) do not fit the schema; kept in %s/%s", len(bad), self.kind, folder, name
        )
        return good

    def _table(self, lines: list[bytes]) -> pa.Table:
        """The events as a table of this kind's schema (fields it does not name are ignored)."""
        return pa_json.read_json(
            pa.BufferReader(b"\n".join(lines)),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=1 << 24),
            parse_options=pa_json.ParseOptions(
                explicit_schema=self.schema, unexpected_field_behavior="ignore"
            ),
        )

    def _write(self, table: pa.Table) -> None:
        now = datetime.now(UTC)
        folder = f"{self.root}/{self.kind}/date={now:%Y-%m-%d}"
        self._seq += 1
        name = f"{now:%H%M%S%f}-{socket.gethostname()}-{os.getpid()}-{self._seq:06d}.parquet"
        self._put(folder, name, lambda f: pq.write_table(table, f, compression="zstd"))

    def _put(self, folder: str, name: str, write: Callable[[Any], object]) -> None:
        """``write`` a file into ``folder``: to a hidden temporary name, then renamed."""
        tmp = f"{folder}/.{uuid.uuid4().hex}.tmp"
        try:
            self.fs.makedirs(folder, exist_ok=True)
            with self.fs.open(tmp, "wb") as f:
                write(f)
            self.fs.mv(tmp, f"{folder}/{name}")
        except OSError as exc:
            raise StorageError(
                f"could not write {self.kind} events under {self.root}: {exc}"
            ) from exc

    def close(self, timeout: float = 30.0) -> None:
        """Stop the background thread and write everything still buffered."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.flush()

    def pending(self) -> int:
        with self._lock:
            return len(self._rows)


def _segments(fs: Any, path: str, kind: str) -> dict[str, Any]:
    """The finished segment files of ``kind`` (hidden temporaries left out), with their details."""
    found = fs.glob(f"{path.rstrip('/')}/{kind}/date=*/*.parquet", detail=True)
    return {f: info for f, info in found.items() if not f.rsplit("/", 1)[1].startswith(".")}


def segment_state(root: str, kind: str) -> tuple[tuple[str, int, Any], ...]:
    """Name, size and modification time of every finished segment of ``kind``.

    Segments are written once and renamed into place, so a change in this tuple is exactly a
    change in what :func:`read_events` would read: a cache keyed on it is never stale.
    """
    _kind(kind)
    fs, path = fsspec.core.url_to_fs(str(root))
    return tuple(
        (name, int(info.get("size") or 0), info.get("mtime") or info.get("LastModified"))
        for name, info in sorted(_segments(fs, path, kind).items())
    )


def read_events(
    root: str, kind: str, *, since: float | None = None, until: float | None = None
) -> pa.Table:
    """Every finished segment of ``kind`` under ``root`` as one table (optionally a time window).

    Segments written before a column joined the schema read with that column null (for
    impressions' ``decided``: unknown, which the experiment analysis keeps and counts).
    """
    schema = _kind(kind)
    fs, path = fsspec.core.url_to_fs(str(root))
    files: Iterable[str] = sorted(_segments(fs, path, kind))
    tables = []
    for name in files:
        with fs.open(name, "rb") as f:
            tables.append(pq.read_table(f, schema=schema))
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    if since is not None or until is not None:
        import pyarrow.compute as pc

        mask = pc.greater_equal(table["ts"], since if since is not None else -float("inf"))
        if until is not None:
            mask = pc.and_(mask, pc.less(table["ts"], until))
        table = table.filter(mask)
    return table
