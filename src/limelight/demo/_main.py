"""``limelight demo``: develop, deploy and improve, end to end, on the embedded default."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from limelight.core.config import Config, resolve_config
from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.demo._deployed import EXPERIMENT_PREFIX, DailyLoop
from limelight.demo._flows import DemoArtwork, _world
from limelight.demo._guardrail import guardrail_day
from limelight.demo._online import DayResult, simulate_day, wait_for_events
from limelight.demo._report import DemoReport, write_html
from limelight.experiments import ExperimentSpec, ExperimentStatus, Variant
from limelight.experiments._log_queries import event_totals
from limelight.experiments.store import create_experiment, list_experiments, set_experiment_status
from limelight.registry import IntervalGate, MetricGate, Registry, UsageGate
from limelight.serving import Client, serve_in_background
from limelight.sim import Online, World, exploration_log, ranker_slates
from limelight.store import Store, open_store

__all__ = ["run_demo"]

_EXPERIMENT_PREFIX = EXPERIMENT_PREFIX


def _say(out: Callable[[str], None], text: str) -> None:
    out(text)


def _fresh_aliases(registry: Registry, name: str) -> None:
    """A demo run starts its own story: earlier aliases are removed (and the removal audited)."""
    try:
        held = registry.alias_versions(name)
    except NotFoundError:
        return
    for alias in held:
        registry.remove_alias(name, alias, why="a new demo run starts")


def _wait_for_version(
    url: str,
    slot: str,
    version: int,
    workers: int,
    timeout: float = 30.0,
    *,
    stopped: str | None = None,
) -> None:
    """Wait until each of the ``workers`` serving processes has answered, on a fresh connection
    (so any worker may answer), that ``slot`` serves ``version`` (and, with ``stopped``, that it
    assigns that experiment no more). A worker's latest answer counts, so one that is behind
    holds the wait however often the others answer."""
    deadline = time.monotonic() + timeout
    latest: dict[int, bool] = {}
    while time.monotonic() < deadline:
        with Client(url) as client:
            answer = client.models()
        served = answer["models"].get(slot, {})
        done = served.get("version") == version and stopped not in answer.get("experiments", [])
        latest[int(answer["worker"])] = done
        if len(latest) >= workers and all(latest.values()):
            return
        time.sleep(0.05)
    behind = sorted(pid for pid, done in latest.items() if not done)
    raise TimeoutError(
        f"serving did not switch {slot} to version {version} within {timeout:g} s: "
        f"{len(latest)} of {workers} worker(s) answered, behind: {behind or 'none'}"
    )


def _merge(day: DayResult, analysis: DayResult) -> DayResult:
    """The day's traffic with the scheduled analysis's read-out of everything so far."""
    for name in ("users", "lift", "lift_low", "lift_high", "diff", "diff_low", "diff_high"):
        setattr(day, name, getattr(analysis, name))
    day.p_value, day.srm_flagged, day.note = analysis.p_value, analysis.srm_flagged, analysis.note
    return day


def run_demo(
    *,
    scale: str | float = "small",
    seed: int = 0,
    days: int = 7,
    workers: int = 2,
    config: Config | None = None,
    out: Callable[[str], None] = print,
    guardrail: bool = True,
) -> DemoReport:
    """Run the whole loop and return its report (also written as HTML under the home)."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidInputError(f"days must be a positive int, not {days!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInputError(f"workers must be a positive int, not {workers!r}")
    config = config or resolve_config()
    world = _world(scale, seed)  # checks the scale before anything runs
    store = open_store(config)
    registry = Registry(store=store)
    started = time.monotonic()

    _say(
        out,
        f"[1/4] develop: training recommenders on {world.n_members:,} members x {world.n_titles:,} titles"
        " (a deployed flow on a daily schedule: its first simulated day boundary)",
    )
    daily = DailyLoop(config, scale=scale, seed=seed)  # training, then the analysis: deployed
    try:
        return _run_demo(
            daily,
            world,
            store,
            registry,
            started,
            scale,
            seed,
            days,
            workers,
            out,
            guardrail,
        )
    finally:
        daily.close()


def _run_demo(
    daily: DailyLoop,
    world: World,
    store: Store,
    registry: Registry,
    started: float,
    scale: str | float,
    seed: int,
    days: int,
    workers: int,
    out: Callable[[str], None],
    guardrail: bool,
) -> DemoReport:
    config = store.config
    recs_run = daily.first_training()
    _say(out, f"      {recs_run.pathspec} (a scheduled firing) trained and registered recs")
    _say(out, "      fitting an artwork policy from an exploration log")
    art_run = DemoArtwork.run(scale=scale, seed=seed, config=config, progress=True)
    baseline, challenger = recs_run.data.baseline_version, recs_run.data.challenger_version
    artwork_version = art_run.data.version

    for name in ("recs", "artwork"):
        _fresh_aliases(registry, name)
    registry.set_gates("recs", [MetricGate("ndcg@10", margin=0.0), UsageGate()])
    registry.set_gates("artwork", [IntervalGate("dr"), UsageGate()])
    registry.set_alias("recs", "champion", baseline, why="the popularity baseline launches")
    registry.set_alias("recs", "challenger", challenger, why="best offline NDCG@10 of the sweep")
    registry.set_alias(
        "artwork", "champion", artwork_version, why="first contextual artwork policy"
    )

    report = DemoReport(
        home=str(config.home),
        scale=str(scale),
        seed=seed,
        offline=recs_run.data.leaderboard,
        baseline_version=baseline,
        challenger_version=challenger,
        challenger_name=recs_run.data.challenger,
        artwork_metrics=registry.get(f"artwork/{artwork_version}").metrics,
        artwork_version=artwork_version,
    )

    _say(
        out,
        "[2/4] deploy: serving recs@champion and artwork@champion, with an A/B test against recs@challenger",
    )
    for old in list_experiments(store.metadata, "running"):
        if old.name.startswith(_EXPERIMENT_PREFIX):
            set_experiment_status(store.metadata, old.name, "stopped")
    spec = ExperimentSpec(
        name=f"{_EXPERIMENT_PREFIX}{recs_run.id}",
        salt=f"ranker-ab-{recs_run.id}",
        variants=(
            Variant("control", 0.5, "recs@champion"),
            Variant("treatment", 0.5, "recs@challenger"),
        ),
        status=ExperimentStatus.RUNNING,
        start=time.time() - 1.0,
    )
    create_experiment(store.metadata, spec)
    report.experiment = spec.name

    online = Online(world, seed=seed + 2)
    members = np.arange(world.n_members)
    control = ranker_slates(registry.load(f"recs/{baseline}"), world, members, exclude_seen=True)
    treatment = ranker_slates(
        registry.load(f"recs/{challenger}"), world, members, exclude_seen=True
    )
    lift = world.true_lift(members, control, treatment)
    report.true_control, report.true_treatment, report.true_lift = (
        lift.control,
        lift.treatment,
        lift.relative,
    )

    with serve_in_background(
        {"recs": "recs@champion", "artwork": "artwork@champion"},
        workers=workers,
        config=config,
        poll_seconds=0.5,
    ) as server:
        report.serving_url = server.url
        _say(out, f"      serving at {server.url} with {workers} worker process(es)")
        _say(out, f"[3/4] improve: {days} simulated days of members using the service over HTTP")
        promoted = False
        last_day = (time.time(), time.time())
        daily.deploy_analysis()  # the analysis and the promotion: a deployed, scheduled flow
        for day in range(days):
            day_started = time.time()
            result, _ = simulate_day(world, online, server.url, day, world.config.row_size)
            last_day = (day_started, time.time())
            if not promoted:
                wait_for_events(store)()
                moved_at = time.monotonic()
                analysis, promoted_now, analysis_run, retrained = daily.next_day()
                if retrained is not None:
                    report.notes.append(f"day {day + 1}: retrained by {retrained}")
                    _say(out, f"      {retrained} (a scheduled firing) retrained recs")
                if analysis is not None:
                    result = _merge(result, analysis)
                    report.notes.append(f"day {day + 1}: analysed by {analysis_run}")
                if promoted_now:
                    report.promoted_day, promoted = day, True
                    _wait_for_version(server.url, "recs", challenger, workers, stopped=spec.name)
                    report.swap_seconds = time.monotonic() - moved_at
                    _say(
                        out,
                        f"      {analysis_run} (a scheduled firing) promoted recs/{challenger} "
                        f"to champion through its gates; serving switched in "
                        f"{report.swap_seconds:.1f} s without a restart",
                    )
            result.champion = registry.get("recs@champion").version
            report.days.append(result)
            line = f"      day {day + 1}: {result.sessions} sessions, {result.plays} plays"
            if result.users:
                line += (
                    f"; lift {result.lift:+.1%} [{result.lift_low:+.1%}, {result.lift_high:+.1%}]"
                    f" (true {report.true_lift:+.1%})"
                )
            _say(out, line)
        daily.close()  # the guardrail day watches on the wall clock, as before
        if guardrail:
            _say(
                out,
                f"      day {days + 1}: a bad version of recs reaches serving; a monitor watches",
            )
            report.guardrail = guardrail_day(world, online, server.url, store, days, last_day, out)
            if report.guardrail.outcome == "rolled-back":
                _wait_for_version(server.url, "recs", report.guardrail.good_version, workers)
        wait_for_events(store)()  # everything answered is in the tables

    shown, plays = event_totals(store.config.events)
    report.online_take_rate = plays / shown if shown else float("nan")
    explore = exploration_log(world, 2000, seed=seed + 1)
    report.exploration_take_rate = float(np.mean(explore.rewards))
    report.notes.append(
        "the online take rate mixes both rankers and every position; the artwork truth above "
        "compares policies on the same decisions"
    )

    _say(out, "[4/4] report")
    for line in report.lines():
        _say(out, line)
    page = write_html(report, Path(config.home) / "demo" / "report.html")
    _say(out, "")
    _say(out, f"HTML report: {page}")
    _say(out, "Dashboard:   limelight ui   (then open http://127.0.0.1:8080)")
    _say(out, f"Took {time.monotonic() - started:.0f} s.")
    return report
