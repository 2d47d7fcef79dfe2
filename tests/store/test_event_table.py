"""The event log's Iceberg tables: concurrent writers and compaction, snapshots, replays, old logs."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import limelight
from limelight.core.config import Config
from limelight.core.errors import InvalidInputError, StorageError
from limelight.store import Store
from limelight.store._event_table import BUFFER_PROPERTY, open_event_log
from limelight.store.event_queries import scan_events
from limelight.store.events import FEEDBACK_SCHEMA, EventWriter

DAY = 86_400.0
T0 = 20_000 * DAY  # 2024-10-04


def _config(tmp_path: Path, db: str) -> Config:
    return Config(
        home=tmp_path / "home",
        db=db,
        artifacts=str(tmp_path / "artifacts"),
        events=str(tmp_path / "events"),
    )


def _feedback(rid: str, ts: float | None) -> dict[str, Any]:
    return {"request_id": rid, "ts": ts, "user_id": "u", "item_id": "i", "event": "play"}


def _write(config: Config, worker: int, n: int) -> None:
    """A writer process: ``n`` feedback events, committed in many small batches."""
    writer = Store(config).event_writer("feedback", flush_seconds=0.05)
    for i in range(n):
        writer.append(_feedback(f"w{worker}-{i}", T0 + i))
        if i % 25 == 0:
            time.sleep(0.01)
    writer.close()
    if writer.pending():
        raise SystemExit(f"worker {worker} left {writer.pending()} events uncommitted")


def test_four_writers_and_a_compaction_lose_nothing_and_add_nothing(
    tmp_path: Path, db_url: str
) -> None:
    config = _config(tmp_path, db_url)
    log = open_event_log(config)
    # no table yet: the writers race to create it, and the losers load the winner's
    n = 150
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write, args=(config, w, n)) for w in range(4)]
    for p in procs:
        p.start()
    compactions = 0
    day = "2024-10-04"
    while any(p.is_alive() for p in procs):
        try:
            if log.compact("feedback", day, 1 << 20)["rewritten"]:
                compactions += 1
        except StorageError:  # lost to a writer too often this time: the next round tries again
            pass
        time.sleep(0.05)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    log.compact("feedback", day, 1 << 20)
    ids = log.read("feedback")["request_id"].to_pylist()
    expected = {f"w{w}-{i}" for w in range(4) for i in range(n)}
    assert len(ids) == len(expected) and set(ids) == expected, "every event exactly once"
    assert compactions >= 1, "a compaction committed while the writers wrote"
    assert log.stats("feedback")[0].files == 1


def test_snapshots_plan_old_files_after_a_compaction_and_unknown_ones_are_named(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'limelight.db'}")
    log = open_event_log(config)
    for i in range(3):
        log.append("feedback", pa.Table.from_pylist([_feedback(f"r{i}", T0 + i)], FEEDBACK_SCHEMA))
    old_files, old_snap = log.plan("feedback")
    assert len(old_files) == 3 and old_snap is not None
    assert log.compact("feedback", "2024-10-04", 1 << 20)["rewritten"] == 3
    new_files, new_snap = log.plan("feedback")
    assert len(new_files) == 1 and new_snap != old_snap
    again, snap = log.plan("feedback", as_of=old_snap)
    assert snap == old_snap and {f.file_path for f in again} == {f.file_path for f in old_files}
    for f in again:  # a reader planning the old snapshot still reads it
        assert pq.read_table(f.file_path.removeprefix("file://")).num_rows == 1
    with pytest.raises(InvalidInputError, match="no snapshot 12345"):
        log.plan("feedback", as_of=12345)
    other = log.plan("feedback", since=T0 + 5 * DAY)[0]
    assert other == [], "a window after the data prunes every day"


def test_a_compaction_rewrites_a_day_group_by_group(tmp_path: Path) -> None:
    """The small files of a day are rewritten in groups of about the target size, one group in
    memory at a time: several files come out, every row once, and a file alone in its group
    (nothing to merge it with) is left as it is."""
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'limelight.db'}")
    log = open_event_log(config)
    for i in range(9):
        rows = [_feedback(f"r{i}-{j}", T0 + i + j / 1000) for j in range(200)]
        log.append("feedback", pa.Table.from_pylist(rows, FEEDBACK_SCHEMA))
    before, _ = log.plan("feedback")
    size = max(f.file_size_in_bytes for f in before)
    said: list[str] = []
    done = log.compact("feedback", "2024-10-04", 4 * size, said.append)  # groups of ~4 files
    assert sum(" group " in line for line in said) == 2, said  # 4 + 4 files; the 9th alone
    after, _ = log.plan("feedback")
    assert done["rewritten"] >= 8 and done["rows"] == 200 * done["rewritten"]
    assert len(after) < len(before), [f.file_size_in_bytes for f in after]
    ids = pa.concat_tables(pq.read_table(f.file_path.removeprefix("file://")) for f in after)[
        "request_id"
    ].to_pylist()
    assert sorted(ids) == sorted(f"r{i}-{j}" for i in range(9) for j in range(200))


def test_scan_events_reads_the_table_by_snapshot(tmp_path: Path, home: Path) -> None:
    from limelight.store import open_store

    store = open_store()
    log = store.event_log
    log.append("feedback", pa.Table.from_pylist([_feedback("a", T0)], FEEDBACK_SCHEMA))
    first = scan_events(store.config.events, "feedback")
    log.append("feedback", pa.Table.from_pylist([_feedback("b", T0 + DAY)], FEEDBACK_SCHEMA))
    now = scan_events(store.config.events, "feedback")
    assert len(first.files) == 1 and len(now.files) == 2 and first.snapshot != now.snapshot
    assert scan_events(store.config.events, "feedback", as_of=first.snapshot).files == first.files
    assert len(scan_events(store.config.events, "feedback", since=T0 + DAY).files) == 1
    with pytest.raises(InvalidInputError, match="no snapshot 7"):
        scan_events(store.config.events, "feedback", as_of=7)


def test_an_orphaned_buffer_is_replayed_once_even_if_it_was_committed_before_the_crash(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'limelight.db'}")
    store = Store(config)
    buffer = config.home / "eventbuf"
    script = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from limelight.core.config import Config
        from limelight.store import Store
        config = Config(home=Path({str(config.home)!r}), db={config.db!r},
                        artifacts={config.artifacts!r}, events={config.events!r})
        writer = Store(config).event_writer("feedback", flush_seconds=3600)
        for i in range(20):
            writer.append({{"request_id": f"d{{i}}", "ts": {T0} + i, "event": "play"}}).wait(10)
        print("acknowledged", flush=True)
        sys.stdin.read()
        """
    )
    src = str(Path(limelight.__file__).resolve().parents[1])
    env = os.environ | {"PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "acknowledged"
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()
    (segment,) = buffer.glob("*-feedback-*.log")
    # a second orphan whose rows were committed just before its worker died
    committed = buffer / "host-1-feedback-000001.log"
    committed.write_bytes(b'{"request_id": "c0", "ts": %r}\n' % T0)
    rows = pa.Table.from_pylist([_feedback("c0", T0)], FEEDBACK_SCHEMA)
    store.event_log.append("feedback", rows, {BUFFER_PROPERTY: committed.stem})
    writer = store.event_writer("feedback", flush_seconds=3600)
    assert writer.replay() == 20
    ids = sorted(store.read_events("feedback")["request_id"].to_pylist())
    assert ids == sorted(["c0", *(f"d{i}" for i in range(20))]), "all acknowledged, once"
    assert not segment.exists() and not committed.exists()
    writer.close()


def test_a_live_writers_buffer_is_not_claimed(tmp_path: Path) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'limelight.db'}")
    store = Store(config)
    live = store.event_writer("feedback", flush_seconds=3600)
    live.append(_feedback("x", T0)).wait(10)
    other = store.event_writer("feedback", flush_seconds=3600)
    assert other.replay() == 0, "the owner holds the lock: not an orphan"
    live.close()
    assert store.read_events("feedback")["request_id"].to_pylist() == ["x"]
    other.close()


