"""``limelight events import | compact | expire | stats``, their bad input, and kill -9 halfway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from tests.cli._run import run_cli

import limelight
from limelight.store import open_store
from limelight.store.events import FEEDBACK_SCHEMA, IMPRESSION_SCHEMA
from limelight.store.schema import event_log_audit

DAY = 86_400.0
T0 = 20_000 * DAY  # 2024-10-04


def _feedback(n: int, start: int = 0, ts: float = T0) -> pa.Table:
    rows = [
        {"request_id": f"r{i}", "ts": ts + i, "user_id": f"u{i}", "item_id": "x", "event": "play"}
        for i in range(start, start + n)
    ]
    return pa.Table.from_pylist(rows, schema=FEEDBACK_SCHEMA)


def _ids(kind: str = "feedback") -> list[str]:
    return sorted(open_store().read_events(kind)["request_id"].to_pylist())


def test_import_is_one_commit_idempotent_and_reads_arrow_too(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.arrow"
    pq.write_table(_feedback(3), a)
    with ipc.new_file(b, FEEDBACK_SCHEMA) as w:
        w.write_table(_feedback(2, start=3, ts=T0 + DAY))
    code, out, err = run_cli(capsys, "events", "import", "--kind", "feedback", str(a), str(b))
    assert code == 0, err
    assert "imported 5 feedback rows from 2 file(s)" in out and "[2/2]" in err
    assert _ids() == [f"r{i}" for i in range(5)]
    snaps = list(open_store().event_log.table("feedback").snapshots())
    assert len(snaps) == 1, "both files in one commit"
    code, out, _ = run_cli(capsys, "events", "import", "--kind", "feedback", str(a))
    assert code == 0 and "skipped 1 imported before" in out
    assert len(_ids()) == 5, "importing the same file again adds nothing"
    with open_store().metadata.connect() as conn:
        actions = conn.execute(
            sa.select(event_log_audit.c.action, event_log_audit.c.outcome)
        ).fetchall()
    assert actions.count(("import", "done")) == 2


def test_a_bad_file_imports_nothing(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.parquet"
    pq.write_table(_feedback(3), good)
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(_feedback(1).set_column(1, "ts", pa.array(["yesterday"])), wrong)
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good.read_bytes()[:-30])
    text = tmp_path / "notes.parquet"
    text.write_text("request_id,ts\n")
    missing = tmp_path / "missing.parquet"
    pq.write_table(_feedback(1).drop_columns(["user_id"]), missing)
    far = tmp_path / "far.parquet"
    pq.write_table(_feedback(1, ts=1e20), far)
    cases = {
        wrong: "column 'ts' is string, but feedback need double",
        truncated: "not a readable Parquet or Arrow IPC file",
        text: "not a readable Parquet or Arrow IPC file",
        missing: "column 'user_id' (string) is missing",
        far: "not a unix time",
        tmp_path / "absent.parquet": "no such file",
    }
    for bad, message in cases.items():
        code, _, err = run_cli(
            capsys, "events", "import", "--kind", "feedback", str(good), str(bad)
        )
        assert code == 2 and message in err, (bad, err)
    assert _ids() == [], "nothing half-imported"
    code, _, err = run_cli(capsys, "events", "import", "--kind", "clicks", str(good))
    assert code == 2 and "unknown event kind 'clicks'" in err
    wrong_kind = tmp_path / "impressions.parquet"
    pq.write_table(IMPRESSION_SCHEMA.empty_table(), wrong_kind)
    code, _, err = run_cli(capsys, "events", "import", "--kind", "feedback", str(wrong_kind))
    assert code == 2 and "unknown column(s)" in err


def test_stats_compact_and_expire(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = open_store().event_log
    now = time.time()
    old = now - 100 * DAY
    for i in range(3):
        log.append("feedback", _feedback(1, start=i, ts=old))
        log.append("feedback", _feedback(1, start=10 + i, ts=now))
    code, out, _ = run_cli(capsys, "events", "stats", "--kind", "feedback", "--json")
    days = json.loads(out)
    assert (
        code == 0 and [d["files"] for d in days] == [3, 3] and [d["rows"] for d in days] == [3, 3]
    )
    code, out, _ = run_cli(capsys, "events", "stats")
    assert code == 0 and "feedback" in out and "files" in out
    code, out, err = run_cli(capsys, "events", "compact", "--target-size", "64MB")
    assert code == 0, err
    assert [d["files"] for d in json.loads(run_cli(capsys, "events", "stats", "--json")[1])] == [
        1,
        1,
    ]
    code, out, err = run_cli(capsys, "events", "expire", "--older-than", "90d")
    assert code == 0, err
    assert "feedback: dropped 3 rows" in out
    assert _ids() == ["r10", "r11", "r12"]
    for args, message in (
        (["compact", "--target-size", "lots"], "is not a size"),
        (["compact", "--target-size", "-5MB"], "is not a size"),
        (["compact", "--day", "yesterday"], "is not a date"),
        (["expire", "--older-than", "ninety days"], "is not an age"),
        (["expire", "--older-than", "0d"], "is not an age"),
        (["expire", "--older-than", "9d", "--keep-snapshots", "soon"], "is not an age"),
        (["stats", "--kind", "clicks"], "unknown event kind 'clicks'"),
    ):
        code, _, err = run_cli(capsys, "events", *args)
        assert code == 2 and message in err, (args, err)


def test_a_compaction_killed_halfway_changes_nothing_and_a_second_run_finishes(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = open_store().event_log
    for i in range(4):
        log.append("feedback", _feedback(5, start=5 * i))
    # the compaction pauses after writing its files and before its commit; we kill it there
    script = textwrap.dedent(
        """
        import sys, time
        from limelight.store import _event_table
        original = _event_table._retrying
        def paused(work, what, attempts=30):
            if what.startswith("compacting"):
                print("written", flush=True)
                time.sleep(60)
            return original(work, what, attempts)
        _event_table._retrying = paused
        from limelight.cli import main
        main(["events", "compact", "--kind", "feedback"])
        """
    )
    src = str(Path(limelight.__file__).resolve().parents[1])
    env = os.environ | {"PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "written"
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()
    assert _ids() == sorted(f"r{i}" for i in range(20)), "every row exactly once"
    assert open_store().event_log.stats("feedback")[0].files == 4
    code, out, err = run_cli(capsys, "events", "compact", "--kind", "feedback")
    assert code == 0, err
    assert "4 files -> 1" in out
    assert _ids() == sorted(f"r{i}" for i in range(20))
    with open_store().metadata.connect() as conn:
        outcomes = conn.execute(
            sa.select(event_log_audit.c.outcome).where(event_log_audit.c.action == "compact")
        ).fetchall()
    assert [o for (o,) in outcomes] == ["started", "started", "done"], "the kill is visible"
