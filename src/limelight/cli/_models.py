"""``limelight models ...``: the registry from the command line."""

from __future__ import annotations

import json

import click

from limelight.cli._main import cli
from limelight.cli._table import format_table, format_time
from limelight.core.errors import InvalidInputError
from limelight.registry import MetricGate, Registry, UsageGateStatus, parse_version


@cli.group()
def models() -> None:
    """Registered models, their versions, aliases and gates."""


@models.command("list")
def list_models() -> None:
    """Every model with its latest version and aliases."""
    registry = Registry()
    rows = []
    for name in registry.models():
        versions = registry.versions(name)
        aliases = registry.alias_versions(name)
        rows.append(
            [
                name,
                versions[-1].version if versions else "-",
                ", ".join(f"{a}={v}" for a, v in sorted(aliases.items())),
            ]
        )
    click.echo(
        format_table(["model", "latest", "aliases"], rows) if rows else "no models registered"
    )


@models.command()
@click.argument("name")
def show(name: str) -> None:
    """The versions of NAME with their metrics, aliases and lineage."""
    registry = Registry()
    rows = []
    for v in registry.versions(name):
        metrics = " ".join(f"{k}={val:.4g}" for k, val in sorted(v.metrics.items()))
        datasets = ", ".join(f"{d['name']}({d['usage']})" for d in v.lineage.get("datasets", []))
        rows.append(
            [
                v.version,
                ",".join(v.aliases),
                format_time(v.created_at),
                v.lineage.get("run", ""),
                metrics,
                datasets,
            ]
        )
    click.echo(format_table(["version", "aliases", "created", "run", "metrics", "datasets"], rows))
    gates = registry.gates(name)
    if gates:
        click.echo("gates: " + "; ".join(json.dumps(g.to_json()) for g in gates))
    click.echo(_usage_line(registry.usage_gate(name)))


def _usage_line(status: UsageGateStatus) -> str:
    if status.on:
        return "usage-rights gate on champion: on" + (
            f" (switched on by {status.who} at {format_time(status.at)})" if status.at else ""
        )
    return (
        f"usage-rights gate on champion: OFF, switched off by {status.who} at "
        f"{format_time(status.at)}: {status.why}"
    )


@models.command()
@click.argument("pathspec")
@click.option("--name", required=True, help="The model name to register under.")
@click.option("--metric", "metric_pairs", multiple=True, help="name=value (repeatable).")
def register(pathspec: str, name: str, metric_pairs: tuple[str, ...]) -> None:
    """Register artifact FLOW/RUN/STEP/TASK:artifact as the next version of --name."""
    metrics = {}
    for pair in metric_pairs:
        key, sep, value = pair.partition("=")
        try:
            metrics[key] = float(value)
        except ValueError:
            raise click.BadParameter(
                f"{pair!r} is not name=number", param_hint="--metric"
            ) from None
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not name=number", param_hint="--metric")
    version = Registry().register_artifact(pathspec, name, metrics=metrics)
    click.echo(f"registered {version.ref} from {pathspec}")


@models.command()
@click.argument("name")
@click.argument("version")
@click.argument("alias")
@click.option(
    "--why",
    required=True,
    help="Why the alias moves (kept in the audit log); champion needs one that is not blank "
    "for a version with no dataset in its lineage.",
)
def alias(name: str, version: str, alias: str, why: str) -> None:
    """Point NAME@ALIAS at VERSION, through the model's promotion gates."""
    event = Registry().set_alias(name, alias, parse_version(version), why=why)
    click.echo(f"{name}@{alias}: {event.from_version or '-'} -> {event.to_version}")
    for gate in event.gates:
        click.echo(f"  passed {gate['gate']}: {gate['reason']}")


@models.command()
@click.argument("ref")
@click.option("--why", required=True, help="Why it is deleted (kept with the deletion's event).")
@click.option("--yes", is_flag=True, help="Needed to delete a whole model (NAME).")
def delete(ref: str, why: str, yes: bool) -> None:
    """Delete version NAME/VERSION, or model NAME with all its versions.

    Refused while an alias points at it or a monitor watches the model. A deleted version's
    number is never given again.
    """
    registry = Registry()
    if "/" in ref:
        gone = registry.delete_version(ref, why=why)
        click.echo(f"deleted {gone.ref}")
        return
    if "@" in ref:
        raise InvalidInputError(f"delete a version by its number (recs/3) or a model, not {ref!r}")
    if not yes:
        count = len(registry.versions(ref))
        raise InvalidInputError(
            f"deleting model {ref} deletes its {count} version(s): add --yes to do it"
        )
    numbers = registry.delete_model(ref, why=why)
    click.echo(f"deleted model {ref} ({len(numbers)} version(s)); its alias history is kept")


@models.command()
@click.argument("name")
@click.argument("new_name")
def rename(name: str, new_name: str) -> None:
    """Give model NAME (its versions, gates and alias history) the name NEW_NAME.

    Refused while an alias or a monitor refers to NAME.
    """
    Registry().rename_model(name, new_name)
    click.echo(f"renamed {name} to {new_name}")


@models.command()
@click.argument("name")
def history(name: str) -> None:
    """Every alias move of NAME (and every refused one), oldest first."""
    events = Registry().history(name)
    rows = [
        [
            format_time(e.at),
            e.alias,
            e.from_version or "-",
            e.to_version or "-",
            e.outcome,
            e.who,
            e.why,
            "; ".join(f"{g['gate']}: {'ok' if g['passed'] else g['reason']}" for g in e.gates),
        ]
        for e in events
    ]
    click.echo(
        format_table(["when", "alias", "from", "to", "outcome", "who", "why", "gates"], rows)
        if rows
        else f"no alias moves for {name}"
    )


@models.command()
@click.argument("name")
@click.option("--metric", help="An offline metric the challenger must beat the holder on.")
@click.option("--margin", type=float, help="By more than this much (default 0).")
@click.option("--lower-is-better", is_flag=True, help="For metrics like loss or RMSE.")
@click.option(
    "--usage-gate/--no-usage-gate",
    "usage_gate",
    default=None,
    help="Switch the usage-rights gate on champion back on, or off (off needs --why). "
    "It is on for every model unless switched off.",
)
@click.option("--why", help="Why the usage-rights gate is switched (kept in the audit log).")
def gates(
    name: str,
    metric: str | None,
    margin: float | None,
    lower_is_better: bool,
    usage_gate: bool | None,
    why: str | None,
) -> None:
    """Declare the metric gate of NAME's champion, or switch its usage-rights gate.

    With no option, show the gates in force.
    """
    if metric is None and (margin is not None or lower_is_better):
        raise InvalidInputError("--margin and --lower-is-better go with --metric NAME")
    if why is not None and usage_gate is None:
        raise InvalidInputError("--why goes with --usage-gate or --no-usage-gate")
    registry = Registry()
    if metric is not None:
        if not metric.strip():
            raise InvalidInputError("--metric needs a metric name, e.g. --metric ndcg@10")
        gate = MetricGate(metric, margin=margin or 0.0, higher_is_better=not lower_is_better)
        registry.set_gates(name, [gate])
        click.echo(f"{name}: champion needs {metric} to beat the holder's by > {gate.margin:g}")
    if usage_gate is not None:
        registry.set_usage_gate(name, usage_gate, why=why or "")
    declared = registry.gates(name)
    if declared:
        click.echo("gates: " + "; ".join(json.dumps(g.to_json()) for g in declared))
    click.echo(_usage_line(registry.usage_gate(name)))