def test_an_old_folder_of_segments_is_imported_once(tmp_path: Path) -> None:
    events = tmp_path / "events"
    for kind, schema, rows in (
        ("feedback", FEEDBACK_SCHEMA, [_feedback("old1", T0), _feedback("old2", T0 + DAY)]),
    ):
        for i, row in enumerate(rows):
            folder = events / kind / f"date=2024-10-0{4 + i}"
            folder.mkdir(parents=True)
            pq.write_table(pa.Table.from_pylist([row], schema), folder / f"seg-{i}.parquet")
    bad = events / "feedback" / "date=2024-10-06"
    bad.mkdir()
    (bad / "broken.parquet").write_bytes(b"PAR1 not really")
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'limelight.db'}")
    store = Store(config)
    assert sorted(store.read_events("feedback")["request_id"].to_pylist()) == ["old1", "old2"]
    assert (bad / "broken.parquet").exists(), "a segment that cannot be read is left in place"
    open_event_log(config)._catalog = None  # a new process: the table exists, nothing again
    assert store.read_events("feedback").num_rows == 2
    assert [s.day for s in store.event_log.stats("feedback")] == ["2024-10-04", "2024-10-05"]


def test_bad_ts_is_set_aside_and_a_ts_years_ahead_goes_to_its_day(tmp_path: Path) -> None:
    writer = EventWriter(str(tmp_path), "feedback", flush_seconds=3600)
    future = T0 + 20 * 365 * DAY
    writer.append(_feedback("future", future))
    writer.append(_feedback("far", 1e20))
    writer.append(_feedback("none", None))
    writer.append(_feedback("ok", T0))
    assert writer.flush() == 2 and writer.rejected == 2
    days = [s.day for s in writer.log.stats("feedback")]
    assert days == ["2024-10-04", "2044-09-29"]
    (kept,) = (tmp_path / ".eventbuf" / "rejected").glob("*.jsonl")
    assert b'"far"' in kept.read_bytes() and b'"none"' in kept.read_bytes()
    writer.close()


