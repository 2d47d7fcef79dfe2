"""The demo's improve loop through deployments: the experiment's daily analysis is a deployed
flow on a (simulated) daily schedule, and it promotes the challenger through the gates itself.

``DailyLoop`` deploys :class:`DemoDailyAnalysis`, sets a simulated clock, and after each
simulated day of traffic moves the clock a day on and lets a scheduler pass fire the deployment
(in process, so the demo still takes about a minute). The demo reads the analysis back from the
run the firing started, as anyone would from the dashboard.
"""

from __future__ import annotations

from typing import Any

from limelight import Flow, schedule, step
from limelight.core import clock
from limelight.core.config import Config, resolve_config

__all__ = ["EXPERIMENT_PREFIX", "DailyLoop", "DemoDailyAnalysis"]

EXPERIMENT_PREFIX = "ranker-ab-"  # the demo's experiments (one per run of the demo)
DAY = 86_400.0


@schedule(daily=True)
class DemoDailyAnalysis(Flow):
    """Read the running demo experiment out; promote ``recs@challenger`` when it wins."""

    @step
    def start(self) -> None:
        from limelight.demo._online import DayResult, analyse
        from limelight.experiments.store import list_experiments, set_experiment_status
        from limelight.registry import Registry
        from limelight.store import open_store

        store = open_store(resolve_config())
        running = [
            e
            for e in list_experiments(store.metadata, "running")
            if e.name.startswith(EXPERIMENT_PREFIX)
        ]
        self.experiment = running[-1].name if running else None
        self.promoted = False
        self.result = None
        if running:
            spec = running[-1]
            result = analyse(store, spec, DayResult(0, 0, 0, 0), settle=lambda: None)
            self.result = result
            if result.significant_win and not result.srm_flagged:
                registry = Registry(store=store)
                challenger = registry.get("recs@challenger").version
                why = (
                    f"A/B {spec.name}: plays per member {result.lift:+.1%} "
                    f"[{result.lift_low:+.1%}, {result.lift_high:+.1%}], anytime-valid 95%"
                )
                registry.set_alias("recs", "champion", challenger, why=why)  # through its gates
                set_experiment_status(store.metadata, spec.name, "stopped")
                self.promoted = True
        self.next(self.end)

    @step
    def end(self) -> None:
        pass


class DailyLoop:
    """A deployment of the daily analysis and an in-process scheduler on a simulated clock."""

    def __init__(self, config: Config) -> None:
        from limelight.scheduling import SchedulerLoop, deploy

        self.config = config
        self._old_clock = clock.set_clock(clock.SimulatedClock(clock.now()))
        self.deployment = deploy(__file__, flow="DemoDailyAnalysis", config=config)
        self.scheduler = SchedulerLoop(config.with_(executor="inline"), inline=True, name="demo")
        self.scheduler.acquire()

    def next_day(self) -> tuple[Any, bool, str | None]:
        """A simulated day passes: the schedule fires; the analysis, promoted?, and its run."""
        from limelight.flows import Run
        from limelight.scheduling import recent_firings

        simulated = clock.get_clock()
        if isinstance(simulated, clock.SimulatedClock):
            simulated.advance(DAY)
        self.scheduler.run_once()
        fired = recent_firings(self.deployment.name, limit=1, config=self.config)
        if not fired or fired[0].run is None:
            return None, False, None
        run = Run(fired[0].run, config=self.config)
        return run.data.result, bool(run.data.promoted), fired[0].run

    def close(self) -> None:
        self.scheduler.release()
        clock.set_clock(self._old_clock)
