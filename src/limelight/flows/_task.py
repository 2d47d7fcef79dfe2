"""Running one task of a step: load its inputs, call the step, store what it set on ``self``."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from limelight.core.errors import InvalidInputError, LimelightError
from limelight.flows._current import current
from limelight.flows._graph import FlowGraph
from limelight.flows._inputs import Inputs
from limelight.flows.client import Data
from limelight.store import ArtifactRef, Store
from limelight.store.recording import RunRecorder
from limelight.store.schema import artifacts, tasks

if TYPE_CHECKING:  # a task is handed the loaded flow class; it never imports Flow's module
    from limelight.flows._flow import Flow

__all__ = ["TaskContext", "TaskJob", "TaskResult", "execute_task", "read_artifact_refs"]

# artifacts that are mapped on load and kept by reference unless reassigned
_KEPT_BY_REFERENCE = {"npy", "sparse", "arrow", "pandas", "state"}


@dataclass
class TaskJob:
    """Everything a worker needs to run one attempt of one task (small and picklable)."""

    run_id: int
    flow_name: str
    step: str
    task_id: int
    path: str
    attempt: int
    max_attempts: int
    input_task_ids: list[int]
    foreach_stack: list[dict[str, Any]]
    params: dict[str, Any]
    origin_run_id: int | None = None
    catch_var: str | None = None
    fallback_error: dict[str, str] | None = None  # set: do not run the step, record the error
    log_dir: str | None = None

    def log_paths(self) -> tuple[str, str] | None:
        if self.log_dir is None:
            return None
        stem = os.path.join(self.log_dir, f"{self.task_id}.{self.attempt}")
        return stem + ".out", stem + ".err"


@dataclass
class TaskResult:
    task_id: int
    attempt: int
    ok: bool
    error: str | None = None
    foreach_count: int | None = None
    caught: bool = False
    logs: tuple[str | None, str | None] = (None, None)
    seconds: float = 0.0


class InputTask(Data):
    """One input of a join: its artifacts, loaded on first access."""

    def __init__(self, store: Store, step_name: str, task_id: int, refs: dict[str, ArtifactRef]):
        super().__init__(store, refs, f"input {step_name}/{task_id}")
        self.step_name, self.task_id = step_name, task_id

    def __repr__(self) -> str:
        return f"<input {self.step_name}/{self.task_id}>"


def read_artifact_refs(
    conn: sa.Connection, task_ids: Iterable[int]
) -> dict[int, dict[str, ArtifactRef]]:
    ids = list(task_ids)
    found: dict[int, dict[str, ArtifactRef]] = {i: {} for i in ids}
    if not ids:
        return found
    rows = conn.execute(sa.select(artifacts).where(artifacts.c.task_id.in_(ids)))
    for row in rows:
        found[row.task_id][row.name] = ArtifactRef(
            row.key, row.serializer, row.size, row.meta or {}
        )
    return found


@dataclass
class TaskContext:
    """The state of the task being run, behind ``self`` and ``current``."""

    job: TaskJob
    store: Store
    graph: FlowGraph
    recorder: RunRecorder
    inherited: dict[str, ArtifactRef] = field(default_factory=dict)
    loaded: dict[str, Any] = field(default_factory=dict)
    next_call: tuple[list[str], str | None] | None = None
    foreach_count: int | None = None

    flow_name = property(lambda self: self.job.flow_name)
    run_id = property(lambda self: self.job.run_id)
    step = property(lambda self: self.job.step)
    task_id = property(lambda self: self.job.task_id)
    attempt = property(lambda self: self.job.attempt)
    origin_run_id = property(lambda self: self.job.origin_run_id)

    def load_artifact(self, flow: Flow, name: str) -> Any:
        ref = self.inherited.get(name)
        if ref is None:
            raise AttributeError(
                f"step {self.step!r} has no artifact {name!r}: no earlier step set self.{name}"
            )
        value = self.store.artifacts.load(ref)
        flow.__dict__[name] = value
        self.loaded[name] = value
        return value

    def record_next(self, flow: Flow, names: list[str], foreach: str | None) -> None:
        node = self.graph.nodes[self.step]
        if self.next_call is not None:
            raise InvalidInputError(f"step {self.step!r} called self.next twice")
        if names != node.next or foreach != node.foreach:
            raise InvalidInputError(
                f"step {self.step!r} called self.next({', '.join(names)}"
                f"{', foreach=' + repr(foreach) if foreach else ''}) but its code says "
                f"self.next({', '.join(node.next)}"
                f"{', foreach=' + repr(node.foreach) if node.foreach else ''})"
            )
        if foreach is not None:
            items = getattr(flow, foreach)
            try:
                count = len(items)
                items[0] if count else None  # must be indexable too
            except TypeError:
                raise InvalidInputError(
                    f"step {self.step!r}: foreach={foreach!r} needs a sequence (list, tuple, "
                    f"array), not {type(items).__name__}"
                ) from None
            if count == 0:
                raise InvalidInputError(f"step {self.step!r}: foreach={foreach!r} is empty")
            self.foreach_count = count
        self.next_call = (names, foreach)

    def foreach_input(self, flow: Flow) -> Any:
        if not self.job.foreach_stack:
            raise LimelightError(f"step {self.step!r} is not inside a foreach: it has no input")
        top = self.job.foreach_stack[-1]
        return getattr(flow, top["var"])[top["index"]]

    def foreach_index(self) -> int:
        if not self.job.foreach_stack:
            raise LimelightError(f"step {self.step!r} is not inside a foreach: it has no index")
        return int(self.job.foreach_stack[-1]["index"])

    def merge_artifacts(
        self, flow: Flow, inputs: Inputs, include: Iterable[str] | None, exclude: Iterable[str]
    ) -> None:
        if not self.graph.nodes[self.step].is_join:
            raise LimelightError("merge_artifacts works only in a join step")
        refs = [i._refs for i in inputs]
        names = set().union(*refs)
        wanted = set(include) if include is not None else names
        unknown = wanted - names
        if unknown:
            raise InvalidInputError(f"merge_artifacts: no input has {', '.join(sorted(unknown))}")
        conflicts = []
        for name in sorted(wanted - set(exclude)):
            if name in flow.__dict__:
                continue
            keys = {r[name].key if name in r else None for r in refs}
            if len(keys) == 1 and None not in keys:
                self.inherited[name] = refs[0][name]
            elif include is not None or None not in keys:
                conflicts.append(name)
        if conflicts:
            raise InvalidInputError(
                f"merge_artifacts in {self.step!r}: the inputs disagree on "
                f"{', '.join(conflicts)}; set them in the join or pass exclude=[...]"
            )

    def save_artifacts(self, flow: Flow) -> dict[str, ArtifactRef]:
        final = dict(self.inherited)
        for name, value in flow.__dict__.items():
            if name.startswith("_"):
                continue
            ref = self.inherited.get(name)
            if (
                ref is not None
                and self.loaded.get(name) is value
                and ref.serializer in _KEPT_BY_REFERENCE
            ):
                continue
            final[name] = self.store.artifacts.save(value)
        return final


def _error_artifact(exc: BaseException, text: str) -> dict[str, str]:
    return {"type": type(exc).__name__, "message": str(exc), "traceback": text}


def error_artifact_from_text(text: str) -> dict[str, str]:
    """The ``@catch`` artifact for a task that failed outside Python (killed, timed out)."""
    lines = text.strip().splitlines()
    return {"type": "TaskFailed", "message": lines[-1] if lines else "", "traceback": text}


def execute_task(
    job: TaskJob, flow_class: type[Flow], graph: FlowGraph, store: Store
) -> TaskResult:
    """Run one attempt of one task; record success in the metadata store. Never raises."""
    started = time.perf_counter()
    recorder = RunRecorder(store.metadata, job.run_id, job.task_id)
    ctx = TaskContext(job=job, store=store, graph=graph, recorder=recorder)
    node = graph.nodes[job.step]
    flow = object.__new__(flow_class)
    flow.__dict__["_ll_task"] = ctx
    flow.__dict__["_ll_params"] = job.params
    current._task = ctx
    caught = False
    try:
        with store.metadata.connect() as conn:
            inputs = read_artifact_refs(conn, job.input_task_ids)
            steps_of = (
                dict(
                    conn.execute(
                        sa.select(tasks.c.id, tasks.c.step).where(
                            tasks.c.id.in_(job.input_task_ids)
                        )
                    ).all()
                )
                if node.is_join
                else {}
            )
        if not node.is_join and job.input_task_ids:
            ctx.inherited = dict(inputs[job.input_task_ids[0]])
        try:
            if job.fallback_error is not None:
                flow.__dict__[job.catch_var or "error"] = job.fallback_error
                caught = True
            elif node.is_join:
                proxies = [InputTask(store, steps_of[t], t, inputs[t]) for t in job.input_task_ids]
                getattr(flow, job.step)(Inputs(proxies))
            else:
                getattr(flow, job.step)()
            if job.step != "end" and ctx.next_call is None and not caught:
                raise InvalidInputError(f"step {job.step!r} ended without calling self.next(...)")
        except Exception as exc:
            final = job.attempt + 1 >= job.max_attempts
            if not (final and job.catch_var) or node.foreach is not None:
                raise
            print(traceback.format_exc(), file=sys.stderr)
            flow.__dict__[job.catch_var] = _error_artifact(exc, traceback.format_exc())
            caught = True
        refs = ctx.save_artifacts(flow)
        taken = recorder.take()

        def complete(conn: sa.Connection) -> None:
            # an earlier attempt may have committed its artifacts and then lost its worker
            # before the scheduler heard of it (on a cluster, the next task killed the worker):
            # this attempt's artifacts replace that attempt's
            conn.execute(artifacts.delete().where(artifacts.c.task_id == job.task_id))
            if refs:
                conn.execute(
                    artifacts.insert(),
                    [
                        {
                            "task_id": job.task_id,
                            "name": name,
                            "key": ref.key,
                            "serializer": ref.serializer,
                            "size": ref.size,
                            "meta": ref.meta,
                        }
                        for name, ref in refs.items()
                    ],
                )
            recorder.write(conn, taken)
            conn.execute(
                tasks.update()
                .where(tasks.c.id == job.task_id)
                .values(
                    status="succeeded",
                    finished_at=time.time(),
                    foreach_count=ctx.foreach_count,
                    error=None,
                )
            )

        store.metadata.transaction(complete)
        return TaskResult(
            job.task_id,
            job.attempt,
            True,
            foreach_count=ctx.foreach_count,
            caught=caught,
            seconds=time.perf_counter() - started,
        )
    except BaseException as exc:  # the scheduler decides what a failure means
        with contextlib.suppress(LimelightError):
            recorder.flush()  # what the step logged before failing helps to debug it
        if isinstance(exc, KeyboardInterrupt):
            raise  # Ctrl-C in an inline run stops the run (workers ignore SIGINT)
        text = traceback.format_exc()
        print(text, file=sys.stderr)
        return TaskResult(
            job.task_id, job.attempt, False, error=text, seconds=time.perf_counter() - started
        )
    finally:
        current._task = None
        recorder.close()
