"""One scheduler, in process: schedules (catch-up off/on), events, chains, and bad firings.

Runs use the inline executor and the runner runs in process (``inline=True``), so these tests
stay lean; the processes, the kill -9 and the races are in ``test_exactly_once.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from limelight import publish_event
from limelight.core.clock import SimulatedClock
from limelight.core.errors import InvalidInputError
from limelight.flows import Run
from limelight.scheduling import (
    SchedulerLoop,
    deploy,
    firing_chain,
    recent_firings,
    set_paused,
)
from limelight.store import open_store
from limelight.store.schema import firings, published_events

from ._flows import write_flow

HOUR = 3600.0


def _loop() -> SchedulerLoop:
    loop = SchedulerLoop(inline=True, name="test")
    loop.acquire()
    return loop


@pytest.mark.parametrize("catchup", [False, True])
def test_missed_ticks_are_skipped_or_caught_up(
    sched_home: Path, tmp_path: Path, sim_clock: SimulatedClock, catchup: bool
) -> None:
    sim_clock.start = 1_780_000_000.0 - 1_780_000_000.0 % HOUR + 60  # a minute past an hour
    deploy(write_flow(tmp_path, "Hourly", f"@schedule(hourly=True, catchup={catchup})"))
    loop = _loop()
    assert loop.run_once() == []  # nothing due yet
    sim_clock.advance(3 * HOUR)  # the scheduler was down for three ticks
    fired = loop.run_once()
    assert len(fired) == (3 if catchup else 1)
    assert loop.run_once() == []  # each tick once
    sim_clock.advance(HOUR)
    assert len(loop.run_once()) == 1
    ticks = [f.tick for f in recent_firings("Hourly")]
    assert len(ticks) == len(set(ticks)) == (4 if catchup else 2)
    assert all(t is not None and t % HOUR == 0 for t in ticks)
    assert {f.status for f in recent_firings("Hourly")} == {"succeeded"}
    run = Run(f"Hourly/{recent_firings('Hourly')[0].run_id}")
    assert any(tag.startswith("fired-by:tick:") for tag in run.tags)


def test_events_fire_with_mapped_parameters_and_chain_on_finish(
    sched_home: Path, tmp_path: Path
) -> None:
    deploy(
        write_flow(
            tmp_path,
            "Ingest",
            '@trigger(event={"name": "new_data", "parameters": {"day": "date"}})',
            params='day = Param(default="none")',
            body="self.day_seen = self.day",
        )
    )
    deploy(write_flow(tmp_path, "Train", '@trigger_on_finish(flow="Ingest")'))
    publish_event("unrelated", {"x": 1})
    publish_event("new_data", {"date": "2026-12-01"})
    loop = _loop()
    assert len(loop.run_once()) == 1  # Ingest
    assert len(loop.run_once()) == 1  # Train, on Ingest's run_finished
    assert loop.run_once() == []
    ingest = recent_firings("Ingest")[0]
    assert ingest.status == "succeeded"
    assert Run(f"Ingest/{ingest.run_id}").data.day_seen == "2026-12-01"
    train = recent_firings("Train")[0]
    assert train.status == "succeeded" and train.event_source == f"run:Ingest/{ingest.run_id}"
    chain = firing_chain("Train", train.run_id)  # type: ignore[arg-type]
    assert [f.deployment for f in chain] == ["Ingest", "Train"]
    assert chain[0].event_source == "cli" or chain[0].event_name == "new_data"


def test_all_mode_waits_for_each_event_any_mode_fires_on_each(
    sched_home: Path, tmp_path: Path
) -> None:
    deploy(write_flow(tmp_path, "Both", '@trigger(events=["a", "b"])'))
    deploy(write_flow(tmp_path, "Either", '@trigger(events=["a", "b"], mode="any")'))
    loop = _loop()
    publish_event("a")
    publish_event("a")
    loop.run_once()
    assert len(recent_firings("Both")) == 0 and len(recent_firings("Either")) == 2
    publish_event("b")
    loop.run_once()
    assert len(recent_firings("Both")) == 1 and len(recent_firings("Either")) == 3
    restarted = SchedulerLoop(inline=True, name="other")  # rebuilt from the firings: no repeat
    restarted.acquire()
    assert restarted.run_once() == []


def test_paused_deployments_do_not_fire_and_skip_what_happened(
    sched_home: Path, tmp_path: Path
) -> None:
    deploy(write_flow(tmp_path, "Paused", '@trigger(event="go")'))
    set_paused("Paused", True)
    loop = _loop()
    publish_event("go")
    assert loop.run_once() == []
    set_paused("Paused", False)
    assert loop.run_once() == []  # published while paused: not fired later
    publish_event("go")
    assert len(loop.run_once()) == 1


def test_bad_firings_are_recorded_and_the_others_still_fire(
    sched_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(
        write_flow(
            tmp_path,
            "Typed",
            '@trigger(event={"name": "go", "parameters": {"n": "count"}})',
            params="n = Param(default=1)",
        )
    )
    elsewhere = tmp_path / "elsewhere"  # outside the flow's folder: not in its code package
    elsewhere.mkdir()
    monkeypatch.syspath_prepend(str(elsewhere))
    helper = elsewhere / "helper_mod.py"
    helper.write_text("VALUE = 1\n")
    breaks = write_flow(tmp_path, "Breaks", '@trigger(event="go")')
    breaks.write_text("import helper_mod\n" + breaks.read_text())
    deploy(breaks)
    deploy(write_flow(tmp_path, "Healthy", '@trigger(event="go")'))
    helper.unlink()  # the deployed code no longer imports
    import sys

    sys.modules.pop("helper_mod", None)
    publish_event("go", {"other": 1})  # no field "count" for parameter n
    publish_event("go", {"count": "many"})  # a payload the parameter refuses
    loop = _loop()
    fired = loop.run_once()
    assert len(fired) == 6
    typed = {f.event_id: f for f in recent_firings("Typed")}
    first, second = sorted(typed)
    assert typed[first].status == "failed" and "no field 'count'" in (typed[first].error or "")
    assert "deployment Typed" in (typed[first].error or "")
    assert typed[second].status == "failed" and "deployment Typed" in (typed[second].error or "")
    broken = recent_firings("Breaks")
    assert [f.status for f in broken] == ["failed", "failed"]
    assert all("deployment Breaks: its code does not import" in (f.error or "") for f in broken)
    assert [f.status for f in recent_firings("Healthy")] == ["succeeded", "succeeded"]
    with open_store().metadata.connect() as conn:  # nothing lost: the events are all there
        assert conn.execute(sa.select(sa.func.count()).select_from(published_events)).scalar()
        assert conn.execute(sa.select(sa.func.count()).select_from(firings)).scalar() == 6


def test_a_second_scheduler_of_the_same_name_is_refused(sched_home: Path) -> None:
    first = SchedulerLoop(name="main")
    first.acquire()
    import subprocess
    import sys

    code = "from limelight.scheduling import SchedulerLoop; SchedulerLoop(name='main').acquire()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "a scheduler named 'main' is already running" in done.stderr
    assert "--name" in done.stderr
    first.release()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    again = SchedulerLoop(name="main")  # that one exited without releasing: its pid is gone
    again.acquire()
    again.release()


def test_a_run_imports_the_neighbours_it_was_deployed_with(
    sched_home: Path, tmp_path: Path
) -> None:
    import sys

    (tmp_path / "pkg_helpers").mkdir()
    (tmp_path / "pkg_helpers" / "__init__.py").write_text("")
    (tmp_path / "pkg_helpers" / "scale.py").write_text("FACTOR = 3\n")
    (tmp_path / "neighbour_mod.py").write_text("BASE = 7\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "skipped.py").write_text("raise SystemExit\n")
    flow = write_flow(
        tmp_path,
        "Packaged",
        '@trigger(event="go")',
        body="import neighbour_mod, pkg_helpers.scale; self.value = "
        "neighbour_mod.BASE * pkg_helpers.scale.FACTOR",
    )
    deployment = deploy(flow)
    assert sorted(deployment.files(open_store())) == [
        "neighbour_mod.py",
        "packaged.py",
        "pkg_helpers/__init__.py",
        "pkg_helpers/scale.py",
    ]
    (tmp_path / "neighbour_mod.py").write_text("BASE = 1000\n")  # changed on disk after deploy
    (tmp_path / "pkg_helpers" / "scale.py").unlink()
    for name in ("neighbour_mod", "pkg_helpers", "pkg_helpers.scale"):
        sys.modules.pop(name, None)
    sys.path[:] = [p for p in sys.path if p != str(tmp_path)]
    publish_event("go")
    loop = _loop()
    assert len(loop.run_once()) == 1
    (firing,) = recent_firings("Packaged")
    assert firing.status == "succeeded", firing.error
    assert Run(f"Packaged/{firing.run_id}").data.value == 21  # 7 * 3, as deployed
    for name in ("neighbour_mod", "pkg_helpers", "pkg_helpers.scale"):
        sys.modules.pop(name, None)


def test_a_code_package_over_the_limit_is_refused(
    sched_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("limelight.scheduling._deploy.PACKAGE_LIMIT", 1000)
    (tmp_path / "big_mod.py").write_text("X = 1\n" * 400)
    flow = write_flow(tmp_path, "TooBig", '@trigger(event="go")')
    with pytest.raises(InvalidInputError, match=r"holds more than .* of Python"):
        deploy(flow)
    (tmp_path / "big_mod.py").write_bytes(b"X = '\xff'\n")
    with pytest.raises(InvalidInputError, match=r"big_mod.py is not UTF-8"):
        deploy(flow)
