"""Two scheduler processes on one database fire each tick and each event exactly once; a
scheduler killed with SIGKILL in the middle of a firing neither skips nor doubles it.

The schedulers are real processes (``limelight scheduler``) on the same SQLite file and on the
same PostgreSQL database; the kill is ``os.kill(pid, SIGKILL)``.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from limelight.core.config import Config, resolve_config
from limelight.scheduling import deploy
from limelight.scheduling._loop import PAUSE_ENV
from limelight.store import open_store
from limelight.store.published import publish_event
from limelight.store.schema import firings, tags

from ._flows import write_flow


def _env(config: Config, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LIMELIGHT_HOME=str(config.home),
        LIMELIGHT_DB=config.db,
        LIMELIGHT_EXECUTOR="inline",
        PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
        **extra,
    )
    return env


class Schedulers:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        code = "from limelight.cli import main; main()"
        log = self.config.home / f"scheduler-{name}-{len(self.procs)}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", code, "scheduler", "--name", name, "--poll", "0.05", *args],
                env=_env(self.config, **env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _schedulers(db: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Schedulers]:
    monkeypatch.setenv("LIMELIGHT_HOME", str(home))
    monkeypatch.setenv("LIMELIGHT_DB", db)
    monkeypatch.setenv("LIMELIGHT_EXECUTOR", "inline")
    group = Schedulers(resolve_config())
    yield group
    group.stop_all()
    open_store(group.config).dispose()


@pytest.fixture
def schedulers(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Schedulers]:
    """Schedulers on SQLite and (marked postgres) on PostgreSQL."""
    yield from _schedulers(db_url, tmp_path / "home", monkeypatch)


@pytest.fixture
def sqlite_schedulers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Schedulers]:
    """Schedulers on one SQLite file (the kill tests: the claim logic is the same on both)."""
    db = f"sqlite:///{tmp_path / 'home' / 'limelight.db'}"
    yield from _schedulers(db, tmp_path / "home", monkeypatch)


def _firings(config: Config) -> list[sa.Row]:
    with open_store(config).metadata.connect() as conn:
        return list(conn.execute(sa.select(firings).order_by(firings.c.id)))


def _settled(config: Config, expect: int | None = None, timeout: float = 90.0) -> list[sa.Row]:
    """The firings once none is still claimed, starting or running (and ``expect`` exist)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rows = _firings(config)
        busy = [r for r in rows if r.status in ("claimed", "starting", "running")]
        if not busy and (expect is None or len(rows) >= expect):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"firings did not settle: {[(r.id, r.status) for r in _firings(config)]}")


def _claimed(config: Config, deployment_id: int, events: list[int], timeout: float = 60.0) -> None:
    """Wait until each of ``events`` has a firing of ``deployment_id`` (a bounded wait: the
    assertions after it say what is missing)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rows = [r for r in _firings(config) if r.deployment_id == deployment_id]
        if {r.event_id for r in rows} >= set(events):
            return
        time.sleep(0.2)


def _wait_for_the_claim(config: Config) -> None:
    """Wait (bounded) for the one firing, and check that it is claimed and not handed off yet."""
    end = time.monotonic() + 60
    while not _firings(config) and time.monotonic() < end:
        time.sleep(0.1)
    assert [r.status for r in _firings(config)] == ["claimed"]


def _runs_of(config: Config, firing_id: int) -> int:
    with open_store(config).metadata.connect() as conn:
        query = sa.select(sa.func.count()).where(tags.c.tag == f"firing:{firing_id}")
        return int(conn.execute(query).scalar_one())


def test_two_schedulers_fire_each_tick_and_each_event_once(
    schedulers: Schedulers, tmp_path: Path
) -> None:
    config = schedulers.config
    # catch-up on: a pass slower than a simulated minute (a loaded machine) must not skip a tick
    every_minute = '@schedule(cron="* * * * *", catchup=True)'
    ticking = deploy(write_flow(tmp_path, "EveryMinute", every_minute), config=config)
    on_go = deploy(write_flow(tmp_path, "OnGo", '@trigger(event="go")'), config=config)
    for name in ("a", "b"):  # a simulated minute passes every real second
        schedulers.start(name, "--clock-speed", "60")
    published = []
    for i in range(5):
        published.append(publish_event("go", {"i": i}, config=config))
        time.sleep(0.6)
    _claimed(config, on_go.id, published)  # on a loaded machine the last may take a while
    time.sleep(1.5)
    schedulers.stop_all()
    rows = _settled(config)
    by_deployment: dict[int, list[sa.Row]] = {}
    for row in rows:
        by_deployment.setdefault(row.deployment_id, []).append(row)
    ticks_rows, event_rows = by_deployment[ticking.id], by_deployment[on_go.id]
    assert sorted(r.event_id for r in event_rows) == published  # each event once, none missed
    ticks = sorted(r.tick for r in ticks_rows)
    assert len(ticks) >= 2 and len(set(ticks)) == len(ticks)
    assert all(b - a == 60 for a, b in itertools.pairwise(ticks))  # no tick skipped
    for row in rows:
        assert row.status == "succeeded", (row.id, row.error)
        assert _runs_of(config, row.id) == 1
    claimers = {r.claimed_by for r in rows}
    assert len(claimers) >= 1


def test_a_scheduler_killed_between_claim_and_start_is_finished_once(
    sqlite_schedulers: Schedulers, tmp_path: Path
) -> None:
    schedulers = sqlite_schedulers
    config = schedulers.config
    deploy(write_flow(tmp_path, "OnGo", '@trigger(event="go")'), config=config)
    first = schedulers.start("main", **{PAUSE_ENV: "60"})
    publish_event("go", config=config)
    _wait_for_the_claim(config)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    schedulers.start("main")  # the same name: the dead one's lease is taken over
    (row,) = _settled(config, expect=1)
    assert row.status == "succeeded" and _runs_of(config, row.id) == 1


def test_a_scheduler_killed_while_its_run_runs_does_not_start_it_again(
    sqlite_schedulers: Schedulers, tmp_path: Path
) -> None:
    schedulers = sqlite_schedulers
    config = schedulers.config
    deploy(
        write_flow(tmp_path, "Slow", '@trigger(event="go")', body="import time; time.sleep(4)"),
        config=config,
    )
    first = schedulers.start("main")
    publish_event("go", config=config)
    end = time.monotonic() + 60
    while time.monotonic() < end and [r.status for r in _firings(config)] != ["running"]:
        time.sleep(0.1)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    schedulers.start("main")
    time.sleep(6)  # past the claim grace: the new scheduler's recovery has looked at it
    (row,) = _settled(config, expect=1)
    assert row.status == "succeeded" and _runs_of(config, row.id) == 1


def test_ctrl_c_between_claim_and_hand_off_hands_the_claim_off_first(
    sqlite_schedulers: Schedulers, tmp_path: Path
) -> None:
    schedulers = sqlite_schedulers
    config = schedulers.config
    deploy(write_flow(tmp_path, "OnGo", '@trigger(event="go")'), config=config)
    only = schedulers.start("main", **{PAUSE_ENV: "3"})
    publish_event("go", config=config)
    _wait_for_the_claim(config)
    only.send_signal(signal.SIGINT)  # mid-pass: held until the claim is handed to its runner
    assert only.wait(30) == 0
    (row,) = _settled(config, expect=1, timeout=60)  # no scheduler is left to recover it
    assert row.status == "succeeded" and _runs_of(config, row.id) == 1
