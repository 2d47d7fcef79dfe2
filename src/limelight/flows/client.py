"""The read API: ``Flow("Name").latest_run``, ``Run("Name/7")["fit"].tasks``, ``run.data.model``.

Everything is read lazily from the metadata store, and artifacts from the artifact store only
when an attribute is touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from limelight.core.config import Config
from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.store import ArtifactRef, Store, open_store
from limelight.store.schema import artifacts, params, runs, steps, tags, tasks

__all__ = ["Data", "FlowRuns", "Run", "Step", "Task", "parse_pathspec"]


def parse_pathspec(pathspec: str, parts: int) -> list[str]:
    """Split ``Flow/run[/step[/task]]``; at least 2 and at most ``parts`` pieces."""
    pieces = [p for p in str(pathspec).strip("/").split("/")]
    if not 2 <= len(pieces) <= parts or not all(pieces):
        shape = "/".join(["FLOW", "RUN", "STEP", "TASK"][:parts])
        raise InvalidInputError(f"{pathspec!r} is not a path like {shape}")
    for label, piece in zip(["run", "step", "task"], pieces[1:], strict=False):
        if label != "step" and not piece.isdigit():
            raise InvalidInputError(f"{pathspec!r}: the {label} id must be a number, not {piece!r}")
    return pieces


class Data:
    """Artifacts as attributes, loaded on first access."""

    def __init__(self, store: Store, refs: dict[str, ArtifactRef], where: str) -> None:
        self._store, self._refs, self._where = store, refs, where
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Any:
        if name not in self._cache:
            ref = self._refs.get(name)
            if ref is None:
                raise AttributeError(
                    f"{self._where} has no artifact {name!r}; "
                    f"it has {', '.join(sorted(self._refs)) or 'none'}"
                )
            self._cache[name] = self._store.artifacts.load(ref)
        return self._cache[name]

    def __contains__(self, name: object) -> bool:
        return name in self._refs

    def __dir__(self) -> list[str]:
        return sorted(self._refs)

    def __repr__(self) -> str:
        return f"<data of {self._where}: {', '.join(sorted(self._refs))}>"


class Task:
    """One task of a step: its status, timings, artifacts and logs."""

    def __init__(self, store: Store, flow: str, row: Any) -> None:
        self._store, self._row, self.flow_name = store, row, flow
        self.id: int = row.id
        self.run_id: int = row.run_id
        self.step_name: str = row.step
        self.path: str = row.path
        self.status: str = row.status
        self.attempts: int = row.attempts
        self.error: str | None = row.error
        self.started_at: float | None = row.started_at
        self.finished_at: float | None = row.finished_at
        self.origin_task_id: int | None = row.origin_task_id
        self.foreach_count: int | None = row.foreach_count

    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.run_id}/{self.step_name}/{self.id}"

    @property
    def successful(self) -> bool:
        return self.status == "succeeded"

    @property
    def reused(self) -> bool:
        return self.origin_task_id is not None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def index(self) -> int | None:
        """The foreach index of this task (innermost), or None outside a foreach."""
        return int(self.path.rpartition(".")[2]) if self.path else None

    @cached_property
    def artifacts(self) -> dict[str, ArtifactRef]:
        with self._store.metadata.connect() as conn:
            rows = conn.execute(sa.select(artifacts).where(artifacts.c.task_id == self.id))
            return {r.name: ArtifactRef(r.key, r.serializer, r.size, r.meta or {}) for r in rows}

    @cached_property
    def data(self) -> Data:
        return Data(self._store, self.artifacts, self.pathspec)

    def _log(self, key: str | None) -> str:
        if key is None:
            return ""
        return self._store.artifacts.blobs.get(key).decode("utf-8", errors="replace")

    @property
    def stdout(self) -> str:
        return self._log(self._row.stdout_key)

    @property
    def stderr(self) -> str:
        return self._log(self._row.stderr_key)

    def __repr__(self) -> str:
        return f"Task({self.pathspec!r}, {self.status})"


class Step:
    """One step of a run and its tasks."""

    def __init__(self, run: Run, row: Any) -> None:
        self.run, self.name = run, row.name
        self.status: str = row.status
        self.kind: str | None = row.kind
        self.decorators: dict[str, Any] = row.decorators or {}
        self.started_at: float | None = row.started_at
        self.finished_at: float | None = row.finished_at

    @cached_property
    def tasks(self) -> list[Task]:
        with self.run._store.metadata.connect() as conn:
            rows = conn.execute(
                sa.select(tasks)
                .where(tasks.c.run_id == self.run.id, tasks.c.step == self.name)
                .order_by(tasks.c.id)
            ).all()
        return sorted(
            (Task(self.run._store, self.run.flow_name, r) for r in rows),
            key=lambda t: [int(p) for p in t.path.split(".")] if t.path else [],
        )

    @property
    def task(self) -> Task:
        """The step's only task (the first one for a foreach step)."""
        if not self.tasks:
            raise NotFoundError(f"step {self.run.pathspec}/{self.name} has no task yet")
        return self.tasks[0]

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __repr__(self) -> str:
        return f"Step({self.run.pathspec}/{self.name!r}, {self.status})"


