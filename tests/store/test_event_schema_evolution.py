"""A table made before a column joined the impressions' schema gains it, losing nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from limelight.core.config import Config
from limelight.store import _event_table
from limelight.store import events as events_module
from limelight.store._event_table import open_event_log
from limelight.store.event_queries import connect, events_relation, scan_events
from limelight.store.events import IMPRESSION_SCHEMA, read_events

DAY = 86_400.0
T0 = 20_000 * DAY


def _row(rid: str, ts: float, context: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"request_id": rid, "ts": ts, "user_id": "u", "items": ["a"]}
    if context is not None:
        row["context"] = context
    return row


def _old_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """An event log whose impressions table was made (and written) without ``context``."""
    # a log no configuration names keeps its catalog beside its data, where scans look for it
    config = Config(
        home=tmp_path / "home",
        db=f"sqlite:///{tmp_path / 'events' / 'catalog.db'}",
        artifacts=str(tmp_path / "artifacts"),
        events=str(tmp_path / "events"),
    )
    old = pa.schema([f for f in IMPRESSION_SCHEMA if f.name != "context"])
    with monkeypatch.context() as patch:
        patch.setitem(events_module.SCHEMAS, "impressions", old)
        log = open_event_log(config)
        log.append(
            "impressions",
            pa.Table.from_pylist([_row("old-1", T0), _row("old-2", T0 + 1)], schema=old),
        )
        assert "context" not in {f.name for f in log.table("impressions").schema().fields}
    _event_table._logs.clear()
    return config


def test_an_old_table_gains_context_and_old_rows_read_it_as_null(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _old_table(tmp_path, monkeypatch)
    log = open_event_log(config)
    assert "context" in {f.name for f in log.table("impressions").schema().fields}
    new = [
        _row("new-1", T0 + DAY, [{"name": "age", "value": 0.5}, {"name": "hour", "value": 20.0}]),
        _row("new-2", T0 + 2),
    ]
    log.append("impressions", pa.Table.from_pylist(new, schema=IMPRESSION_SCHEMA))
    rows = {
        r["request_id"]: r["context"] for r in read_events(config.events, "impressions").to_pylist()
    }
    assert rows.pop("new-2") in (None, [])  # no features: no context (pyiceberg writes [])
    assert rows == {
        "old-1": None,
        "old-2": None,
        "new-1": [{"name": "age", "value": 0.5}, {"name": "hour", "value": 20.0}],
    }
    con = connect()
    try:
        # the first day holds an old file and a new one; the second only a new one
        for since, until, want in ((T0, T0 + DAY - 1, 3), (T0, T0 + 2 * DAY, 4)):
            rel = events_relation(
                con,
                scan_events(config.events, "impressions", since=since, until=until),
                ["request_id", "context"],
            )
            assert con.execute(f"SELECT count(*) FROM {rel}").fetchone() == (want,)
        rel = events_relation(con, scan_events(config.events, "impressions"), ["context"])
        ages = con.execute(
            f"SELECT list_filter(context, lambda c: c.name = 'age')[1].value FROM {rel} "
            "WHERE len(context) > 0"
        ).fetchall()
        assert ages == [(0.5,)]
    finally:
        con.close()
    # compaction rewrites the day of old and new files into one, context kept
    day = log.stats("impressions")[0].day
    assert log.compact("impressions", day, 1 << 30)["rewritten"] == 2
    rows = {
        r["request_id"]: r["context"] for r in read_events(config.events, "impressions").to_pylist()
    }
    assert rows["old-1"] in (None, []) and len(rows) == 4  # pyiceberg writes a null list as []


def test_a_window_of_old_files_only_reads_context_as_a_typed_null(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _old_table(tmp_path, monkeypatch)
    con = connect()
    try:
        rel = events_relation(
            con, scan_events(config.events, "impressions"), ["request_id", "context"]
        )
        found = con.execute(
            f"SELECT request_id, len(context), list_filter(context, lambda c: c.name = 'x')[1].value "
            f"FROM {rel} ORDER BY 1"
        ).fetchall()
        assert found == [("old-1", None, None), ("old-2", None, None)]
    finally:
        con.close()
