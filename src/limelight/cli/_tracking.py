"""``limelight runs`` and ``limelight metrics``: what runs recorded, as tables and plots."""

from __future__ import annotations

import json
from pathlib import Path

import click

from limelight.cli._main import cli
from limelight.cli._table import format_duration, format_table, format_time
from limelight.core.errors import InvalidInputError
from limelight.tracking import metric_history, search_runs


def _short(value: object, width: int = 40) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 1] + "…"


@cli.command()
@click.argument("flow_arg", metavar="[FLOW]", required=False)
@click.option("--flow", "flow_opt", help="Only runs of this flow (or notebook experiment).")
@click.option(
    "--where", default="", help='A filter, e.g. "metrics.ndcg > 0.4 and params.l2 = 500".'
)
@click.option("--sort", "sort", multiple=True, help='e.g. "metrics.ndcg desc" (repeatable).')
@click.option("--limit", default=50, show_default=True, help="At most this many runs.")
def runs(
    flow_arg: str | None, flow_opt: str | None, where: str, sort: tuple[str, ...], limit: int
) -> None:
    """List runs, newest first, with their params and latest metrics."""
    found = search_runs(flow=flow_opt or flow_arg, where=where, order_by=list(sort), limit=limit)
    if not found:
        click.echo("no runs match")
        return
    rows = []
    for r in found:
        duration = None if r.finished_at is None else r.finished_at - r.created_at
        params = " ".join(f"{k}={_short(v, 20)}" for k, v in sorted(r.params.items()))
        metrics = " ".join(f"{k}={v:.4g}" for k, v in sorted(r.metrics.items()))
        rows.append(
            [
                r.pathspec,
                r.status,
                format_time(r.created_at),
                format_duration(duration),
                _short(params),
                _short(metrics),
                ",".join(sorted(r.tags)),
            ]
        )
    click.echo(
        format_table(["run", "status", "started", "took", "params", "metrics", "tags"], rows)
    )


@cli.command()
@click.argument("run")
@click.option("--name", help="Only this metric.")
@click.option(
    "--plot",
    "plot",
    type=click.Path(dir_okay=False),
    help="Also draw the metrics to a .png or .svg file.",
)
def metrics(run: str, name: str | None, plot: str | None) -> None:
    """Show the metric histories of RUN (FLOW/ID or ID)."""
    histories = metric_history(run, name)
    if plot is not None and Path(plot).suffix.lower() not in (".png", ".svg"):
        raise InvalidInputError(f"--plot {plot}: the file must end in .png or .svg")
    rows = []
    for key, history in histories.items():
        for step, value in zip(history.steps, history.values, strict=True):
            rows.append([key, int(step), f"{value:.6g}"])
    click.echo(format_table(["metric", "step", "value"], rows) if rows else "no metrics recorded")
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(
            len(histories) or 1, 1, figsize=(7, 2.4 * max(1, len(histories))), squeeze=False
        )
        for axis, (key, history) in zip(axes[:, 0], histories.items(), strict=False):
            axis.plot(
                history.steps, history.values, marker="." if len(history.steps) < 50 else None
            )
            axis.set_title(key)
            axis.set_xlabel("step")
            axis.grid(alpha=0.3)
        figure.suptitle(f"metrics of run {run}")
        figure.tight_layout()
        figure.savefig(plot)
        plt.close(figure)
        click.echo(f"plot written to {plot}")