class Run:
    """A run of a flow: ``Run("TrainRecommender/7")``."""

    def __init__(self, pathspec: str, *, config: Config | None = None) -> None:
        flow, run_id = parse_pathspec(pathspec, 2)
        self._store = open_store(config)
        with self._store.metadata.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == int(run_id))).first()
        if row is None or row.flow != flow:
            raise NotFoundError(f"there is no run {flow}/{run_id} in {self._store.config.db}")
        self._row = row
        self.id: int = row.id
        self.flow_name: str = row.flow

    def refresh(self) -> Run:
        return Run(self.pathspec, config=self._store.config)

    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.id}"

    status = property(lambda self: self._row.status)
    created_at = property(lambda self: self._row.created_at)
    finished_at = property(lambda self: self._row.finished_at)
    origin_run_id = property(lambda self: self._row.origin_run_id)
    error = property(lambda self: self._row.error)
    code_hash = property(lambda self: self._row.code_hash)
    user = property(lambda self: self._row.user)

    @property
    def successful(self) -> bool:
        return self._row.status == "succeeded"

    @property
    def finished(self) -> bool:
        return self._row.finished_at is not None

    @property
    def duration(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.created_at

    @cached_property
    def params(self) -> dict[str, Any]:
        with self._store.metadata.connect() as conn:
            return dict(
                conn.execute(
                    sa.select(params.c.name, params.c.value).where(params.c.run_id == self.id)
                ).all()
            )

    @cached_property
    def tags(self) -> set[str]:
        with self._store.metadata.connect() as conn:
            return set(
                conn.execute(sa.select(tags.c.tag).where(tags.c.run_id == self.id)).scalars()
            )

    @cached_property
    def _steps(self) -> dict[str, Step]:
        with self._store.metadata.connect() as conn:
            rows = conn.execute(sa.select(steps).where(steps.c.run_id == self.id)).all()
        return {r.name: Step(self, r) for r in rows}

    def steps(self) -> list[Step]:
        return list(self._steps.values())

    def __getitem__(self, step: str) -> Step:
        if step not in self._steps:
            raise NotFoundError(
                f"run {self.pathspec} has no step {step!r}; it has {', '.join(self._steps)}"
            )
        return self._steps[step]

    def __contains__(self, step: object) -> bool:
        return step in self._steps

    @property
    def data(self) -> Data:
        """The artifacts of the ``end`` step."""
        if "end" not in self._steps or not self["end"].tasks:
            raise NotFoundError(f"run {self.pathspec} has no finished end step")
        return self["end"].task.data

    def __repr__(self) -> str:
        return f"Run({self.pathspec!r}, {self.status})"


class FlowRuns:
    """The runs of the flow called ``name``: ``Flow("Name").latest_run``."""

    def __init__(self, name: str, *, config: Config | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"a flow name is a non-empty string, not {name!r}")
        self.name = name
        self._config = config

    def _ids(self, status: str | None = None, limit: int | None = None) -> list[int]:
        store = open_store(self._config)
        query = sa.select(runs.c.id).where(runs.c.flow == self.name).order_by(runs.c.id.desc())
        if status is not None:
            query = query.where(runs.c.status == status)
        if limit is not None:
            query = query.limit(limit)
        with store.metadata.connect() as conn:
            return list(conn.execute(query).scalars())

    def runs(self, status: str | None = None) -> list[Run]:
        """Runs, newest first, optionally only those with ``status``."""
        return [Run(f"{self.name}/{i}", config=self._config) for i in self._ids(status)]

    def _one(self, status: str | None) -> Run | None:
        ids = self._ids(status, limit=1)
        return Run(f"{self.name}/{ids[0]}", config=self._config) if ids else None

    @property
    def latest_run(self) -> Run | None:
        return self._one(None)

    @property
    def latest_successful_run(self) -> Run | None:
        return self._one("succeeded")

    def __repr__(self) -> str:
        return f"Flow({self.name!r})"
