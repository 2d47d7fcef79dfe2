"""Built-in events: run finished, model version registered, alias moved, the event log grew."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from limelight.core.hooks import get_hook
from limelight.registry import Registry
from limelight.scheduling import SchedulerLoop, deploy, recent_firings
from limelight.scheduling._loop import _count_event_log
from limelight.store import open_store
from limelight.store.schema import published_events

from ._flows import write_flow


def _events() -> list[tuple[str, dict[str, object], str | None]]:
    with open_store().metadata.connect() as conn:
        rows = conn.execute(sa.select(published_events).order_by(published_events.c.id))
        return [(r.name, r.payload, r.source) for r in rows]


def test_registry_and_runs_publish_their_events(sched_home: Path, tmp_path: Path) -> None:
    registry = Registry()
    registry.register("recs", {"weights": [1, 2]})
    registry.register("recs", {"weights": [3, 4]})
    registry.set_alias("recs", "champion", 2, why="better")
    published = _events()
    assert published[0] == (
        "model_registered",
        {"model": "recs", "version": 1, "run": None},
        "model:recs/1",
    )
    assert published[2][0] == "alias_moved"
    assert published[2][1] == {
        "model": "recs",
        "alias": "champion",
        "from_version": None,
        "to_version": 2,
    }

    from limelight.flows._loading import load_flow_class

    flow = load_flow_class(write_flow(tmp_path, "Quick"))
    run = flow.run()
    name, payload, source = _events()[-1]
    assert name == "run_finished" and source == f"run:Quick/{run.id}"
    assert payload == {"flow": "Quick", "run": run.id, "status": "succeeded", "branch": None}


def test_publish_event_is_a_named_hook_for_packages_that_may_not_import_scheduling(
    sched_home: Path,
) -> None:
    publish = get_hook("publish_event")
    assert publish is not None
    first = publish(
        "monitor_alert", {"monitor": "ctr", "model": "recs", "value": 0.1, "threshold": 0.2}
    )
    again = publish("monitor_alert", {"monitor": "ctr"}, dedup_key="k")
    assert publish("monitor_alert", {"monitor": "other"}, dedup_key="k") == again != first
    assert [e[0] for e in _events()] == ["monitor_alert", "monitor_alert"]


def test_the_event_log_growing_fires_new_impressions(sched_home: Path, tmp_path: Path) -> None:
    import time

    store = open_store()
    deploy(write_flow(tmp_path, "Retrain", '@trigger(event="new_impressions")'))
    loop = SchedulerLoop(inline=True, name="t", new_events_every=3)
    loop.acquire()
    writer = store.event_writer("impressions")
    for i in range(4):
        writer.append({"request_id": f"r{i}", "ts": time.time(), "user_id": "u", "items": ["a"]})
    writer.close()
    assert _count_event_log(store.config, "impressions") == 4
    loop.run_once()  # sees 4 rows: publishes new_impressions (its first bucket of 3)
    loop._last_log_check = 0.0
    loop.run_once()
    (firing,) = recent_firings("Retrain")
    assert firing.event_name == "new_impressions" and firing.status == "succeeded"
