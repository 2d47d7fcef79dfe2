"""``limelight monitors ...``: checks over the event log, their alerts and rollbacks."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import click

from limelight.cli._main import cli
from limelight.cli._table import format_table
from limelight.core.errors import InvalidInputError


def _utc(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _at(text: str | None) -> float | None:
    """``--at``: unix seconds or an ISO time (UTC unless it says otherwise)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"--at {text!r} is neither unix seconds nor an ISO time such as 2026-03-08T00:00"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.6g}"


@cli.group()
def monitors() -> None:
    """Monitors: checks of a model over the event log, per version and window, with alerts."""


@monitors.command()
@click.argument("name")
@click.option("--model", required=True, help="The registered model to watch.")
@click.option("--check", "check", required=True, help="e.g. 'psi(scores)', 'p99(latency_ms)'.")
@click.option("--window", default="1d", show_default=True, help="Window length: 30m, 1h, 1d, 1w.")
@click.option(
    "--reference",
    default=None,
    help="'previous' (default), 'previous 7d', '2026-01-01..2026-01-07' or 'champion first 2d'.",
)
@click.option("--alert-above", default=None, help="Alert when the value is above this number.")
@click.option("--alert-below", default=None, help="Alert when the value is below this number.")
@click.option(
    "--action", type=click.Choice(["none", "rollback"]), default="none", show_default=True
)
@click.option("--alias", default="champion", show_default=True, help="The alias a rollback moves.")
@click.option("--webhook", default=None, help="POST each alert as JSON to this URL.")
def create(
    name: str,
    model: str,
    check: str,
    window: str,
    reference: str | None,
    alert_above: str | None,
    alert_below: str | None,
    action: str,
    alias: str,
    webhook: str | None,
) -> None:
    """Declare monitor NAME."""
    from limelight.monitoring import Monitors

    spec = Monitors().create(
        name,
        model=model,
        check=check,
        window=window,
        reference=reference,
        alert_above=alert_above,
        alert_below=alert_below,
        action=action,
        alias=alias,
        webhook=webhook,
    )
    click.echo(f"created monitor {name}: {_describe(spec.to_json())}")


def _describe(spec: dict[str, object]) -> str:
    parts = [f"{spec['model']} {spec['check']} every {spec['window']:g} s"]
    parts.append(f"vs {spec['reference'] or 'previous'}")
    if spec["alert_above"] is not None:
        parts.append(f"alert above {spec['alert_above']:g}")
    if spec["alert_below"] is not None:
        parts.append(f"alert below {spec['alert_below']:g}")
    if spec["action"] == "rollback":
        parts.append(f"then roll {spec['model']}@{spec['alias']} back")
    return ", ".join(parts)


@monitors.command("list")
def list_monitors() -> None:
    """Every monitor with its check and thresholds."""
    from limelight.monitoring import Monitors

    rows = [[s.name, _describe(s.to_json())] for s in Monitors().all()]
    click.echo(format_table(["monitor", "rule"], rows) if rows else "no monitors")


@monitors.command()
@click.argument("name")
def show(name: str) -> None:
    """NAME's rule, its recorded values and its alerts."""
    from limelight.monitoring import Monitors

    m = Monitors()
    spec = m.get(name)
    click.echo(f"{name}: {_describe(spec.to_json())}")
    rows = [
        [
            _utc(v["window_start"]),
            _utc(v["window_end"]),
            v["version"],
            _number(v["value"]),
            v["status"],
        ]
        for v in m.values(name)
    ]
    click.echo(
        format_table(["from", "to", "version", "value", "status"], rows)
        if rows
        else "no values yet"
    )
    for a in m.alerts(name):
        click.echo(
            f"alert {_utc(a.at)}: version {a.version} {_number(a.value)} vs {a.threshold:g} "
            f"-> {a.outcome}" + (f" ({a.detail['rollback']})" if a.detail.get("rollback") else "")
        )


@monitors.command()
@click.argument("names", nargs=-1)
@click.option("--at", "at", default=None, help="End of the window (unix seconds or ISO); now.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document for scripts.")
def check(names: tuple[str, ...], at: str | None, as_json: bool) -> None:
    """Run the monitors (all, or NAMES) over their latest window; exit 1 if any alerted."""
    from limelight.monitoring import Monitors

    results = Monitors().check(
        list(names) or None, at=_at(at), progress=lambda line: click.echo(line, err=True)
    )
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], default=str))
    else:
        rows = [
            [
                r.monitor,
                r.version if r.version is not None else "-",
                _number(r.value),
                r.status,
                r.message,
            ]
            for r in results
        ]
        click.echo(
            format_table(["monitor", "version", "value", "status", "note"], rows)
            if rows
            else "no monitors"
        )
    if any(r.status == "alert" for r in results):
        raise SystemExit(1)


@monitors.command()
@click.argument("name")
def delete(name: str) -> None:
    """Forget monitor NAME (its values and alerts stay recorded)."""
    from limelight.monitoring import Monitors

    Monitors().delete(name)
    click.echo(f"deleted monitor {name}")
