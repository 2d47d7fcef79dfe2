"""The out-of-core reading contract: day pruning, column projection, old files, empty logs."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from limelight.core.errors import InvalidInputError
from limelight.store.event_queries import connect, events_relation, scan_events
from limelight.store.events import FEEDBACK_SCHEMA, IMPRESSION_SCHEMA

DAY = 86400.0


def _segment(root: Path, kind: str, day: str, table: pa.Table, name: str = "a") -> None:
    folder = root / kind / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / f"{name}.parquet")


def _feedback(ts: float, user: str) -> pa.Table:
    row = {
        "request_id": "r",
        "ts": ts,
        "user_id": user,
        "item_id": "i",
        "event": "play",
        "value": 1.0,
    }
    return pa.Table.from_pylist([row], schema=FEEDBACK_SCHEMA)


def test_a_window_reads_only_its_days(tmp_path: Path) -> None:
    _segment(tmp_path, "feedback", "1970-01-02", _feedback(1 * DAY + 5, "a"))
    _segment(tmp_path, "feedback", "1970-01-03", _feedback(2 * DAY + 5, "b"))
    _segment(tmp_path, "feedback", "1970-01-05", _feedback(4 * DAY + 5, "c"))
    scan = scan_events(str(tmp_path), "feedback", since=2 * DAY, until=3 * DAY)
    assert [f.rsplit("/", 2)[1] for f in scan.files] == ["date=1970-01-03"]
    con = connect()
    users = con.execute(f"SELECT user_id FROM {events_relation(con, scan, ['user_id'])}")
    assert users.fetchall() == [("b",)]


def test_files_written_before_a_column_existed_read_it_as_null(tmp_path: Path) -> None:
    full = {
        "request_id": "r1",
        "ts": 1.0,
        "user_id": "u",
        "items": ["x"],
        "experiments": ["e"],
        "variants": ["a"],
        "decided": [True],
    }
    _segment(
        tmp_path,
        "impressions",
        "1970-01-01",
        pa.Table.from_pylist([full], schema=IMPRESSION_SCHEMA),
        "new",
    )
    old_schema = pa.schema([f for f in IMPRESSION_SCHEMA if f.name != "decided"])
    old = {k: v for k, v in full.items() if k != "decided"} | {"request_id": "r0"}
    _segment(
        tmp_path, "impressions", "1970-01-01", pa.Table.from_pylist([old], schema=old_schema), "old"
    )
    con = connect()
    scan = scan_events(str(tmp_path), "impressions")
    rows = con.execute(
        f"SELECT request_id, decided FROM {events_relation(con, scan, ['request_id', 'decided'])}"
        " ORDER BY request_id"
    ).fetchall()
    assert rows == [("r0", None), ("r1", [True])]


def test_an_empty_log_is_an_empty_relation_and_bad_names_are_refused(tmp_path: Path) -> None:
    con = connect()
    scan = scan_events(str(tmp_path), "impressions")
    assert scan.files == () and scan.snapshot is None
    count = con.execute(f"SELECT count(*) FROM {events_relation(con, scan, ['user_id'])}")
    assert count.fetchone() == (0,)
    with pytest.raises(InvalidInputError, match="no column"):
        events_relation(con, scan, ["user_id", "colour"])
    with pytest.raises(InvalidInputError, match="unknown event kind"):
        scan_events(str(tmp_path), "clicks")
