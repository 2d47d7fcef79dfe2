"""``limelight datasets list | download``: the public datasets the loaders know."""

from __future__ import annotations

import sys

import click

from limelight.cli._main import cli
from limelight.cli._table import format_size, format_table
from limelight.recsys import DATASETS, default_cache_dir, download_dataset


@cli.group()
def datasets() -> None:
    """Public datasets: where they come from, their licence, and a verified download."""


@datasets.command("list")
def list_datasets() -> None:
    """The datasets Limelight can load, with their usage rights."""
    rows = [
        [name, spec.usage, spec.license, spec.url or "-"] for name, spec in sorted(DATASETS.items())
    ]
    click.echo(format_table(["dataset", "usage", "licence", "source"], rows))


@datasets.command()
@click.argument("name", type=click.Choice(sorted(DATASETS)))
@click.option(
    "--cache-dir", type=click.Path(file_okay=False), help=f"Default: {default_cache_dir()}"
)
@click.option("--force", is_flag=True, help="Download again even when cached.")
def download(name: str, cache_dir: str | None, force: bool) -> None:
    """Download NAME's official archive, check its checksum and unpack it into the cache."""
    received = [0]

    def progress(count: int) -> None:
        received[0] += count
        if sys.stderr.isatty():
            click.echo(f"\r{format_size(count)} received", nl=False, err=True)

    folder = download_dataset(name, cache_dir=cache_dir, force=force, progress=progress)
    if sys.stderr.isatty():
        click.echo("", err=True)
    click.echo(f"{name}: {folder} (checksum verified)")
    click.echo(f"licence: {DATASETS[name].license}; usage: {DATASETS[name].usage}")
