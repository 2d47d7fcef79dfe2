"""What the scheduler writes to the metadata store: runs, steps and tasks."""

from __future__ import annotations

import contextlib
import getpass
import os
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from limelight.flows._graph import FlowGraph
from limelight.store import MetadataStore
from limelight.store.metadata import insert_once, inserted_id
from limelight.store.published import record_event
from limelight.store.schema import artifacts, attempts, flows, params, runs, steps, tags, tasks

__all__ = [
    "create_run",
    "create_tasks",
    "finish_run",
    "heartbeat",
    "HEARTBEAT_SECONDS",
    "RunHeartbeat",
    "STALE_AFTER",
    "AttemptEnd",
    "record_attempt_ends",
    "record_started",
    "reuse_task",
]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def create_run(
    metadata: MetadataStore,
    graph: FlowGraph,
    *,
    param_values: dict[str, Any],
    run_tags: Sequence[str],
    code_hash: str,
    step_hashes: dict[str, str],
    decorators: dict[str, dict[str, Any]],
    executor: str,
    origin_run_id: int | None,
    on_created: Callable[[sa.Connection, int], None] | None = None,
) -> int:
    """Record a new run (its steps, params and tags) in one transaction; return its id.

    ``on_created(conn, run_id)`` writes in that same transaction (a scheduler's claim records the
    run it started this way, so a crash can never leave a run without its claim knowing).
    """
    now = time.time()

    def work(conn: sa.Connection) -> int:
        # two first runs of a flow at once (two schedulers, PostgreSQL) must not collide here
        values = {"name": graph.flow_name, "created_at": now, "graph": graph.to_json()}
        if insert_once(conn, flows, values) is None:
            conn.execute(
                flows.update().where(flows.c.name == graph.flow_name).values(graph=graph.to_json())
            )
        run_id = inserted_id(
            conn.execute(
                runs.insert().values(
                    flow=graph.flow_name,
                    kind="flow",
                    status="running",
                    origin_run_id=origin_run_id,
                    code_hash=code_hash,
                    code_path=graph.file,
                    user=_user(),
                    executor=executor,
                    pid=os.getpid(),
                    created_at=now,
                    heartbeat_at=now,
                )
            )
        )
        conn.execute(
            steps.insert(),
            [
                {
                    "run_id": run_id,
                    "name": name,
                    "kind": node.kind,
                    "status": "pending",
                    "decorators": decorators[name],
                    "code_hash": step_hashes[name],
                }
                for name, node in graph.nodes.items()
            ],
        )
        if param_values:
            conn.execute(
                params.insert(),
                [{"run_id": run_id, "name": k, "value": v} for k, v in param_values.items()],
            )
        if run_tags:
            conn.execute(
                tags.insert(), [{"run_id": run_id, "tag": t} for t in sorted(set(run_tags))]
            )
        if on_created is not None:
            on_created(conn, run_id)
        return run_id

    return metadata.transaction(work)


def create_tasks(metadata: MetadataStore, run_id: int, specs: list[dict[str, Any]]) -> list[int]:
    """Insert pending tasks (step, path, inputs, foreach stack); return their ids in order."""

    def work(conn: sa.Connection) -> list[int]:
        ids = []
        for spec in specs:
            ids.append(
                inserted_id(
                    conn.execute(
                        tasks.insert().values(
                            run_id=run_id,
                            status="pending",
                            attempts=0,
                            **spec,
                        )
                    )
                )
            )
        return ids

    return metadata.transaction(work)


def record_started(
    metadata: MetadataStore,
    started: list[tuple[int, int, str, str]],
    at: float | None = None,
    new_steps: Collection[str] = (),
) -> None:
    """Mark (task_id, attempt, step, worker) as running since ``at``, in one transaction.

    ``at`` is taken before the tasks were handed to workers, which may finish before this runs;
    ``new_steps`` are the steps whose first task this is (marked running too).
    """
    if not started:
        return
    now = time.time() if at is None else at
    tid: sa.BindParameter[int] = sa.bindparam("tid", type_=sa.Integer)

    def work(conn: sa.Connection) -> None:
        conn.execute(
            tasks.update()
            .where(tasks.c.id == tid)
            .values(
                attempts=sa.bindparam("n"),
                started_at=sa.func.coalesce(tasks.c.started_at, now),
            ),
            [{"tid": task_id, "n": attempt + 1} for task_id, attempt, _, _ in started],
        )
        # the worker may have finished already: never turn its result back into "running"
        conn.execute(
            tasks.update()
            .where(tasks.c.id == tid, tasks.c.status == "pending")
            .values(status="running"),
            [{"tid": task_id} for task_id, _, _, _ in started],
        )
        conn.execute(
            attempts.insert(),
            [
                {
                    "task_id": task_id,
                    "attempt": attempt,
                    "status": "running",
                    "started_at": now,
                    "worker": worker,
                }
                for task_id, attempt, _, worker in started
            ],
        )
        if new_steps:
            conn.execute(
                steps.update()
                .where(
                    steps.c.run_id
                    == sa.select(tasks.c.run_id)
                    .where(tasks.c.id == started[0][0])
                    .scalar_subquery(),
                    steps.c.name.in_(sorted(new_steps)),
                    steps.c.status == "pending",
                )
                .values(status="running", started_at=now)
            )

    metadata.transaction(work)


@dataclass
class AttemptEnd:
    """How one attempt of a task ended, as the scheduler records it."""

    task_id: int
    attempt: int
    ok: bool
    error: str | None
    final: bool
    logs: tuple[str | None, str | None]


