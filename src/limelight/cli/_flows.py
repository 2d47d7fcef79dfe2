"""``limelight run | resume | show | inspect | logs``: flows from the command line."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from limelight.cli._main import cli
from limelight.cli._table import format_duration, format_size, format_table, format_time
from limelight.core.errors import InvalidInputError
from limelight.flows import Flow, FlowFailed, Run
from limelight.flows._loading import load_flow_class
from limelight.flows.client import parse_pathspec

_EXTRA = {"ignore_unknown_options": True, "allow_extra_args": True}
_CLUSTER_HELP = (
    "The cluster of --executor dask|ray: tcp://host:8786, ray://host:10001 or auto "
    "(default: LIMELIGHT_CLUSTER_ADDRESS; dask without one starts a cluster on 127.0.0.1)."
)


def _use_cluster(address: str | None) -> None:
    """Hand ``--cluster-address`` to the distributed executor, which reads it from the env."""
    if address is not None:
        os.environ["LIMELIGHT_CLUSTER_ADDRESS"] = address


def _option_names(command: click.Command) -> set[str]:
    """The long options of ``command`` as parameter names (``--max-workers``: max_workers)."""
    return {"help"} | {
        opt[2:].replace("-", "_")
        for param in command.params
        for opt in param.opts
        if opt.startswith("--")
    }


def parse_param_args(
    flow_class: type[Flow], args: list[str], *, reserved: set[str] | frozenset[str] = frozenset()
) -> dict[str, Any]:
    """``--name value`` / ``--name=value`` pairs, read as the flow's parameters declare.

    A parameter whose name is in ``reserved`` (the command's own options) is an error: the
    option would take its value.
    """
    declared = flow_class.params()
    clashes = sorted(set(declared) & reserved)
    if clashes:
        raise InvalidInputError(
            f"{flow_class.__name__}: parameter {clashes[0]!r} has the name of an option of "
            f"limelight run (--{clashes[0].replace('_', '-')}); rename the parameter"
        )
    values: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise InvalidInputError(
                f"unexpected argument {arg!r}; parameters are given as --name value"
            )
        name, has_value, text = arg[2:].partition("=")
        if not has_value:
            if i + 1 >= len(args):
                raise InvalidInputError(f"--{name} needs a value")
            text = args[i + 1]
            i += 1
        i += 1
        key = name.replace("-", "_")
        if key not in declared:
            known = ", ".join(f"--{n}" for n in sorted(declared)) or "none"
            raise InvalidInputError(
                f"{flow_class.__name__} has no parameter --{name}; its parameters: {known}"
            )
        values[key] = declared[key].parse(text)
    return values


def _finish(run_call: Any) -> None:
    try:
        run = run_call()
    except FlowFailed as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo(
            "interrupted: the run is marked interrupted; resume it with limelight resume", err=True
        )
        sys.exit(130)
    click.echo(f"run {run.pathspec} succeeded in {format_duration(run.duration)}")


@cli.command(context_settings=_EXTRA)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--flow", "flow_name", help="The flow class, when the file defines several.")
@click.option("--max-workers", type=int, help="Tasks run at once (default: the CPU count).")
@click.option("--tag", "tags", multiple=True, help="A tag for the run (repeatable).")
@click.option(
    "--executor", type=click.Choice(["local", "inline", "dask", "ray"]), help="Where tasks run."
)
@click.option("--cluster-address", help=_CLUSTER_HELP)
@click.option("--inline", is_flag=True, help="Run every task in this process (for a debugger).")
@click.option("--quiet", is_flag=True, help="No progress display.")
@click.pass_context
def run(
    ctx: click.Context,
    file: str,
    flow_name: str | None,
    max_workers: int | None,
    tags: tuple[str, ...],
    executor: str | None,
    cluster_address: str | None,
    inline: bool,
    quiet: bool,
) -> None:
    """Run the flow in FILE; its parameters follow as --name value (JSON)."""
    _use_cluster(cluster_address)
    flow_class = load_flow_class(file, flow_name)
    values = parse_param_args(flow_class, list(ctx.args), reserved=_option_names(ctx.command))
    _finish(
        lambda: flow_class.run(
            max_workers=max_workers,
            tags=tags,
            executor="inline" if inline else executor,
            progress=not quiet,
            **values,
        )
    )


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--origin", help="The run to resume (default: the latest run of the flow).")
@click.option("--flow", "flow_name", help="The flow class, when the file defines several.")
@click.option("--max-workers", type=int, help="Tasks run at once (default: the CPU count).")
@click.option(
    "--executor", type=click.Choice(["local", "inline", "dask", "ray"]), help="Where tasks run."
)
@click.option("--cluster-address", help=_CLUSTER_HELP)
@click.option("--inline", is_flag=True, help="Run every task in this process.")
@click.option("--quiet", is_flag=True, help="No progress display.")
def resume(
    file: str,
    origin: str | None,
    flow_name: str | None,
    max_workers: int | None,
    executor: str | None,
    cluster_address: str | None,
    inline: bool,
    quiet: bool,
) -> None:
    """Run FILE's flow again from the first failed or changed step of a run."""
    _use_cluster(cluster_address)
    flow_class = load_flow_class(file, flow_name)
    _finish(
        lambda: flow_class.resume(
            origin,
            max_workers=max_workers,
            executor="inline" if inline else executor,
            progress=not quiet,
        )
    )


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--flow", "flow_name", help="The flow class, when the file defines several.")
def show(file: str, flow_name: str | None) -> None:
    """Show the graph of the flow in FILE, and its parameters."""
    flow_class = load_flow_class(file, flow_name)
    click.echo(flow_class.graph().describe())
    declared = flow_class.params()
    if declared:
        click.echo("parameters:")
        for name, param in declared.items():
            default = "(required)" if param.required else json.dumps(param.default)
            click.echo(f"  --{name} {default}  {param.help}".rstrip())


def _preview(task: Any, name: str, ref: Any) -> str:
    if ref.serializer == "json" and ref.size <= 200:
        return json.dumps(task.data[name])
    if ref.serializer == "npy":
        return f"array {ref.meta.get('dtype')} {tuple(ref.meta.get('shape', ()))}"
    return ref.meta.get("type", "") if ref.serializer == "pickle" else ""


@cli.command()
@click.argument("pathspec")
def inspect(pathspec: str) -> None:
    """Show a run (FLOW/RUN), a step (FLOW/RUN/STEP) or a task (FLOW/RUN/STEP/TASK)."""
    pieces = parse_pathspec(pathspec, 4)
    the_run = Run("/".join(pieces[:2]))
    if len(pieces) == 2:
        click.echo(
            f"run {the_run.pathspec}: {the_run.status}, started {format_time(the_run.created_at)}, "
            f"took {format_duration(the_run.duration)}"
        )
        if the_run.origin_run_id:
            click.echo(f"resumed from {the_run.flow_name}/{the_run.origin_run_id}")
        if the_run.params:
            click.echo(
                "params: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in the_run.params.items())
            )
        if the_run.tags:
            click.echo("tags: " + ", ".join(sorted(the_run.tags)))
        rows = []
        for s in sorted(the_run.steps(), key=lambda s: s.started_at or float("inf")):
            statuses = [t.status for t in s.tasks]
            rows.append(
                [
                    s.name,
                    s.status,
                    len(statuses),
                    statuses.count("failed"),
                    sum(t.reused for t in s.tasks),
                    format_duration(
                        (s.finished_at - s.started_at) if s.finished_at and s.started_at else None
                    ),
                ]
            )
        click.echo(format_table(["step", "status", "tasks", "failed", "reused", "time"], rows))
        if the_run.error and the_run.status != "succeeded":
            click.echo("error:\n" + the_run.error)
        return
    step = the_run[pieces[2]]
    if len(pieces) == 3:
        click.echo(
            format_table(
                ["task", "path", "status", "attempts", "time"],
                [
                    [
                        t.id,
                        t.path or "-",
                        t.status + (" (reused)" if t.reused else ""),
                        t.attempts,
                        format_duration(t.duration),
                    ]
                    for t in step.tasks
                ],
            )
        )
        return
    task = next((t for t in step.tasks if str(t.id) == pieces[3]), None)
    if task is None:
        raise InvalidInputError(f"step {the_run.pathspec}/{step.name} has no task {pieces[3]}")
    click.echo(
        f"task {task.pathspec}: {task.status}, {task.attempts} attempt(s), "
        f"{format_duration(task.duration)}"
    )
    click.echo(
        format_table(
            ["artifact", "serializer", "size", "preview"],
            [
                [name, ref.serializer, format_size(ref.size), _preview(task, name, ref)]
                for name, ref in sorted(task.artifacts.items())
            ],
        )
    )
    if task.error:
        click.echo("error:\n" + task.error)


@cli.command()
@click.argument("pathspec")
@click.option("--stdout", "which", flag_value="stdout", help="Only standard output.")
@click.option("--stderr", "which", flag_value="stderr", help="Only standard error.")
def logs(pathspec: str, which: str | None) -> None:
    """Print what a task (FLOW/RUN/STEP/TASK) wrote to stdout and stderr."""
    pieces = parse_pathspec(pathspec, 4)
    if len(pieces) != 4:
        raise InvalidInputError(f"{pathspec!r}: logs belong to a task, FLOW/RUN/STEP/TASK")
    step = Run("/".join(pieces[:2]))[pieces[2]]
    task = next((t for t in step.tasks if str(t.id) == pieces[3]), None)
    if task is None:
        raise InvalidInputError(f"step {pieces[0]}/{pieces[1]}/{pieces[2]} has no task {pieces[3]}")
    if which in (None, "stdout"):
        click.echo(task.stdout, nl=False)
    if which in (None, "stderr"):
        click.echo(task.stderr, nl=False, err=True)
