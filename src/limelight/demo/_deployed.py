"""The demo's loop through deployments, on a (simulated) daily schedule: the recommenders'
training and the experiment's daily analysis are deployed flows, and the analysis promotes the
challenger through the gates itself.

``DailyLoop`` deploys the training (``DemoRecommenders`` with this demo's scale and seed, from a
deployment file it writes under the home) and :class:`DemoDailyAnalysis`, sets a simulated clock,
and at each simulated day boundary moves the clock a day on and lets a scheduler pass fire what
is due (in process, so the demo still takes about a minute): the first boundary trains, every
later one retrains (new candidate versions of ``recs``; aliases move only through the analysis
and the gates) and reads the experiment out. The demo reads each result back from the run the
firing started, as anyone would from the dashboard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from limelight import Flow, schedule, step
from limelight.core import clock
from limelight.core.config import Config, resolve_config

__all__ = ["EXPERIMENT_PREFIX", "TRAINING", "DailyLoop", "DemoDailyAnalysis"]

EXPERIMENT_PREFIX = "ranker-ab-"  # the demo's experiments (one per run of the demo)
DAY = 86_400.0
TRAINING = "DemoRecommenders"  # the deployment that trains (first boundary) and retrains daily
_TRAINING_FILE = """\"\"\"The demo's daily (re)training: DemoRecommenders with this demo's settings.\"\"\"

from limelight import Param, schedule
from limelight.demo._flows import DemoRecommenders as _Recommenders


@schedule(daily=True)
class DemoRecommenders(_Recommenders):
    scale = Param(default={scale!r})
    seed = Param(default={seed!r})
"""


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
    """The demo's deployments and an in-process scheduler on a simulated clock."""

    def __init__(self, config: Config, *, scale: str | float, seed: int) -> None:
        from limelight.scheduling import SchedulerLoop, deploy, recent_firings

        self.config = config
        # a demo run again in the same home starts its days after the last one's (its last tick
        # would otherwise still lie ahead, and the first day boundary would fire nothing)
        ticks = [
            f.tick
            for name in (TRAINING, "DemoDailyAnalysis")
            for f in recent_firings(name, limit=1, config=config)
            if f.tick is not None
        ]
        start = max([clock.now(), *ticks])
        self._old_clock: clock.Clock | None = clock.set_clock(clock.SimulatedClock(start))
        path = Path(config.home) / "demo" / "training.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_TRAINING_FILE.format(scale=scale, seed=seed))
        self.training = deploy(path, flow=TRAINING, config=config)
        self.deployment: Any = None  # the analysis: deployed once there is something to analyse
        self.scheduler = SchedulerLoop(config.with_(executor="inline"), inline=True, name="demo")
        self.scheduler.acquire()

    def _fired_run(self, deployment: str, since: int) -> str | None:
        """The run the newest firing of ``deployment`` (in this pass) started."""
        from limelight.scheduling import recent_firings

        fired = recent_firings(deployment, limit=1, config=self.config)
        if not fired or fired[0].id <= since or fired[0].run is None:
            return None
        return fired[0].run

    def _pass(self) -> tuple[str | None, str | None]:
        """A simulated day passes: what is due fires; the training's and the analysis's runs."""
        from limelight.scheduling import recent_firings

        newest = recent_firings(limit=1, config=self.config)
        since = newest[0].id if newest else 0
        simulated = clock.get_clock()
        if isinstance(simulated, clock.SimulatedClock):
            simulated.advance(DAY)
        self.scheduler.run_once()
        analysis = None if self.deployment is None else self.deployment.name
        return (
            self._fired_run(self.training.name, since),
            None if analysis is None else self._fired_run(analysis, since),
        )

    def first_training(self) -> Any:
        """The first day boundary: the training deployment fires; its run (a ``Run``)."""
        from limelight.core.errors import LimelightError
        from limelight.flows import Run

        trained, _ = self._pass()
        if trained is None:
            raise LimelightError(f"the {TRAINING} deployment did not fire at the day boundary")
        run = Run(trained, config=self.config)
        if not run.successful:
            raise LimelightError(f"the scheduled training {trained} did not succeed")
        return run

    def deploy_analysis(self) -> None:
        from limelight.scheduling import deploy

        self.deployment = deploy(__file__, flow="DemoDailyAnalysis", config=self.config)

    def next_day(self) -> tuple[Any, bool, str | None, str | None]:
        """The next day boundary: retraining and the analysis fire; the analysis, promoted?,
        its run, and the retraining's run."""
        from limelight.flows import Run

        retrained, analysed = self._pass()
        if analysed is None:
            return None, False, None, retrained
        run = Run(analysed, config=self.config)
        return run.data.result, bool(run.data.promoted), analysed, retrained

    def close(self) -> None:
        """Release the scheduler and give the wall clock back (once; a second call does nothing)."""
        if self._old_clock is None:
            return
        self.scheduler.release()
        clock.set_clock(self._old_clock)
        self._old_clock = None