def test_duplicate_request_ids_of_impressions_are_both_kept(tmp_path: Path) -> None:
    writer = EventWriter(str(tmp_path), "impressions", flush_seconds=3600)
    for _ in range(2):
        writer.append({"request_id": "same", "ts": T0, "user_id": "u", "items": ["a"]})
    writer.close()
    log = open_event_log(str(tmp_path))
    assert log.read("impressions")["request_id"].to_pylist() == ["same", "same"]


def test_a_buffer_that_cannot_reach_the_disk_acknowledges_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from limelight.store import _eventbuf

    writer = EventWriter(str(tmp_path), "feedback", flush_seconds=3600)
    writer.warm_up()

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    working = _eventbuf.os.fdatasync
    monkeypatch.setattr(_eventbuf.os, "fdatasync", full)
    with pytest.raises(StorageError, match="No space left"):
        asyncio.run(writer.acknowledge(_feedback("lost", T0)))
    monkeypatch.setattr(_eventbuf.os, "fdatasync", working)
    asyncio.run(writer.acknowledge(_feedback("kept", T0)))
    writer.close()
    assert "kept" in writer.log.read("feedback")["request_id"].to_pylist()


def test_write_sync_acknowledges_once_the_kernel_has_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from limelight.core.config import resolve_config
    from limelight.core.errors import ConfigError
    from limelight.store import _eventbuf

    with pytest.raises(ConfigError, match="unknown event sync 'sometimes'; choose one of write"):
        resolve_config(environ={"LIMELIGHT_EVENT_SYNC": "sometimes"}, cwd=tmp_path)
    config = resolve_config(environ={"LIMELIGHT_EVENT_SYNC": "write"}, home=tmp_path / "h")
    assert config.event_sync == "write"
    writer = Store(config).event_writer("feedback", flush_seconds=3600)
    assert writer.buffer.sync == "write"

    def slow_disk(fd: int) -> None:
        raise OSError(5, "I/O error")

    working = _eventbuf.os.fdatasync
    monkeypatch.setattr(_eventbuf.os, "fdatasync", slow_disk)
    asyncio.run(writer.acknowledge(_feedback("in-the-kernel", T0)))  # before the fdatasync
    deadline = time.monotonic() + 10
    while writer.buffer.sync_failures == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer.buffer.sync_failures == 1, "the failed fdatasync is counted, not hidden"
    monkeypatch.setattr(_eventbuf.os, "fdatasync", working)
    writer.close()
    assert writer.log.read("feedback")["request_id"].to_pylist() == ["in-the-kernel"]


def test_write_sync_a_write_that_fails_acknowledges_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from limelight.store import _eventbuf

    writer = EventWriter(str(tmp_path), "feedback", flush_seconds=3600, sync="write")
    writer.warm_up()

    def full(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    working = _eventbuf.os.write
    monkeypatch.setattr(_eventbuf.os, "write", full)
    with pytest.raises(StorageError, match="No space left"):
        asyncio.run(writer.acknowledge(_feedback("lost", T0)))
    monkeypatch.setattr(_eventbuf.os, "write", working)
    asyncio.run(writer.acknowledge(_feedback("kept", T0)))
    # written by the request itself, before any flush: a kill -9 now would keep it
    assert any(b'"kept"' in p.read_bytes() for p in writer.folder.glob("*-feedback-*.log"))
    writer.close()
    assert writer.log.read("feedback")["request_id"].to_pylist() == ["kept"]


def test_a_namespace_made_by_another_process_between_check_and_insert_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyiceberg.catalog.sql import SqlCatalog

    config = _config(tmp_path, f"sqlite:///{tmp_path / 'home' / 'limelight.db'}")
    log = open_event_log(config)
    log.catalog.create_namespace("limelight")  # the other process won the race
    # pyiceberg's check ran before the other's insert: it inserts too, and the database refuses
    real, calls = SqlCatalog.namespace_exists, []

    def stale_first_check(self: SqlCatalog, namespace: Any) -> bool:
        calls.append(namespace)
        return False if len(calls) == 1 else real(self, namespace)

    monkeypatch.setattr(SqlCatalog, "namespace_exists", stale_first_check)
    table = log.table("feedback")
    assert table.name() == ("limelight", "feedback")
