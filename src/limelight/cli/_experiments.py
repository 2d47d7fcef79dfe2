"""``limelight experiments create|list|show|start|stop|analyze``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from limelight.cli._main import cli
from limelight.cli._table import format_table, format_time
from limelight.core.errors import InvalidInputError
from limelight.experiments import METRICS, ExperimentSpec, ExperimentStatus, Variant
from limelight.experiments._log_queries import (
    analyze_event_log,
    exposure_log_from_events,
    parse_as_of,
)
from limelight.experiments.analysis import analyze_log, daily_series
from limelight.experiments.report import analysis_dict, write_series_svg
from limelight.experiments.store import (
    create_experiment,
    get_experiment,
    list_experiments,
    set_experiment_status,
)
from limelight.registry import Registry, parse_model_ref
from limelight.store import open_store


def model_reference_checker(registry: Registry) -> Any:
    """A check for variant values: a value that looks like a model reference must resolve."""

    def check(value: Any) -> None:
        if isinstance(value, str) and ("@" in value or "/" in value):
            parse_model_ref(value)
            registry.get(value)  # NotFoundError names what is missing

    return check


def _variant(text: str) -> Variant:
    name, sep, rest = text.partition("=")
    value, _, share = rest.rpartition(":")
    if not sep or not name or not value:
        raise InvalidInputError(
            f"--variant {text!r}: write NAME=VALUE:SHARE, e.g. control=recs@champion:0.5"
        )
    try:
        return Variant(name, float(share), value)
    except ValueError as exc:
        raise InvalidInputError(f"--variant {text!r}: {exc}") from exc


@cli.group()
def experiments() -> None:
    """A/B tests: define them, start and stop them, analyse them from the event log."""


@experiments.command()
@click.argument("name")
@click.option(
    "--variant",
    "variants",
    multiple=True,
    required=True,
    help="NAME=VALUE:SHARE, e.g. control=recs@champion:0.5 (repeat; the first is control).",
)
@click.option("--salt", help="Hashing salt (default: the experiment's name).")
@click.option("--layer", help="A layer of mutually exclusive experiments.")
@click.option("--layer-slice", nargs=2, type=float, default=(0.0, 1.0), show_default=True)
@click.option(
    "--metric",
    "primary",
    default="plays_per_user",
    show_default=True,
    type=click.Choice(sorted(METRICS)),
    help="The primary metric.",
)
@click.option("--secondary", multiple=True, type=click.Choice(sorted(METRICS)))
@click.option("--start", "start_now", is_flag=True, help="Start it right away.")
@click.option(
    "--allow-overlap",
    is_flag=True,
    help="Start it even if a running experiment outside its layer steers the same model.",
)
def create(
    name: str,
    variants: tuple[str, ...],
    salt: str | None,
    layer: str | None,
    layer_slice: tuple[float, float],
    primary: str,
    secondary: tuple[str, ...],
    start_now: bool,
    allow_overlap: bool,
) -> None:
    """Define experiment NAME."""
    if allow_overlap and not start_now:
        raise InvalidInputError("--allow-overlap goes with --start (or give it to 'start')")
    spec = ExperimentSpec(
        name=name,
        salt=salt or name,
        variants=tuple(_variant(v) for v in variants),
        layer=layer,
        layer_slice=layer_slice,
        primary_metric=primary,
        secondary_metrics=secondary,
        start=time.time() if start_now else None,
        status=ExperimentStatus.RUNNING if start_now else ExperimentStatus.DRAFT,
    )
    store = open_store()
    create_experiment(  # one transaction: a refused start stores nothing
        store.metadata,
        spec,
        check_value=model_reference_checker(Registry(store=store)),
        allow_overlap=allow_overlap,
    )
    click.echo(f"created experiment {name!r}" + (" and started it" if start_now else " (draft)"))


@experiments.command("list")
@click.option("--status", type=click.Choice([s.value for s in ExperimentStatus]))
def list_command(status: str | None) -> None:
    """Every experiment with its status and variants."""
    rows = [
        [
            s.name,
            s.status.value,
            s.layer or "",
            format_time(s.start),
            format_time(s.stop),
            ", ".join(f"{v.name}={v.value}:{v.share:g}" for v in s.variants),
        ]
        for s in list_experiments(open_store().metadata, status)
    ]
    click.echo(
        format_table(["experiment", "status", "layer", "start", "stop", "variants"], rows)
        if rows
        else "no experiments"
    )


@experiments.command()
@click.argument("name")
def show(name: str) -> None:
    """The definition of experiment NAME."""
    click.echo(json.dumps(get_experiment(open_store().metadata, name).to_dict(), indent=2))


@experiments.command()
@click.argument("name")
@click.option(
    "--allow-overlap",
    is_flag=True,
    help="Start even if a running experiment outside NAME's layer steers the same model.",
)
def start(name: str, allow_overlap: bool) -> None:
    """Start assigning users to NAME's variants."""
    spec = set_experiment_status(
        open_store().metadata, name, "running", allow_overlap=allow_overlap
    )
    click.echo(f"experiment {name!r} running since {format_time(spec.start)}")


@experiments.command()
@click.argument("name")
def stop(name: str) -> None:
    """Stop experiment NAME (for good)."""
    spec = set_experiment_status(open_store().metadata, name, "stopped")
    click.echo(f"experiment {name!r} stopped at {format_time(spec.stop)}")


@experiments.command()
@click.argument("name")
@click.option("--alpha", default=0.05, show_default=True, help="Error rate of the intervals.")
@click.option("--no-cuped", is_flag=True, help="Do not adjust for the pre-period.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    help="Write the daily sequential interval to an .svg file.",
)
@click.option(
    "--as-of",
    "as_of",
    metavar="KIND=SNAPSHOT[,KIND=SNAPSHOT]",
    help="Read the event log's tables at these snapshots (the ids an earlier analysis printed), "
    "e.g. impressions=123,feedback=456; a kind left out is read at its latest.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as JSON.")
def analyze(
    name: str, alpha: float, no_cuped: bool, plot: str | None, as_of: str | None, as_json: bool
) -> None:
    """Analyse experiment NAME from the event log: SRM check, estimates, intervals.

    The aggregation runs in DuckDB over the event log's files (only the experiment's days and
    the columns it needs), so the log may be much larger than memory.
    """
    if not 0 < alpha < 1:
        raise InvalidInputError(f"--alpha must be between 0 and 1, not {alpha}")
    if plot is not None and Path(plot).suffix.lower() != ".svg":
        raise InvalidInputError(f"--plot {plot}: the file must end in .svg")
    snapshots = parse_as_of(as_of)
    store = open_store()
    spec = get_experiment(store.metadata, name)
    events, cuped = store.config.events, not no_cuped
    series = None
    if plot is None:  # per-variant moments in DuckDB: nothing per user enters Python
        result = analyze_event_log(events, spec, alpha=alpha, use_cuped=cuped, as_of=snapshots)
    else:  # the daily series needs the per-user sums of each day
        log = exposure_log_from_events(events, spec, as_of=snapshots)
        result = analyze_log(log, alpha=alpha, use_cuped=cuped)
        series = daily_series(log, alpha=alpha, use_cuped=cuped)
    if as_json:
        click.echo(json.dumps(analysis_dict(result), indent=2))
    else:
        click.echo(result.table())
    if plot is not None and series is not None:
        write_series_svg(series, plot)
        if not as_json:
            click.echo(f"daily interval plot written to {plot}")
