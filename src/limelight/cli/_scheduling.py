"""``limelight deploy | deployments | publish | scheduler``: flows that run themselves."""

from __future__ import annotations

import json
from typing import Any

import click

from limelight.cli._main import cli
from limelight.cli._table import format_table, format_time
from limelight.core.errors import InvalidInputError


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--branch", default=None, help="Deploy beside the main deployment as FLOW@NAME.")
@click.option(
    "--flow", "flow_name", default=None, help="The flow class, when the file has several."
)
def deploy(path: str, branch: str | None, flow_name: str | None) -> None:
    """Deploy the flow in PATH: a snapshot of its code that the scheduler runs."""
    from limelight.scheduling import deploy as deploy_flow

    deployment = deploy_flow(path, branch=branch, flow=flow_name)
    click.echo(f"deployed {deployment.name} (code {deployment.code_hash[:12]})")
    click.echo(_describe(deployment))


def _describe(deployment: Any) -> str:
    from limelight.scheduling._history import clock_text, next_firing

    lines = []
    if deployment.schedule:
        s = deployment.schedule
        lines.append(f"  schedule: {s.cron} ({s.timezone})" + (", catch-up" if s.catchup else ""))
        upcoming = next_firing(deployment)
        if upcoming is not None:
            lines.append(f"  next firing: {clock_text(upcoming)}")
    for trig in deployment.triggers:
        if trig.on_finish:
            lines.append(f"  on finish of: {', '.join(trig.on_finish)} ({trig.mode})")
        else:
            lines.append(f"  on events: {', '.join(e.name for e in trig.events)} ({trig.mode})")
    if not lines:
        lines.append("  (no schedule or trigger: it never fires by itself)")
    return "\n".join(lines)


@cli.group()
def deployments() -> None:
    """List, show, pause, resume and delete deployments."""


@deployments.command("list")
def list_command() -> None:
    """Every deployment, its status and its next firing."""
    from limelight.scheduling import list_deployments
    from limelight.scheduling._history import next_firing

    rows = [
        (
            d.name,
            d.status,
            (d.schedule.cron if d.schedule else "")
            + (" + triggers" if d.schedule and d.triggers else "triggers" if d.triggers else ""),
            format_time(next_firing(d)),
            d.code_hash[:12],
        )
        for d in list_deployments()
    ]
    click.echo(format_table(["deployment", "status", "fires on", "next firing", "code"], rows))


@deployments.command("show")
@click.argument("name")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
def show_command(name: str, limit: int) -> None:
    """A deployment and its recent firings."""
    from limelight.scheduling import get_deployment, recent_firings

    deployment = get_deployment(name)
    click.echo(f"{deployment.name} ({deployment.status}), flow {deployment.flow}")
    click.echo(_describe(deployment))
    rows = [
        (f.id, format_time(f.claimed_at), f.fired_by, f.status, f.run or "", (f.error or "")[:80])
        for f in recent_firings(name, limit=limit)
    ]
    click.echo(format_table(["firing", "claimed", "fired by", "status", "run", "error"], rows))


@deployments.command("pause")
@click.argument("name")
def pause_command(name: str) -> None:
    """Stop firing NAME (what happens while paused does not fire it later)."""
    from limelight.scheduling import set_paused

    click.echo(f"paused {set_paused(name, True).name}")


@deployments.command("resume")
@click.argument("name")
def resume_command(name: str) -> None:
    """Fire NAME again."""
    from limelight.scheduling import set_paused

    click.echo(f"resumed {set_paused(name, False).name}")


@deployments.command("delete")
@click.argument("name")
def delete_command(name: str) -> None:
    """Delete NAME and its firings' records (its runs stay)."""
    from limelight.scheduling import delete_deployment

    delete_deployment(name)
    click.echo(f"deleted {name}")


@cli.command()
@click.argument("event")
@click.option("--payload", default="{}", help="The event's payload, a JSON object.")
def publish(event: str, payload: str) -> None:
    """Publish EVENT: deployed flows with @trigger(event=EVENT) fire on it."""
    from limelight.store.published import publish_event

    try:
        body = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"--payload is not JSON: {exc.msg} (at {exc.pos})") from exc
    if not isinstance(body, dict):
        raise InvalidInputError(f"--payload must be a JSON object ({{...}}), not {payload!r}")
    click.echo(f"published {event} #{publish_event(event, body, source='cli')}")


@cli.command()
@click.option("--once", is_flag=True, help="One pass (fire what is due), wait for its runs, exit.")
@click.option("--name", default=None, help="The scheduler's name (default: the host name).")
@click.option(
    "--poll",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0.01, 60),
    help="Seconds between passes (on PostgreSQL a published event wakes it at once).",
)
@click.option(
    "--new-events-every",
    default=10_000,
    show_default=True,
    type=click.IntRange(1),
    help="Publish new_impressions / new_feedback each time the event log grows by this many rows.",
)
@click.option(
    "--clock-speed",
    default=None,
    type=click.FloatRange(0, min_open=True),
    help="Simulate time from now on, this many times faster (a demo's day in minutes).",
)
def scheduler(
    once: bool, name: str | None, poll: float, new_events_every: int, clock_speed: float | None
) -> None:
    """Fire deployed flows on their schedules and triggers (until Ctrl-C)."""
    import time

    from limelight.core.clock import SimulatedClock, set_clock
    from limelight.scheduling import SchedulerLoop

    if clock_speed is not None:
        set_clock(SimulatedClock(time.time(), speed=clock_speed))

    loop = SchedulerLoop(name=name, poll=poll, new_events_every=new_events_every)
    if once:
        loop.acquire()
        try:
            fired = loop.run_once()
            loop.wait_for_runners()
        finally:
            loop.release()
        click.echo(f"fired {len(fired)} firing(s)")
        return
    click.echo(f"scheduler {loop.name} running (Ctrl-C stops it)", err=True)
    try:
        loop.serve()
    except KeyboardInterrupt:
        click.echo("scheduler stopped", err=True)
