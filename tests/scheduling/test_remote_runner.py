"""Recovery of firings whose runner is on another host: judged by time and the run's heartbeat."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from limelight.core.clock import SimulatedClock
from limelight.flows._records import STALE_AFTER
from limelight.scheduling import SchedulerLoop, deploy, recent_firings
from limelight.scheduling._loop import STARTING_TIMEOUT
from limelight.store import open_store
from limelight.store.schema import firings, runs

from ._flows import write_flow

ELSEWHERE = "another-host.example:4242"


def _fired_once(tmp_path: Path, sim_clock: SimulatedClock) -> tuple[SchedulerLoop, int]:
    deploy(write_flow(tmp_path, "Remote", "@schedule(hourly=True)"))
    loop = SchedulerLoop(inline=True, name="test")
    loop.acquire()
    sim_clock.advance(3600.0)
    (fired,) = loop.run_once()
    return loop, fired


def _write(statement: sa.Executable) -> None:
    open_store().metadata.transaction(lambda conn: conn.execute(statement))


def _set(firing_id: int, **values: object) -> None:
    _write(firings.update().where(firings.c.id == firing_id).values(**values))


def _status(firing_id: int) -> str:
    with open_store().metadata.connect() as conn:
        return str(
            conn.execute(sa.select(firings.c.status).where(firings.c.id == firing_id)).scalar()
        )


def _recover(loop: SchedulerLoop) -> None:
    loop._last_recover = 0.0  # a pass may recover at once
    loop._recover()


def test_a_starting_firing_on_another_host_is_taken_again_after_the_timeout(
    sched_home: Path, tmp_path: Path, sim_clock: SimulatedClock
) -> None:
    loop, fired = _fired_once(tmp_path, sim_clock)
    now = time.time()
    _set(
        fired,
        status="starting",
        run_id=None,
        runner=ELSEWHERE,
        claimed_at=now - 60,
        started_at=now - 10,
    )
    _recover(loop)
    assert _status(fired) == "starting"  # young: its runner may still start the run
    _set(fired, started_at=now - STARTING_TIMEOUT - 1)
    _recover(loop)
    assert _status(fired) == "claimed"  # given back, to be handed to a runner here
    with open_store().metadata.connect() as conn:
        assert (
            conn.execute(sa.select(firings.c.runner).where(firings.c.id == fired)).scalar() is None
        )


def test_a_running_firing_on_another_host_fails_once_its_run_stops_beating(
    sched_home: Path, tmp_path: Path, sim_clock: SimulatedClock
) -> None:
    loop, fired = _fired_once(tmp_path, sim_clock)
    (firing,) = [f for f in recent_firings("Remote") if f.id == fired]
    now = time.time()
    _set(fired, status="running", runner=ELSEWHERE, claimed_at=now - 600, started_at=now - 600)
    _write(
        runs.update()
        .where(runs.c.id == firing.run_id)
        .values(status="running", heartbeat_at=now - 1)
    )
    _recover(loop)
    assert _status(fired) == "running"  # its run beats: alive on its host
    _write(
        runs.update().where(runs.c.id == firing.run_id).values(heartbeat_at=now - STALE_AFTER - 1)
    )
    _recover(loop)
    assert _status(fired) == "failed"
    with open_store().metadata.connect() as conn:
        error = conn.execute(sa.select(firings.c.error).where(firings.c.id == fired)).scalar()
    assert error == "the runner died"


def test_a_finished_run_whose_remote_runner_died_gives_its_firing_the_run_status(
    sched_home: Path, tmp_path: Path, sim_clock: SimulatedClock
) -> None:
    loop, fired = _fired_once(tmp_path, sim_clock)
    now = time.time()
    # the run succeeded (its heartbeat stopped with it), the runner died before the firing knew
    _set(fired, status="running", runner=ELSEWHERE, claimed_at=now - 600, started_at=now - 600)
    _recover(loop)
    assert _status(fired) == "succeeded"