def record_attempt_ends(metadata: MetadataStore, ends: Sequence[AttemptEnd]) -> None:
    """Close attempts; a final failure marks its task failed with its error and logs."""
    if not ends:
        return
    now = time.time()

    def work(conn: sa.Connection) -> None:
        for end in ends:
            conn.execute(
                attempts.update()
                .where(attempts.c.task_id == end.task_id, attempts.c.attempt == end.attempt)
                .values(
                    status="succeeded" if end.ok else "failed", finished_at=now, error=end.error
                )
            )
            values: dict[str, Any] = {"stdout_key": end.logs[0], "stderr_key": end.logs[1]}
            if not end.ok and end.final:
                values.update(status="failed", finished_at=now, error=end.error)
            elif not end.ok:
                values.update(status="pending", error=end.error)
            conn.execute(tasks.update().where(tasks.c.id == end.task_id).values(**values))

    metadata.transaction(work)


def reuse_task(metadata: MetadataStore, run_id: int, spec: dict[str, Any], origin_task: Any) -> int:
    """Record a task of a resumed run as the origin's finished task: its artifacts by reference."""

    def work(conn: sa.Connection) -> int:
        task_id = inserted_id(
            conn.execute(
                tasks.insert().values(
                    run_id=run_id,
                    status="succeeded",
                    attempts=0,
                    origin_task_id=origin_task.id,
                    started_at=origin_task.started_at,
                    finished_at=origin_task.finished_at,
                    foreach_count=origin_task.foreach_count,
                    stdout_key=origin_task.stdout_key,
                    stderr_key=origin_task.stderr_key,
                    **spec,
                )
            )
        )
        conn.execute(
            artifacts.insert().from_select(
                ["task_id", "name", "key", "serializer", "size", "meta"],
                sa.select(
                    sa.literal(task_id),
                    artifacts.c.name,
                    artifacts.c.key,
                    artifacts.c.serializer,
                    artifacts.c.size,
                    artifacts.c.meta,
                ).where(artifacts.c.task_id == origin_task.id),
            )
        )
        return task_id

    return metadata.transaction(work)


HEARTBEAT_SECONDS = 5.0  # how often a running run's heartbeat is written
STALE_AFTER = 30.0  # seconds without a heartbeat after which a "running" run is taken as dead


def heartbeat(metadata: MetadataStore, run_id: int) -> None:
    metadata.transaction(
        lambda conn: conn.execute(
            runs.update().where(runs.c.id == run_id).values(heartbeat_at=time.time())
        )
    )


class RunHeartbeat:
    """Writes a run's heartbeat every ``every`` seconds from a thread of its own while in use.

    On a thread, so a long step run in the scheduler's process (the inline executor) does not
    make a live run look dead to whoever judges it by its heartbeat (resume, another host's
    scheduler). A beat that fails (the database busy or away) is tried again at the next one.
    """

    def __init__(self, metadata: MetadataStore, run_id: int, every: float | None = None):
        self.metadata, self.run_id = metadata, run_id
        self.every = HEARTBEAT_SECONDS if every is None else every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="limelight-heartbeat", daemon=True)

    def __enter__(self) -> RunHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            with contextlib.suppress(Exception):
                heartbeat(self.metadata, self.run_id)


def finish_run(metadata: MetadataStore, run_id: int, status: str, error: str | None = None) -> None:
    """Record the run's end and, in the SAME transaction, its built-in ``run_finished`` event.

    One commit for both: a kill -9 right after the run is marked finished cannot lose the event
    that ``@trigger_on_finish`` deployments wait for; its dedup key (one per run) keeps a second
    finish of the same run from publishing twice.
    """
    now = time.time()

    def work(conn: sa.Connection) -> None:
        conn.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .values(status=status, finished_at=now, heartbeat_at=now, error=error)
        )
        if status in ("interrupted", "failed"):
            # tasks still open belong to a run stopped by Ctrl-C or by a crash of its scheduler
            conn.execute(
                tasks.update()
                .where(tasks.c.run_id == run_id, tasks.c.status.in_(["running", "pending"]))
                .values(
                    status=status,
                    finished_at=now,
                    error=error if status == "failed" else "interrupted",
                )
            )
        rows = conn.execute(
            sa.select(tasks.c.step, tasks.c.status, tasks.c.started_at, tasks.c.finished_at).where(
                tasks.c.run_id == run_id
            )
        ).all()
        by_step: dict[str, list[Any]] = {}
        for row in rows:
            by_step.setdefault(row.step, []).append(row)
        for step_name, step_rows in by_step.items():
            statuses = {r.status for r in step_rows}
            summary = next(
                (s for s in ("failed", "interrupted") if s in statuses),
                "succeeded" if statuses == {"succeeded"} else "running",
            )
            starts = [r.started_at for r in step_rows if r.started_at is not None]
            ends = [r.finished_at for r in step_rows if r.finished_at is not None]
            conn.execute(
                steps.update()
                .where(steps.c.run_id == run_id, steps.c.name == step_name)
                .values(
                    status=summary,
                    started_at=min(starts) if starts else None,
                    finished_at=max(ends) if ends else now,
                )
            )
        _record_run_finished(conn, run_id, status)

    metadata.transaction(work)


def _record_run_finished(conn: sa.Connection, run_id: int, status: str) -> None:
    flow = conn.execute(sa.select(runs.c.flow).where(runs.c.id == run_id)).scalar_one()
    run_tags = conn.execute(sa.select(tags.c.tag).where(tags.c.run_id == run_id)).scalars()
    branch = next((t.partition(":")[2] for t in sorted(run_tags) if t.startswith("branch:")), None)
    record_event(
        conn,
        "run_finished",
        {"flow": flow, "run": run_id, "status": status, "branch": branch},
        source=f"run:{flow}/{run_id}",
        dedup_key=f"run_finished:{flow}/{run_id}",
    )
