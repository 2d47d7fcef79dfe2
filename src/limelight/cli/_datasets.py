"""``limelight datasets list | where | fetch``: the public datasets Limelight knows."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from limelight.cli._main import cli
from limelight.cli._table import format_size, format_table
from limelight.core.data import (
    BASE_URL_ENV,
    SOURCES,
    default_cache_dir,
    fetch_data,
    find_data,
    holds_data,
)


@cli.group()
def datasets() -> None:
    """Public datasets: where they are found, their licence, and a verified download."""


@datasets.command("list")
def list_datasets() -> None:
    """The datasets Limelight can find and fetch, with their usage rights."""
    rows = [[name, s.usage, s.licence, s.url or "-"] for name, s in sorted(SOURCES.items())]
    click.echo(format_table(["dataset", "usage", "licence", "source"], rows))


@datasets.command()
@click.argument("name", type=click.Choice(sorted(SOURCES)))
def where(name: str) -> None:
    """The folder NAME is read from, or every place it was looked for."""
    click.echo(find_data(name))


@datasets.command()
@click.argument("name", type=click.Choice(sorted(SOURCES)))
@click.option(
    "--accept-licence", is_flag=True, help="Accept the dataset's terms (required for MovieLens)."
)
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Data folder to unpack into. Default: {default_cache_dir()}",
)
@click.option(
    "--base-url",
    envvar=BASE_URL_ENV,
    help=f"A mirror's folder URL to use instead of the official one (or ${BASE_URL_ENV}).",
)
@click.option("--force", is_flag=True, help="Download again even when already there.")
def fetch(
    name: str, accept_licence: bool, into: Path | None, base_url: str | None, force: bool
) -> None:
    """Download NAME from its official source, verify its pinned SHA-256 and unpack it.

    The licence is printed first; MovieLens is only fetched with --accept-licence.
    """
    spec = SOURCES[name]
    click.echo(f"{name}: licence {spec.licence}; usage {spec.usage}")
    click.echo(spec.terms)
    if spec.needs_acceptance and not accept_licence:
        raise click.UsageError(
            f"{name} may only be downloaded by someone who accepts the terms above; "
            f"rerun with --accept-licence to accept them. Nothing was downloaded."
        )
    cache = into if into is not None else default_cache_dir()
    if holds_data(spec, cache / spec.folder) and not force:
        click.echo(f"{name} is already at {cache / spec.folder}; nothing downloaded (--force "
                   "downloads it again)")  # fmt: skip
        return
    tty = sys.stderr.isatty()

    def progress(received: int, total: int | None) -> None:
        if tty:
            share = f" of {format_size(total)} ({received / total:.0%})" if total else ""
            click.echo(f"\r{format_size(received)}{share}", nl=False, err=True)

    click.echo(f"downloading {name} ...", err=True)
    folder = fetch_data(
        spec, cache_dir=cache, base_url=base_url, accept_licence=accept_licence, force=force,
        progress=progress,
    )  # fmt: skip
    if tty:
        click.echo("", err=True)
    click.echo(f"{name}: {folder} (SHA-256 verified)")
    if into is not None and into.resolve() != default_cache_dir().resolve():
        click.echo(f"set LIMELIGHT_DATA={into} for Limelight to look there")
