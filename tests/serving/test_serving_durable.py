"""Durable acknowledgement: what serving answered survives kill -9; a failing table loses nothing."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest
from tests.serving.conftest import MODELS, subprocess_env

from limelight.registry import Registry
from limelight.serving import Client, serve_in_background
from limelight.store import open_store


def _workers(pid: int) -> set[int]:
    """The worker processes of the server ``pid`` (its event committer left out)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {
        int(p)
        for p in children
        if b"limelight-event-committer" not in Path(f"/proc/{p}/cmdline").read_bytes()
    }


def _answer(client: Client, n: int, tag: str) -> tuple[set[str], set[str]]:
    """``n`` answered recommends and a 202 of feedback on each: their request ids."""
    recommended, acknowledged = set(), set()
    for i in range(n):
        answer = client.recommend(f"u{i % 6}", k=2)
        recommended.add(answer["request_id"])
        reply = client.feedback(answer["request_id"], answer["items"][0]["item_id"], "play")
        assert reply == {"accepted": True, "duplicate": False}, (tag, reply)
        acknowledged.add(answer["request_id"])
    return recommended, acknowledged


def _wait_for(kind: str, ids: set[str], timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        found = open_store().read_events(kind)["request_id"].to_pylist()
        if ids <= set(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.mark.parametrize("sync", ["write", "fsync"])
def test_acknowledged_events_survive_kill_9_of_the_worker(registry: Registry, sync: str) -> None:
    env = subprocess_env() | {"LIMELIGHT_EVENT_SYNC": sync}
    handle = serve_in_background(MODELS, workers=1, env=env, graceful_seconds=5)
    try:
        assert handle.pid is not None
        recommended, acknowledged = set(), set()
        for round_ in range(2):
            (victim,) = _workers(handle.pid)
            with Client(handle.url) as client:
                r, a = _answer(client, 30, f"round {round_}")
            recommended |= r
            acknowledged |= a
            os.kill(victim, signal.SIGKILL)  # right after the answers: nothing committed yet
            deadline = time.monotonic() + 30
            while not ((now := _workers(handle.pid)) and victim not in now):
                assert time.monotonic() < deadline, "the killed worker was not replaced"
                time.sleep(0.05)
        # the replacement replays the dead worker's buffers; no stop, no flush on SIGTERM
        impressions = _wait_for("impressions", recommended)
        feedback = _wait_for("feedback", acknowledged)
    finally:
        handle.stop()
    assert recommended <= set(impressions), "every answered recommend has its impression"
    assert len(impressions) == len(set(impressions)), "and only once"
    assert acknowledged <= set(feedback), "every 202 has its feedback"
    assert len(feedback) == len(set(feedback)) == len(acknowledged)


def _metric(text: str, name: str, kind: str) -> float:
    match = re.search(rf'^{name}{{[^}}]*kind="{kind}"[^}}]*}} (\S+)$', text, re.MULTILINE)
    assert match, f"{name} for {kind} not in /metrics"
    return float(match.group(1))


def test_a_table_that_cannot_be_written_keeps_events_buffered_and_serving_answers(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "disk"
    blocker.write_text("a file where the event log's folder should be: every write fails")
    monkeypatch.setenv("LIMELIGHT_EVENTS", str(blocker / "events"))
    handle = serve_in_background(MODELS, in_process=True, poll_seconds=0.1)
    try:
        with Client(handle.url) as client:
            _, acknowledged = _answer(client, 10, "full disk")
        deadline = time.monotonic() + 20
        while True:
            text = httpx.get(f"{handle.url}/metrics").text
            if _metric(text, "limelight_events_write_failures_total", "feedback") > 0:
                break
            assert time.monotonic() < deadline, "no failed commit was counted"
            time.sleep(0.2)
        assert _metric(text, "limelight_events_pending", "feedback") == 10
        assert _metric(text, "limelight_events_written_total", "feedback") == 0
        with Client(handle.url) as client:
            _answer(client, 2, "still answering")
        blocker.unlink()  # the disk has room again: the next commit takes everything
        blocker.mkdir()
        feedback = _wait_for("feedback", acknowledged)
        assert acknowledged <= set(feedback) and len(feedback) == 12
    finally:
        handle.stop()


def test_feedback_that_cannot_be_recorded_is_a_503_and_its_retry_is_taken(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from limelight.store import _eventbuf

    handle = serve_in_background(MODELS, in_process=True, poll_seconds=0.1)
    try:
        with Client(handle.url) as client:
            answer = client.recommend("u1", k=2)
            item = answer["items"][0]["item_id"]
            body = {"request_id": answer["request_id"], "item_id": item, "event": "play"}

            def broken(fd: int) -> None:
                raise OSError(28, "No space left on device")

            working = _eventbuf.os.fdatasync
            monkeypatch.setattr(_eventbuf.os, "fdatasync", broken)
            refused = httpx.post(f"{handle.url}/v1/feedback", json=body)
            assert refused.status_code == 503 and refused.json()["error"] == "event_log_unavailable"
            monkeypatch.setattr(_eventbuf.os, "fdatasync", working)  # not undo(): keeps the home
            again = httpx.post(f"{handle.url}/v1/feedback", json=body)
            assert again.status_code == 202 and again.json()["duplicate"] is False
        assert answer["request_id"] in _wait_for("feedback", {answer["request_id"]})
    finally:
        handle.stop()
