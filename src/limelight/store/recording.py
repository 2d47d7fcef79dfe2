"""Buffered recording of metrics, parameters and tags for a run.

A training loop may log a metric every batch: each call appends to a list in memory (a few
microseconds), and the buffer is written in one transaction at the end of the step, every few
seconds by a background thread, when it grows large, and at interpreter exit. What a ``kill -9``
loses is what was logged since the last flush (at most ``flush_seconds``).
"""

from __future__ import annotations

import atexit
import contextlib
import math
import numbers
import threading
import time
import weakref
from typing import Any

import sqlalchemy as sa

from limelight.core.errors import InvalidInputError
from limelight.store.metadata import MetadataStore
from limelight.store.schema import metrics, params, tags

__all__ = ["RunRecorder", "insert_metric_rows", "metric_value_columns", "metric_value_from_row"]

_live: weakref.WeakSet[RunRecorder] = weakref.WeakSet()
_atexit_registered = False


def metric_value_columns(value: float) -> tuple[float | None, str | None]:
    """(value, text) as stored: NaN and infinities keep their name in ``value_text``."""
    if math.isfinite(value):
        return value, None
    return None, "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def metric_value_from_row(value: float | None, text: str | None) -> float:
    return float(text) if text else float("nan") if value is None else float(value)


_METRIC_COLUMNS = ("run_id", "task_id", "name", "step", "value", "value_text", "timestamp")


def insert_metric_rows(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert metric rows (tuples in ``_METRIC_COLUMNS`` order) straight through the driver.

    SQLAlchemy's per-row parameter processing cost about half of a 10,000-row flush; the
    columns are plain numbers and text, so the driver's ``executemany`` is enough.
    """
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"INSERT INTO {metrics.name} ({', '.join(_METRIC_COLUMNS)}) "
        f"VALUES ({', '.join([marker] * len(_METRIC_COLUMNS))})"
    )
    cursor = conn.connection.cursor()  # the transaction's own DBAPI connection
    try:
        cursor.executemany(statement, rows)
    finally:
        cursor.close()


def _flush_all() -> None:
    for recorder in list(_live):
        # at exit, a failed flush must not hide the real exit status
        with contextlib.suppress(Exception):
            recorder.flush()


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > 200:
        raise InvalidInputError(
            f"{kind} name must be a non-empty string of at most 200 characters, not {name!r}"
        )
    return name


class RunRecorder:
    """Collects the metrics, params and tags of one run (and task), and writes them in batches."""

    def __init__(
        self,
        metadata: MetadataStore,
        run_id: int,
        task_id: int | None = None,
        *,
        flush_seconds: float = 5.0,
        max_buffered: int = 50_000,
    ) -> None:
        self.metadata = metadata
        self.run_id = run_id
        self.task_id = task_id
        self.flush_seconds = flush_seconds
        self.max_buffered = max_buffered
        self._metrics: list[tuple[Any, ...]] = []  # rows in _METRIC_COLUMNS order
        self._params: dict[str, Any] = {}
        self._tags: set[str] = set()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._steps: dict[str, int] = {}
        self._timer: threading.Thread | None = None
        self._stopped = threading.Event()
        global _atexit_registered
        if not _atexit_registered:
            atexit.register(_flush_all)
            _atexit_registered = True
        _live.add(self)

    # -- logging (the hot path) -----------------------------------------------------------------
    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Record ``value`` of metric ``name`` at ``step`` (by default one more than the last)."""
        if name not in self._steps:
            _check_name("metric", name)
        kind = type(value)  # floats and ints skip the slower checks
        if (
            kind is not float
            and kind is not int
            and (not isinstance(value, numbers.Real) or kind is bool)
        ):
            raise InvalidInputError(f"metric {name!r} must be a number, not {value!r}")
        if step is None:
            step = self._steps.get(name, -1) + 1
        elif type(step) is not int and (
            not isinstance(step, numbers.Integral) or isinstance(step, bool)
        ):
            raise InvalidInputError(f"metric {name!r}: step must be an int, not {step!r}")
        step = int(step)
        self._steps[name] = step
        number = float(value)
        stored: float | None = number
        text: str | None = None
        if number - number != 0.0:  # NaN or infinite
            stored, text = metric_value_columns(number)
        row = (self.run_id, self.task_id, name, step, stored, text, time.time())
        with self._lock:
            self._metrics.append(row)
            full = len(self._metrics) >= self.max_buffered
        if full:
            self.flush()
        elif self._timer is None and self.flush_seconds > 0:
            self._start_timer()

    def log_param(self, name: str, value: Any) -> None:
        _check_name("param", name)
        with self._lock:
            self._params[name] = value

    def set_tag(self, tag: str) -> None:
        _check_name("tag", tag)
        with self._lock:
            self._tags.add(tag)

    # -- flushing -------------------------------------------------------------------------------
    def _start_timer(self) -> None:
        def loop() -> None:
            while not self._stopped.wait(self.flush_seconds):
                try:
                    self.flush()
                except Exception:  # the next flush (or the step's end) tries again
                    continue

        self._timer = threading.Thread(target=loop, name="limelight-metrics", daemon=True)
        self._timer.start()

    def take(self) -> tuple[list[tuple[Any, ...]], dict[str, Any], set[str]]:
        """Empty the buffer and return what it held."""
        with self._lock:
            taken = (self._metrics, self._params, self._tags)
            self._metrics, self._params, self._tags = [], {}, set()
        return taken

    def write(
        self, conn: sa.Connection, taken: tuple[list[tuple[Any, ...]], dict[str, Any], set[str]]
    ) -> None:
        """Write what :meth:`take` returned inside the caller's transaction."""
        rows, values, new_tags = taken
        if rows:
            insert_metric_rows(conn, rows)
        for name, value in values.items():
            conn.execute(
                params.delete().where(params.c.run_id == self.run_id, params.c.name == name)
            )
            conn.execute(params.insert().values(run_id=self.run_id, name=name, value=value))
        if new_tags:
            existing = set(
                conn.execute(sa.select(tags.c.tag).where(tags.c.run_id == self.run_id)).scalars()
            )
            fresh = [{"run_id": self.run_id, "tag": t} for t in sorted(new_tags - existing)]
            if fresh:
                conn.execute(tags.insert(), fresh)

    def flush(self) -> None:
        """Write everything buffered, in one transaction (the data is kept if the write fails)."""
        with self._flush_lock:
            taken = self.take()
            if not any(taken):
                return
            try:
                self.metadata.transaction(lambda conn: self.write(conn, taken))
            except BaseException:
                with self._lock:  # put it back, in front of anything logged meanwhile
                    self._metrics[:0] = taken[0]
                    self._params = {**taken[1], **self._params}
                    self._tags |= taken[2]
                raise

    def close(self) -> None:
        """Stop the timer and flush."""
        self._stopped.set()
        if self._timer is not None:
            self._timer.join(timeout=10)
            self._timer = None
        self.flush()
        _live.discard(self)
