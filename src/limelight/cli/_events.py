"""``limelight events import | compact | expire | stats``: the event log's tables."""

from __future__ import annotations

import json
from pathlib import Path

import click

from limelight.cli._main import cli
from limelight.cli._table import format_size, format_table
from limelight.core.errors import InvalidInputError
from limelight.store._store import Store
from limelight.store.events import SCHEMAS

KINDS = tuple(SCHEMAS)


def _progress(text: str) -> None:
    click.echo(text, err=True)


def _kinds(kind: str) -> tuple[str, ...]:
    if kind == "all":
        return KINDS
    if kind not in KINDS:
        raise InvalidInputError(f"unknown event kind {kind!r}; known: {', '.join(KINDS)}, all")
    return (kind,)


def _store() -> Store:
    from limelight.store import open_store

    return open_store()


@cli.group()
def events() -> None:
    """The event log: Iceberg tables of impressions, feedback and failed requests (import,
    maintain, inspect)."""


@events.command("import")
@click.option("--kind", required=True, help="impressions or feedback.")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def import_command(kind: str, files: tuple[Path, ...]) -> None:
    """Import Parquet or Arrow IPC FILES of the documented schema in one commit.

    A wrong schema (the column and its types are named), a truncated or unreadable file or a
    ts that is no time imports nothing. Idempotent: a file whose content was imported before
    (same SHA-256) is skipped, so running a backfill again adds nothing.
    """
    from limelight.store.event_maintenance import import_events

    (kind,) = _kinds(kind)
    result = import_events(_store(), kind, list(files), _progress)
    click.echo(
        f"imported {result['rows']} {kind} rows from {len(result['imported'])} file(s)"
        + (f"; skipped {len(result['skipped'])} imported before" if result["skipped"] else "")
        + (f" (snapshot {result['snapshot']})" if result["snapshot"] else "")
    )


@events.command()
@click.option(
    "--kind", default="all", show_default=True, help="impressions, feedback, failures or all."
)
@click.option("--day", help="The day to compact (YYYY-MM-DD); default: every day with small files.")
@click.option(
    "--target-size",
    default="256MB",
    show_default=True,
    help="Size of the files to write (KB, MB, GB).",
)
def compact(kind: str, day: str | None, target_size: str) -> None:
    """Rewrite a day's small data files into large ones, in one commit per day.

    Serving goes on writing and analyses go on reading; a reader of an older snapshot still
    reads it. Killed halfway, the table is unchanged; run it again.
    """
    from limelight.store.event_maintenance import compact as run
    from limelight.store.event_maintenance import parse_size

    size = parse_size(target_size)
    for k in _kinds(kind):
        for r in run(_store(), k, day=day, target_size=size, progress=_progress):
            click.echo(
                f"{k} {r['day']}: {r['rewritten']} files -> {r['written']} ({r['rows']} rows)"
            )


@events.command()
@click.option(
    "--kind", default="all", show_default=True, help="impressions, feedback, failures or all."
)
@click.option("--older-than", required=True, help="Age of the days to drop: 90d, 12h, 2w.")
@click.option(
    "--keep-snapshots",
    default="7d",
    show_default=True,
    help="Snapshots younger than this stay readable with --as-of; older ones are expired.",
)
def expire(kind: str, older_than: str, keep_snapshots: str) -> None:
    """Drop the days older than --older-than, expire the snapshots older than --keep-snapshots
    and delete the data files no snapshot references any more.

    Every commit is a snapshot (serving commits every few seconds), so run this daily: it keeps
    the tables' metadata small.
    """
    from limelight.store.event_maintenance import expire as run
    from limelight.store.event_maintenance import parse_age

    seconds, keep = parse_age(older_than), parse_age(keep_snapshots)
    for k in _kinds(kind):
        r = run(_store(), k, older_than=seconds, keep_snapshots=keep, progress=_progress)
        click.echo(
            f"{k}: dropped {r['dropped_rows']} rows in {r['dropped_files']} files before "
            f"{r['before']}; expired {r['expired_snapshots']} snapshots; deleted "
            f"{r['deleted_files']} unreferenced files"
        )


@events.command()
@click.option(
    "--kind", default="all", show_default=True, help="impressions, feedback, failures or all."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
def stats(kind: str, as_json: bool) -> None:
    """Files, rows and bytes per day of the event log's tables."""
    from limelight.store.event_maintenance import stats as run

    rows = [r for k in _kinds(kind) for r in run(_store(), k)]
    if as_json:
        click.echo(json.dumps(rows))
        return
    table = [[r["kind"], r["day"], r["files"], r["rows"], format_size(r["bytes"])] for r in rows]
    click.echo(format_table(["kind", "day", "files", "rows", "size"], table))
