"""Starting a run (or a resume) of a flow class: check, record, schedule, report."""

from __future__ import annotations

import inspect
import json
import os
import socket
import textwrap
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from limelight.core.config import Config, resolve_config
from limelight.core.errors import ConfigError, InvalidInputError, LimelightError, NotFoundError
from limelight.core.hashing import hash_bytes
from limelight.core.processes import pid_alive, sigint_held
from limelight.flows._decorators import options_of
from limelight.flows._executors import Executor, InlineExecutor, LocalExecutor
from limelight.flows._graph import FlowGraph
from limelight.flows._progress import Progress
from limelight.flows._records import STALE_AFTER, create_run, finish_run
from limelight.flows._scheduler import Origin, Scheduler
from limelight.flows.client import Run
from limelight.store import Store, open_store
from limelight.store.schema import params as params_table
from limelight.store.schema import runs

if TYPE_CHECKING:  # Flow's module starts runs through this one, never the other way round
    from limelight.flows._flow import Flow

__all__ = ["FlowFailed", "launch"]


class FlowFailed(LimelightError):
    """A run ended with failed tasks; ``.run`` is the run, ``.failures`` (pathspec, error)."""

    def __init__(self, run: Run, failures: list[tuple[str, str]]) -> None:
        self.run, self.failures = run, failures
        lines = [f"run {run.pathspec} failed:"]
        for pathspec, error in failures:
            last = error.strip().splitlines()[-1] if error.strip() else "failed"
            lines.append(f"  {pathspec}: {last}")
        lines.append(f"see: limelight logs {failures[0][0]}" if failures else "")
        lines.append(f"resume: limelight resume {run._row.code_path} --origin {run.id}")
        super().__init__("\n".join(line for line in lines if line))


def _checked_params(flow_class: type[Flow], given: dict[str, Any]) -> dict[str, Any]:
    declared = flow_class.params()
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise InvalidInputError(
            f"{flow_class.__name__} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters: {known}"
        )
    values = {}
    for name, param in declared.items():
        if name in given:
            values[name] = param.check(given[name])
        elif param.required:
            raise InvalidInputError(
                f"{flow_class.__name__} needs a value for parameter {name!r}"
                + (f" ({param.help})" if param.help else "")
                + f": give it as {name}=... in Python or --{name} VALUE on the command line"
            )
        else:
            values[name] = param.default
        try:
            json.dumps(values[name])
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"parameter {name!r} must be a JSON value: {exc}") from exc
    return values


def _code_hashes(flow_class: type[Flow], graph: FlowGraph) -> tuple[str, dict[str, str]]:
    try:
        file_hash = hash_bytes(Path(graph.file).read_bytes())
    except OSError:
        file_hash = hash_bytes(inspect.getsource(flow_class).encode())
    step_hashes = {
        name: hash_bytes(textwrap.dedent(inspect.getsource(getattr(flow_class, name))).encode())
        for name in graph.nodes
    }
    return file_hash, step_hashes

    return True


def _resolve_origin(store: Store, flow_name: str, origin: int | str) -> tuple[int, dict[str, Any]]:
    with store.metadata.connect() as conn:
        query = sa.select(runs).where(runs.c.flow == flow_name)
        if origin == "latest":
            row = conn.execute(query.order_by(runs.c.id.desc()).limit(1)).first()
            if row is None:
                raise NotFoundError(f"{flow_name} has no run to resume")
        else:
            text = str(origin).rpartition("/")[2]
            if not text.isdigit():
                raise InvalidInputError(f"--origin must be a run id, not {origin!r}")
            row = conn.execute(query.where(runs.c.id == int(text))).first()
            if row is None:
                raise NotFoundError(f"there is no run {flow_name}/{text} to resume")
        values = dict(
            conn.execute(
                sa.select(params_table.c.name, params_table.c.value).where(
                    params_table.c.run_id == row.id
                )
            ).all()
        )
    if row.status == "running":
        fresh = row.heartbeat_at is not None and time.time() - row.heartbeat_at < STALE_AFTER
        if fresh and pid_alive(row.pid):
            raise InvalidInputError(f"run {flow_name}/{row.id} is still running (pid {row.pid})")
        finish_run(
            store.metadata,
            row.id,
            "failed",
            "the scheduler stopped before the run finished (crashed or killed)",
        )
    return int(row.id), values


