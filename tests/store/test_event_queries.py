"""The out-of-core reading contract: day pruning, column projection, old files, empty logs."""

from __future__ import annotations

import os
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


def test_remembered_plans_are_pruned_to_the_most_recently_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from limelight.store import _event_plans

    monkeypatch.setattr(_event_plans, "_folder", lambda: str(tmp_path / "plans"))
    monkeypatch.setattr(_event_plans, "KEEP", 3)
    for i in range(3):
        _event_plans.remember(f"s3://lists/snap-{i}.avro", [(f"f{i}.parquet", "2026-01-01")])
        os.utime(_event_plans._path(f"s3://lists/snap-{i}.avro"), (1000 + i, 1000 + i))
    assert _event_plans.recall("s3://lists/snap-0.avro") == [("f0.parquet", "2026-01-01")]
    _event_plans.remember("s3://lists/snap-3.avro", [("f3.parquet", "2026-01-02")])  # a 4th
    kept = {i for i in range(4) if _event_plans.recall(f"s3://lists/snap-{i}.avro") is not None}
    assert kept == {0, 2, 3}, "the least recently used (1) goes; the recalled oldest (0) stays"
    assert len(list((tmp_path / "plans").iterdir())) == 3


def test_a_snapshots_files_are_planned_once_then_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first scan of a snapshot plans it with pyiceberg and remembers its files; later
    scans of that snapshot (the latest, or ``as_of``) read them back without planning, and a
    new commit is a new snapshot, planned afresh. A damaged remembered list is planned again."""
    from limelight.store import _event_plans
    from limelight.store._event_table import EventLog, open_event_log

    monkeypatch.setattr(_event_plans, "_folder", lambda: str(tmp_path / "plans"))
    _segment(tmp_path, "feedback", "1970-01-02", _feedback(1 * DAY + 5, "a"))
    _segment(tmp_path, "feedback", "1970-01-03", _feedback(2 * DAY + 5, "b"))
    first = scan_events(str(tmp_path), "feedback")
    assert len(first.files) == 2 and len(list((tmp_path / "plans").iterdir())) == 1

    planned: list[int | None] = []
    real = EventLog.snapshot_table

    def counting(self: EventLog, kind: str, as_of: int | None) -> object:
        planned.append(as_of)
        return real(self, kind, as_of)

    monkeypatch.setattr(EventLog, "snapshot_table", counting)
    again = scan_events(str(tmp_path), "feedback", since=2 * DAY)
    assert planned == [] and again.snapshot == first.snapshot
    assert [f.rsplit("/", 2)[1] for f in again.files] == ["date=1970-01-03"]

    open_event_log(str(tmp_path)).append("feedback", _feedback(4 * DAY + 5, "c"))
    latest = scan_events(str(tmp_path), "feedback")
    assert latest.snapshot != first.snapshot and len(latest.files) == 3
    assert planned == [latest.snapshot]
    assert scan_events(str(tmp_path), "feedback", as_of=first.snapshot).files == first.files
    assert planned == [latest.snapshot]  # the older snapshot was remembered too

    for remembered in (tmp_path / "plans").iterdir():
        remembered.write_text("{not json")
    assert scan_events(str(tmp_path), "feedback").files == latest.files
    assert planned == [latest.snapshot, latest.snapshot]
    with pytest.raises(InvalidInputError, match="has no snapshot 12345;"):
        scan_events(str(tmp_path), "feedback", as_of=12345)
