"""``run_finished`` commits with the run's finish: a kill -9 right after cannot lose it.

The launching process is killed with SIGKILL (by its own pid) the moment ``finish_run``
returns: the run is recorded finished and its event is there, so a ``@trigger_on_finish``
deployment still fires. A second finish of the same run does not publish twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import sqlalchemy as sa

from limelight.flows._records import finish_run
from limelight.scheduling import SchedulerLoop, deploy, recent_firings
from limelight.store import open_store
from limelight.store.schema import published_events, runs

from ._flows import write_flow

KILLED_AFTER_FINISH = """
import os, signal, sys
import limelight.flows._launch as launch
from limelight.flows._loading import load_flow_class

real = launch.finish_run

def finish_then_die(*args, **kwargs):
    real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # kill -9 between the finish and anything after it

launch.finish_run = finish_then_die
load_flow_class(sys.argv[1]).run()
"""


def _run_finished_events() -> list[tuple[dict[str, object], str | None]]:
    with open_store().metadata.connect() as conn:
        rows = conn.execute(
            sa.select(published_events.c.payload, published_events.c.dedup_key).where(
                published_events.c.name == "run_finished"
            )
        )
        return [(r.payload, r.dedup_key) for r in rows]


def test_kill_9_right_after_the_finish_keeps_the_event(sched_home: Path, tmp_path: Path) -> None:
    ingest = write_flow(tmp_path, "Ingest", '@trigger(event="never_published")')
    deploy(ingest)
    deploy(write_flow(tmp_path, "Train", '@trigger_on_finish(flow="Ingest")'))
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_AFTER_FINISH), str(ingest)],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with open_store().metadata.connect() as conn:
        run_id, status = conn.execute(
            sa.select(runs.c.id, runs.c.status).where(runs.c.flow == "Ingest")
        ).one()
    assert status == "succeeded"
    assert _run_finished_events() == [
        (
            {"flow": "Ingest", "run": run_id, "status": "succeeded", "branch": None},
            f"run_finished:Ingest/{run_id}",
        )
    ]
    loop = SchedulerLoop(inline=True, name="t")
    loop.acquire()
    assert len(loop.run_once()) == 1  # Train fires on the event the killed process committed
    firing = recent_firings("Train")[0]
    assert firing.event_name == "run_finished" and firing.event_source == f"run:Ingest/{run_id}"


def test_a_second_finish_of_a_run_publishes_no_second_event(
    sched_home: Path, tmp_path: Path
) -> None:
    from limelight.flows._loading import load_flow_class

    run = load_flow_class(write_flow(tmp_path, "Quick")).run(tags=["branch:exp"])
    store = open_store()
    finish_run(store.metadata, int(run.id), "failed", "finished again")  # e.g. a retried finish
    events = _run_finished_events()
    assert len(events) == 1
    assert events[0][0] == {"flow": "Quick", "run": run.id, "status": "succeeded", "branch": "exp"}
