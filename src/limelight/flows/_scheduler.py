"""The scheduler: turns finished tasks into new ones, following the graph, until the end.

It runs in the process that started the run. Tasks that fail are retried as their ``@retry``
says; a task that fails for good stops its own branch while everything else that can still run
does; ``@timeout`` is enforced by stopping the worker. On resume, a task whose step code is
unchanged and whose inputs were themselves reused is taken from the origin run by reference.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from limelight.core.processes import sigint_held
from limelight.flows._decorators import StepOptions
from limelight.flows._executors import Executor
from limelight.flows._graph import FlowGraph
from limelight.flows._progress import Progress
from limelight.flows._records import (
    AttemptEnd,
    RunHeartbeat,
    create_tasks,
    record_attempt_ends,
    record_started,
    reuse_task,
)
from limelight.flows._task import TaskJob, TaskResult, error_artifact_from_text
from limelight.store import Store
from limelight.store.schema import steps, tasks

__all__ = ["Origin", "Scheduler"]


@dataclass
class _Task:
    id: int
    step: str
    path: str
    input_ids: list[int]
    stack: list[dict[str, Any]]
    status: str = "pending"
    attempt: int = 0
    foreach_count: int | None = None
    reused: bool = False
    fallback_error: dict[str, str] | None = None


@dataclass
class Origin:
    """The finished tasks of the run being resumed, and the code of its steps."""

    run_id: int
    tasks: dict[tuple[str, str], Any] = field(default_factory=dict)
    step_hashes: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def load(cls, store: Store, run_id: int) -> Origin:
        origin = cls(run_id)
        with store.metadata.connect() as conn:
            for row in conn.execute(
                sa.select(tasks).where(tasks.c.run_id == run_id, tasks.c.status == "succeeded")
            ):
                origin.tasks[(row.step, row.path)] = row
            for name, code_hash in conn.execute(
                sa.select(steps.c.name, steps.c.code_hash).where(steps.c.run_id == run_id)
            ):
                origin.step_hashes[name] = code_hash
        return origin


def _child_path(path: str, index: int) -> str:
    return f"{path}.{index}" if path else str(index)


def _parent_path(path: str) -> str:
    return path.rpartition(".")[0]


class Scheduler:
    def __init__(
        self,
        *,
        graph: FlowGraph,
        store: Store,
        run_id: int,
        params: dict[str, Any],
        options: dict[str, StepOptions],
        step_hashes: dict[str, str],
        executor: Executor,
        progress: Progress,
        log_dir: str | None,
        origin: Origin | None = None,
    ) -> None:
        self.graph, self.store, self.run_id = graph, store, run_id
        self.params, self.options, self.step_hashes = params, options, step_hashes
        self.executor, self.progress, self.log_dir, self.origin = (
            executor,
            progress,
            log_dir,
            origin,
        )
        self.tasks: dict[tuple[str, str], _Task] = {}
        self.by_id: dict[int, _Task] = {}
        self.ready: deque[_Task] = deque()
        self.delayed: list[tuple[float, int, _Task]] = []
        self.running: dict[int, tuple[_Task, float | None]] = {}
        self.failed: list[tuple[_Task, str]] = []
        self._counter = itertools.count()
        self._completed: deque[tuple[_Task, TaskResult | None]] = deque()
        self._arrived: dict[tuple[str, str], int] = {}  # (join, path): inputs succeeded so far
        self._started_steps: set[str] = set()

    # -- creating tasks -------------------------------------------------------------------------
    def _create(self, specs: list[tuple[str, str, list[int], list[dict[str, Any]]]]) -> None:
        fresh = []
        for step, path, input_ids, stack in specs:
            if (step, path) in self.tasks:
                continue
            origin_task = self._reusable(step, path, input_ids)
            spec = {"step": step, "path": path, "input_task_ids": input_ids, "foreach_stack": stack}
            if origin_task is not None:
                task_id = reuse_task(self.store.metadata, self.run_id, spec, origin_task)
                task = _Task(
                    task_id,
                    step,
                    path,
                    input_ids,
                    stack,
                    status="succeeded",
                    foreach_count=origin_task.foreach_count,
                    reused=True,
                )
                self._register(task)
                self.progress.task_reused(task.step, task.path)
                self._completed.append((task, None))
            else:
                fresh.append((step, path, input_ids, stack, spec))
        if fresh:
            ids = create_tasks(self.store.metadata, self.run_id, [f[4] for f in fresh])
            for task_id, (step, path, input_ids, stack, _) in zip(ids, fresh, strict=True):
                task = _Task(task_id, step, path, input_ids, stack)
                self._register(task)
                self.ready.append(task)
                self.progress.task_created(step)

    def _register(self, task: _Task) -> None:
        self.tasks[(task.step, task.path)] = task
        self.by_id[task.id] = task

    def _reusable(self, step: str, path: str, input_ids: list[int]) -> Any:
        if self.origin is None:
            return None
        if self.origin.step_hashes.get(step) != self.step_hashes[step]:
            return None
        if not all(self.by_id[i].reused for i in input_ids):
            return None
        return self.origin.tasks.get((step, path))

    # -- following the graph --------------------------------------------------------------------
    def _succeeded(self, task: _Task) -> None:
        node = self.graph.nodes[task.step]
        specs: list[tuple[str, str, list[int], list[dict[str, Any]]]] = []
        if node.foreach is not None:
            count = task.foreach_count or 0
            for i in range(count):
                frame = {"step": task.step, "var": node.foreach, "index": i, "count": count}
                specs.append(
                    (node.next[0], _child_path(task.path, i), [task.id], [*task.stack, frame])
                )
        else:
            for child_name in node.next:
                child = self.graph.nodes[child_name]
                if not child.is_join:
                    specs.append((child_name, task.path, [task.id], task.stack))
                    continue
                join = self._join_spec(task, child_name)
                if join is not None:
                    specs.append(join)
        self._create(specs)

    def _join_spec(
        self, task: _Task, join_name: str
    ) -> tuple[str, str, list[int], list[dict[str, Any]]] | None:
        """The join task, once every input it waits for has succeeded."""
        split = self.graph.nodes[self.graph.nodes[join_name].closes or ""]
        if split.foreach is not None:
            frame = task.stack[-1]
            path = _parent_path(task.path)
            keys = [(task.step, _child_path(path, i)) for i in range(frame["count"])]
            stack = task.stack[:-1]
        else:
            path = task.path
            keys = [(parent, path) for parent in self.graph.nodes[join_name].parents]
            stack = task.stack
        # count arrivals: checking every input on each arrival is quadratic in a wide foreach
        arrived = self._arrived.get((join_name, path), 0) + 1
        self._arrived[(join_name, path)] = arrived
        if arrived < len(keys):
            return None
        inputs = [self.tasks.get(k) for k in keys]
        if any(t is None or t.status != "succeeded" for t in inputs):
            return None
        return join_name, path, [t.id for t in inputs if t is not None], stack

    # -- running --------------------------------------------------------------------------------
    def _job(self, task: _Task) -> TaskJob:
        options = self.options[task.step]
        return TaskJob(
            run_id=self.run_id,
            flow_name=self.graph.flow_name,
            step=task.step,
            task_id=task.id,
            path=task.path,
            attempt=task.attempt,
            max_attempts=options.retries + 1,
            input_task_ids=task.input_ids,
            foreach_stack=task.stack,
            params=self.params,
            origin_run_id=self.origin.run_id if self.origin else None,
            catch_var=options.catch_var,
            fallback_error=task.fallback_error,
            log_dir=self.log_dir,
        )

    def _submit_ready(self) -> None:
        now = time.monotonic()
        while self.delayed and self.delayed[0][0] <= now:
            self.ready.append(heapq.heappop(self.delayed)[2])
        started = []
        submitted_at = time.time()
        while self.ready and self.executor.free_slots() > 0:
            task = self.ready.popleft()
            worker = self.executor.submit(self._job(task))
            task.status = "running"
            # a @catch record runs none of the step's code: the step's @timeout is not for it
            # (on a slow cluster it could expire while the record waits for a worker)
            limit = None if task.fallback_error is not None else self.options[task.step].timeout
            self.running[task.id] = (task, now + limit if limit else None)
            started.append((task.id, task.attempt, task.step, worker))
            self.progress.task_started(task.step)
        new_steps = {step for _, _, step, _ in started} - self._started_steps
        self._started_steps |= new_steps
        record_started(self.store.metadata, started, submitted_at, new_steps)

    def _finished(self, results: list[TaskResult]) -> None:
        """Record how the attempts of ``results`` ended (one transaction), then act on each."""
        ended = []
        for result in results:
            entry = self.running.pop(result.task_id, None)
            if entry is not None:
                task = entry[0]
                final = task.attempt + 1 >= self.options[task.step].retries + 1
                ended.append((task, result, final))
        record_attempt_ends(
            self.store.metadata,
            [
                AttemptEnd(task.id, task.attempt, result.ok, result.error, final, result.logs)
                for task, result, final in ended
            ],
        )
        for task, result, final in ended:
            self._after_attempt(task, result, final)

    def _after_attempt(self, task: _Task, result: TaskResult, final: bool) -> None:
        options = self.options[task.step]
        if result.ok:
            task.status, task.foreach_count = "succeeded", result.foreach_count
            self.progress.task_succeeded(task.step, task.path, result.seconds)
            self._completed.append((task, result))
            return
        if not final:
            task.attempt += 1
            task.status = "pending"
            self.progress.task_retrying(task.step, task.path, task.attempt, result.error or "")
            heapq.heappush(
                self.delayed, (time.monotonic() + options.retry_delay, next(self._counter), task)
            )
            return
        node = self.graph.nodes[task.step]
        if options.catch_var and task.fallback_error is None and node.foreach is None:
            # killed or timed out on its last attempt: record the error and carry on, as @catch says
            task.attempt += 1
            task.fallback_error = error_artifact_from_text(result.error or "")
            task.status = "pending"
            self.ready.append(task)
            return
        task.status = "failed"
        self.failed.append((task, result.error or "failed"))
        self.progress.task_failed(task.step, task.path, result.error or "")

    def run(self) -> bool:
        """Run the flow from ``start``; True when ``end`` succeeded."""
        self._create([("start", "", [], [])])
        try:
            with RunHeartbeat(self.store.metadata, self.run_id):
                self._loop()
        finally:
            with sigint_held():
                self.executor.shutdown()
        end = self.tasks.get(("end", ""))
        return end is not None and end.status == "succeeded"

    def _loop(self) -> None:
        while True:
            while self._completed:
                task, _ = self._completed.popleft()
                self._succeeded(task)
            self._submit_ready()
            if not self.running and not self.ready and not self.delayed and not self._completed:
                return
            timeout = 0.5
            if self.delayed:
                timeout = min(timeout, max(0.0, self.delayed[0][0] - time.monotonic()))
            self._finished(self.executor.wait(timeout))
            now = time.monotonic()
            for task_id, (_task, deadline) in list(self.running.items()):
                if deadline is not None and now > deadline:
                    limit = self.options[_task.step].timeout
                    self.executor.kill(task_id, f"timed out after {limit:g} s (@timeout)")