def _executor(
    name: str, flow_class: type[Flow], graph: FlowGraph, config: Config, max_workers: int | None
) -> Executor:
    if max_workers is not None and (
        isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
    ):
        raise InvalidInputError(f"max_workers must be a positive int, not {max_workers!r}")
    if name == "local":
        return LocalExecutor(flow_class, graph, config, max_workers or os.cpu_count() or 1)
    if name == "inline":
        return InlineExecutor(flow_class, graph, config)
    if name in ("dask", "ray"):
        from limelight.flows._distributed import DaskExecutor, RayExecutor

        engine = DaskExecutor if name == "dask" else RayExecutor
        return engine(flow_class, graph, config, max_workers)
    raise ConfigError(f"unknown executor {name!r}; use local, inline, dask or ray")


def launch(
    flow_class: type[Flow],
    *,
    params: dict[str, Any] | None,
    max_workers: int | None,
    tags: Sequence[str],
    executor: str | None,
    config: Config | None,
    progress: bool,
    resume_origin: int | str | None = None,
    on_created: Callable[[sa.Connection, int], None] | None = None,
) -> Run:
    """Check, record and run ``flow_class``; ``on_created`` joins the run's first transaction."""
    graph = flow_class.graph()
    config = config or resolve_config()
    if executor is not None:
        config = config.with_(executor=executor)
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag) > 400:
            raise InvalidInputError(
                f"a tag is a non-empty string of at most 400 characters, not {tag!r}"
            )
    store = open_store(config)
    origin: Origin | None = None
    if resume_origin is not None:
        origin_id, param_values = _resolve_origin(store, graph.flow_name, resume_origin)
        origin = Origin.load(store, origin_id)
    else:
        param_values = _checked_params(flow_class, params or {})
    code_hash, step_hashes = _code_hashes(flow_class, graph)
    options = {name: options_of(getattr(flow_class, name)) for name in graph.nodes}
    the_executor = _executor(config.executor, flow_class, graph, config, max_workers)
    run_id = create_run(
        store.metadata,
        graph,
        param_values=param_values,
        run_tags=tags,
        code_hash=code_hash,
        step_hashes=step_hashes,
        decorators={n: o.to_json() for n, o in options.items()},
        executor=config.executor,
        origin_run_id=origin.run_id if origin else None,
        on_created=on_created,
    )
    log_dir = None
    if config.executor == "local":
        log_path = config.home / "logs" / f"{socket.gethostname()}-{run_id}"
        log_path.mkdir(parents=True, exist_ok=True)
        log_dir = str(log_path)
    display = Progress(f"{graph.flow_name}/{run_id}", enabled=progress)
    if origin is not None:
        display.message(f"resuming {graph.flow_name}/{origin.run_id} as {graph.flow_name}/{run_id}")
    scheduler = Scheduler(
        graph=graph,
        store=store,
        run_id=run_id,
        params=param_values,
        options=options,
        step_hashes=step_hashes,
        executor=the_executor,
        progress=display,
        log_dir=log_dir,
        origin=origin,
    )
    try:
        ok = scheduler.run()
    except KeyboardInterrupt:
        with sigint_held():
            finish_run(store.metadata, run_id, "interrupted", "interrupted by the user (Ctrl-C)")
            display.close()
        raise
    except BaseException:
        finish_run(store.metadata, run_id, "failed", traceback.format_exc())
        display.close()
        raise
    finally:
        if log_dir is not None:
            for leftover in Path(log_dir).iterdir():
                leftover.unlink(missing_ok=True)
            Path(log_dir).rmdir()
    failures = [
        (f"{graph.flow_name}/{run_id}/{t.step}/{t.id}", error) for t, error in scheduler.failed
    ]
    finish_run(
        store.metadata,
        run_id,
        "succeeded" if ok else "failed",
        None if ok else "\n\n".join(e for _, e in failures) or "the end step did not run",
    )
    display.close()
    run = Run(f"{graph.flow_name}/{run_id}", config=config)
    if not ok:
        raise FlowFailed(run, failures)
    return run
