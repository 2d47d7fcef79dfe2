"""``limelight import mlflow --from sqlite:///mlflow.db``: bring an MLflow store's history in."""

from __future__ import annotations

import click

from limelight.cli._main import cli


@cli.group("import")
def import_() -> None:
    """Copy another tool's tracking store into Limelight."""


@import_.command("mlflow")
@click.option(
    "--from",
    "where",
    required=True,
    help="An MLflow database URL (sqlite:///mlflow.db, postgresql://...) or a mlruns folder.",
)
def mlflow(where: str) -> None:
    """Copy MLflow's experiments, runs (metrics, params, tags), models, versions and aliases."""
    from limelight.store import open_store
    from limelight.ui._mlflow._import import import_mlflow

    report = import_mlflow(open_store(), where, progress=lambda line: click.echo(line, err=True))
    click.echo(
        f"imported {report.experiments} experiments, {report.runs} runs "
        f"({report.metrics} metric values, {report.params} params, {report.tags} tags), "
        f"{report.models} models, {report.versions} versions, {report.aliases} aliases"
        + (f"; {report.skipped_runs} runs were already imported" if report.skipped_runs else "")
    )
    if report.without_files:
        click.echo(
            "versions whose model files are not on this machine (registered without files): "
            + ", ".join(report.without_files),
            err=True,
        )
