"""The event log: impressions and feedback, acknowledged durably, committed to Iceberg tables.

A serving worker calls :meth:`EventWriter.acknowledge` (async) or :meth:`EventWriter.append` on
its request path: the record is encoded as one JSON line (orjson, a couple of microseconds)
and joins the worker's durable buffer (:mod:`limelight.store._eventbuf`), whose flusher thread
fsyncs every waiting line in one group; ``acknowledge`` returns once its line is on disk, so
an answered request survives ``kill -9``. A committer thread turns the buffered lines into an
Arrow table every ``flush_seconds`` (or ``flush_rows`` records) with Arrow's JSON reader, which
runs without the GIL, commits it to the kind's Iceberg table (:mod:`limelight.store._event_table`)
and only then removes the buffer file. A buffer whose worker died is replayed by the next
writer that starts on the host; the commit names the buffer, so a replay of rows that were
committed just before a crash adds nothing.

Keeping bytes rather than dicts and lists matters under load: a second of buffered records as
Python objects (about 45 per impression) made the garbage collector's full passes take 15-30 ms
in a serving worker, which showed as the p99 latency. :meth:`EventWriter.close` commits what
is left (serving calls it on SIGTERM).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.json as pa_json

from limelight.core.errors import InvalidInputError

if TYPE_CHECKING:
    from limelight.core.config import Config
    from limelight.store._event_table import EventLog
    from limelight.store._eventbuf import Segment, _Group

__all__ = [
    "ADDED_COLUMNS",
    "CONTEXT_TYPE",
    "FAILURE_SCHEMA",
    "FEEDBACK_SCHEMA",
    "IMPRESSION_SCHEMA",
    "SCHEMAS",
    "EventWriter",
    "committer_main",
    "read_committer_status",
    "read_events",
    "run_committer",
    "segment_state",
    "wait_for_commits",
]

log = logging.getLogger("limelight.events")

CONTEXT_TYPE = pa.list_(pa.struct([("name", pa.string()), ("value", pa.float64())]))
"""A list of (name, value) structs: Arrow's JSON reader, Iceberg, Parquet and DuckDB all hold
it (Arrow's JSON reader cannot read a map)."""
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
        # the context features the artwork policy chose with, by name (null: none); added to
        # an existing table by schema evolution, so older rows read it as null
        ("context", CONTEXT_TYPE),
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
FAILURE_SCHEMA = pa.schema(
    [
        ("ts", pa.float64()),
        ("models", pa.list_(pa.string())),  # "name/version" of the model that failed
        ("endpoint", pa.string()),  # the path it failed on, e.g. /v1/recommend
        ("error", pa.string()),  # the exception's class (its message may hold data: not kept)
        ("latency_ms", pa.float64()),
    ]
)
"""A request a served model failed to answer (a 502 ``model_error``): the answered ones are
impressions, so the two give a version's error rate."""
SCHEMAS = {
    "impressions": IMPRESSION_SCHEMA,
    "feedback": FEEDBACK_SCHEMA,
    "failures": FAILURE_SCHEMA,
}
ADDED_COLUMNS: dict[str, frozenset[str]] = {"impressions": frozenset({"decided", "context"})}
"""Columns that joined a kind's schema later: a segment without them imports them as null, a
table gains them by schema evolution when it is opened, and its older files read them as null."""
_REPLAY_SECONDS = 60.0  # how often a writer looks for buffers of dead workers


def _kind(kind: str) -> pa.Schema:
    if kind not in SCHEMAS:
        raise InvalidInputError(f"unknown event kind {kind!r}; known: {', '.join(SCHEMAS)}")
    return SCHEMAS[kind]


class EventWriter:
    """Acknowledges events of one kind durably and commits them to the kind's table in batches.

    ``root`` is the event log's location; ``buffer`` the local folder of durable buffers
    (default: ``<root>/.eventbuf`` for a local log); ``log`` the tables (default: found from
    ``root``, see :func:`~limelight.store._event_table.open_event_log`).
    """

    def __init__(
        self,
        root: str,
        kind: str,
        *,
        buffer: str | os.PathLike[str] | None = None,
        log: EventLog | None = None,
        flush_seconds: float = 1.0,
        flush_rows: int = 50_000,
        commit: bool = True,
        sync: str = "fsync",
    ):
        from limelight.store._event_table import open_event_log
        from limelight.store._eventbuf import DurableBuffer

        self.schema = _kind(kind)
        self.kind = kind
        self.root = str(root)
        if buffer is None:
            if "://" in self.root and not self.root.startswith("file://"):
                raise InvalidInputError(
                    f"the event log {self.root} is not a local folder: give the writer a local "
                    "buffer folder (serving uses <home>/eventbuf)"
                )
            buffer = Path(self.root.removeprefix("file://")) / ".eventbuf"
        self.folder = Path(buffer)
        self.log = log if log is not None else open_event_log(self.root)
        self.buffer = DurableBuffer(self.folder, kind, sync)
        self.flush_seconds, self.flush_rows = flush_seconds, flush_rows
        self.commit = commit  # False: seal the buffer every flush for a committer process
        self._closed: list[Segment] = []  # rotated segments not yet committed, oldest first
        self._sealed: list[tuple[Path, int]] = []  # handed to the committer: (file, events)
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.written = 0  # events committed to the table
        self.failures = 0  # failed commits (their events stay in the durable buffer)
        self.rejected = 0
        self.replayed = 0  # events of dead workers' buffers committed by this writer

    def warm_up(self) -> None:
        """Start the threads and pay Arrow's and the table's first-use costs now.

        The first table conversion, catalog load and Parquet write of a process take a few
        hundred milliseconds; a server calls this before it is ready, so no request waits.
        """
        self._table([b'{"ts": 0}'])
        try:
            self.log.table(self.kind)
        except Exception as exc:  # the commit thread retries; serving still answers
            log.warning("the %s table cannot be opened yet: %s", self.kind, exc)
        self._start()

    def append(self, record: dict[str, Any]) -> _Group:
        """Queue one event for the durable buffer (never blocks on I/O); a value JSON cannot
        hold is a TypeError here. ``.wait()`` on the result waits until it is on disk."""
        line = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)
        group = self.buffer.add(line, None)
        self._started()
        return group

    async def acknowledge(self, record: dict[str, Any]) -> None:
        """Queue one event and return once it is on disk (fsynced with its group; with
        ``sync="write"``, written to the kernel at once): after this, the event survives
        ``kill -9`` of the process. The event loop does not wait for the disk."""
        import asyncio

        line = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)
        if self.buffer.sync == "write":  # the kernel has it on return: nothing to wait for
            self.buffer.write(line)
            self._started()
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self.buffer.add(line, (loop, future))
        self._started()
        await future

    def _started(self) -> None:
        if self._thread is None:
            self._start()
        elif self.buffer.pending_lines() >= self.flush_rows:
            self._wake.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            self.buffer.start()
            self._thread = threading.Thread(
                target=self._loop, name=f"limelight-events-{self.kind}", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        last_replay = -math.inf
        while not self._stop.is_set():
            now = time.monotonic()
            if self.commit and now - last_replay > _REPLAY_SECONDS:
                last_replay = now
                try:
                    self.replay()
                except Exception as exc:
                    self.failures += 1
                    log.warning("replaying orphaned %s buffers failed: %s", self.kind, exc)
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # the events stay in the durable buffer for the next try
                self.failures += 1
                log.warning(
                    "committing %s events failed (kept in %s): %s", self.kind, self.folder, exc
                )

    def flush(self) -> int:
        """Commit every event buffered so far to the table (one commit); return how many were
        committed. A writer made with ``commit=False`` only seals its buffer for the committer
        process and returns 0.

        A failed commit raises and keeps the events in the durable buffer for the next try.
        """
        with self._flush_lock:
            self.buffer.drain()
            segment = self.buffer.rotate()
            if segment is not None:
                if not self.commit:  # the committer process takes it from here
                    self._sealed.append((segment.path, segment.rows))
                    os.close(segment.fd)
                    return 0
                self._closed.append(segment)
            if not self._closed:
                return 0
            total = self._commit_segments(self._closed, replay=False)
            for segment in self._closed:
                segment.discard()
            self._closed = []
            return total

    def replay(self) -> int:
        """Commit, in one commit, the buffers of this kind that nobody holds: sealed by writers
        for a committer, or left by dead workers (each claimed under its lock; rows committed
        before a crash are not added again); return the events committed."""
        from limelight.store._eventbuf import orphans

        segments = list(orphans(self.folder, self.kind))
        if not segments:
            return 0
        try:
            n = self._commit_segments(segments, replay=True)
        except BaseException:
            for segment in segments:
                os.close(segment.fd)  # released: the next replay tries again
            raise
        for segment in segments:
            segment.discard()
        if n:
            log.info("committed %d %s events from %d buffers", n, self.kind, len(segments))
        self.replayed += n
        return n

    def _commit_segments(self, segments: list[Segment], *, replay: bool) -> int:
        """Commit the lines of ``segments`` (all held by this process) in one commit, the
        segments named in its snapshot summary; skip those a snapshot names already."""
        from limelight.store._event_table import BUFFER_PROPERTY

        if replay:
            table = self.log.table(self.kind)
            done = {s.name for s in segments if self.log.committed(table, BUFFER_PROPERTY, s.name)}
            segments = [s for s in segments if s.name not in done]
        parts, names = [], []
        for segment in segments:
            lines = segment.lines()
            if not lines:
                continue
            try:
                part: pa.Table | None = self._table(lines)
            except (pa.ArrowInvalid, pa.ArrowTypeError, InvalidInputError):
                lines = self._set_aside_rejected(lines, segment.name)
                part = self._table(lines) if lines else None
            names.append(segment.name)
            if part is not None and part.num_rows:
                parts.append(part)
        if not parts:
            return 0
        rows = pa.concat_tables(parts)
        self._commit(rows, ",".join(names), replay)
        self.written += rows.num_rows
        return int(rows.num_rows)

    def _commit(self, table: pa.Table, names: str, replay: bool) -> bool:
        """Commit ``table`` as the rows of the buffers ``names`` (comma-separated); False if
        they were in already (an earlier attempt whose answer was lost landed)."""
        from limelight.store._event_table import BUFFER_PROPERTY

        first = names.split(",", 1)[0]
        files = self.log.write_files(self.kind, table)
        return None is not self.log.commit_files(
            self.kind,
            files,
            {BUFFER_PROPERTY: names},
            unless=lambda t: self.log.committed(t, BUFFER_PROPERTY, first),
            check_first=False,
        )

    def _set_aside_rejected(self, lines: list[bytes], name: str) -> list[bytes]:
        """The lines the schema can hold; the others go, verbatim, to a ``rejected`` file.

        One event of the wrong shape (a text where a number belongs, a ts with no day) must
        neither stop every later commit nor be lost: it is kept under ``<buffer>/rejected/``
        as JSON lines, counted in ``rejected`` and logged.
        """
        good, bad = [], []
        for line in lines:
            try:
                self._table([line])
            except (pa.ArrowInvalid, pa.ArrowTypeError, InvalidInputError):
                bad.append(line)
            else:
                good.append(line)
        folder = self.folder / "rejected"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.jsonl"
        tmp = folder / f".{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as f:
            f.write(b"\n".join(bad) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self.rejected += len(bad)
        log.warning("%d %s event(s) do not fit the schema; kept in %s", len(bad), self.kind, path)
        return good

    def _table(self, lines: list[bytes]) -> pa.Table:
        """The events as rows of this kind's table (fields the schema does not name are
        ignored; the ``date`` partition column is derived from ``ts``)."""
        from limelight.store._event_table import with_day

        events = pa_json.read_json(
            pa.BufferReader(b"\n".join(lines)),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=1 << 24),
            parse_options=pa_json.ParseOptions(
                explicit_schema=self.schema, unexpected_field_behavior="ignore"
            ),
        )
        return with_day(events, self.kind)

    def close(self, timeout: float = 30.0) -> None:
        """Stop the threads and commit everything still buffered (what cannot be committed
        stays in the durable buffer, for the next writer to replay)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.buffer.stop(timeout)
        try:
            self.flush()
        except Exception as exc:
            self.failures += 1
            log.warning("%s events kept in %s for replay: %s", self.kind, self.folder, exc)

    def pending(self) -> int:
        """Events in the durable buffer, not yet committed to the table."""
        self._sealed = [(path, rows) for path, rows in self._sealed if path.exists()]
        sealed = sum(rows for _, rows in self._sealed)
        return self.buffer.pending_lines() + sum(s.rows for s in self._closed) + sealed

    def counters(self) -> tuple[int, int, int, int]:
        """(committed, rejected, failed commits, pending) for /metrics: this writer's, or the
        committer process's (from its status file) for a writer made with ``commit=False``."""
        if self.commit:
            return self.written, self.rejected, self.failures, self.pending()
        status = read_committer_status(self.folder).get(self.kind, {})
        return (
            int(status.get("written", 0)),
            int(status.get("rejected", 0)),
            int(status.get("failures", 0)) + self.failures,
            self.pending(),
        )


def _status_path(folder: Path) -> Path:
    return folder / "committer.json"


def read_committer_status(folder: Path) -> dict[str, dict[str, int]]:
    """What the committer process last said about each kind (empty when it has not yet)."""
    try:
        data = orjson.loads(_status_path(folder).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def run_committer(config: Config, stop: Any, seconds: float = 1.0) -> None:
    """Commit the sealed and orphaned buffers of every kind under ``<home>/eventbuf`` every
    ``seconds``, until ``stop`` (an Event) is set; then once more. ``limelight serve`` runs this
    in a process of its own beside its workers, so commits (pure-Python metadata work that holds
    the GIL for tens of milliseconds) never stall a request, and N workers make one commit per
    kind and interval, not N. Its counters go to ``<home>/eventbuf/committer.json``."""
    from limelight.store._store import Store

    store = Store(config)
    writers = {kind: store.event_writer(kind) for kind in SCHEMAS}
    folder = writers["impressions"].folder
    folder.mkdir(parents=True, exist_ok=True)
    parent = os.getppid()
    last = False
    while not last:
        last = bool(stop.wait(seconds)) or os.getppid() != parent  # stopped, or orphaned
        for writer in writers.values():
            try:
                writer.replay()
            except Exception as exc:  # the events stay in their buffers for the next pass
                writer.failures += 1
                log.warning("committing %s events failed: %s", writer.kind, exc)
        status = {
            kind: {"written": w.written, "rejected": w.rejected, "failures": w.failures}
            for kind, w in writers.items()
        }
        tmp = folder / f".committer-{os.getpid()}.tmp"
        tmp.write_bytes(orjson.dumps(status))
        os.replace(tmp, _status_path(folder))
    store.dispose()


def wait_for_commits(folder: str | os.PathLike[str], timeout: float = 30.0) -> bool:
    """Wait until every event in the durable buffers under ``folder`` is committed (no sealed
    file left, every live one empty); False if ``timeout`` seconds pass first."""
    base = Path(folder)
    deadline = time.monotonic() + timeout
    while True:
        files = [*base.glob("*.sealed"), *base.glob("*.log")] if base.is_dir() else []
        busy = False
        for f in files:
            with contextlib.suppress(FileNotFoundError):  # committed and removed meanwhile
                busy = busy or f.suffix == ".sealed" or f.stat().st_size > 0
        if not busy:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


_COMMITTER_NICENESS = 10  # the committer's scheduling priority below the serving workers'


def committer_main() -> None:
    """The committer process of ``limelight serve``: :func:`run_committer` over the configuration
    of the environment until SIGTERM (or SIGINT), then one last pass."""
    import signal

    from limelight.core.config import resolve_config

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    # background work: on a busy host the serving workers' requests go first, and the commits
    # catch up (the events wait, durably, in their buffers)
    os.nice(_COMMITTER_NICENESS)
    run_committer(resolve_config(), stop)


def segment_state(root: str, kind: str) -> tuple[tuple[str, int, Any], ...]:
    """What :func:`read_events` would read, as a cache key: the table's current snapshot.

    Every commit makes a new snapshot, so a change in this tuple is exactly a change in what
    :func:`read_events` would read: a cache keyed on it is never stale.
    """
    from limelight.store._event_table import open_event_log

    _kind(kind)
    current = open_event_log(root).table(kind).current_snapshot()
    return ((kind, 0, None if current is None else current.snapshot_id),)


def read_events(
    root: str, kind: str, *, since: float | None = None, until: float | None = None
) -> pa.Table:
    """Every committed event of ``kind`` in the event log at ``root`` as one table (optionally
    a time window [since, until)). Rows of files written before a column joined the schema
    read with that column null (for impressions' ``decided``: unknown, which the experiment
    analysis keeps and counts). Analyses should use :mod:`limelight.store.event_queries`."""
    from limelight.store._event_table import open_event_log

    _kind(kind)
    return open_event_log(root).read(kind, since=since, until=until)
