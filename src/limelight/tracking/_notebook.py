"""Tracking outside flows: ``with limelight.start_run(experiment="ease-l2") as run: ...``."""

from __future__ import annotations

import getpass
import os
import time
from types import TracebackType
from typing import Any

from limelight.core.config import Config
from limelight.core.errors import InvalidInputError, LimelightError
from limelight.store import Store, open_store
from limelight.store.metadata import inserted_id
from limelight.store.recording import RunRecorder
from limelight.store.schema import runs
from limelight.tracking._datasets import Dataset, record_dataset_use

__all__ = ["TrackedRun", "start_run"]


class TrackedRun:
    """A run recorded from a script or notebook; its metrics are buffered like a step's."""

    def __init__(self, store: Store, experiment: str, run_id: int) -> None:
        self.store, self.experiment, self.id = store, experiment, run_id
        self._recorder = RunRecorder(store.metadata, run_id)
        self.status = "running"

    @property
    def pathspec(self) -> str:
        return f"{self.experiment}/{self.id}"

    def _live(self) -> RunRecorder:
        if self.status != "running":
            raise LimelightError(f"run {self.pathspec} has ended ({self.status}); start a new run")
        return self._recorder

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        self._live().log_metric(name, value, step)

    def log_metrics(self, values: dict[str, float], step: int | None = None) -> None:
        for name, value in values.items():
            self.log_metric(name, value, step)

    def log_param(self, name: str, value: Any) -> None:
        self._live().log_param(name, value)

    def log_params(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            self.log_param(name, value)

    def set_tag(self, tag: str) -> None:
        self._live().set_tag(tag)

    def use_dataset(
        self,
        name: str,
        version: str | None = None,
        *,
        path: str | None = None,
        license: str | None = None,
        usage: str,
    ) -> Dataset:
        self._live()
        return record_dataset_use(
            self.store.metadata,
            self.id,
            name,
            version=version,
            path=path,
            license=license,
            usage=usage,
        )

    def flush(self) -> None:
        self._recorder.flush()

    def end(self, status: str = "succeeded", error: str | None = None) -> None:
        """Flush everything logged and close the run."""
        if self.status != "running":
            return
        self._recorder.close()
        now = time.time()
        self.store.metadata.transaction(
            lambda conn: conn.execute(
                runs.update()
                .where(runs.c.id == self.id)
                .values(status=status, finished_at=now, heartbeat_at=now, error=error)
            )
        )
        self.status = status

    def __enter__(self) -> TrackedRun:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.end("succeeded")
        elif isinstance(exc, KeyboardInterrupt):
            self.end("interrupted", "interrupted by the user")
        else:
            self.end("failed", f"{type(exc).__name__}: {exc}")

    def __repr__(self) -> str:
        return f"TrackedRun({self.pathspec!r}, {self.status})"


def start_run(
    experiment: str = "default",
    *,
    params: dict[str, Any] | None = None,
    tags: list[str] | tuple[str, ...] = (),
    config: Config | None = None,
) -> TrackedRun:
    """Start recording a run under ``experiment``; use it as a context manager or call ``end()``."""
    if not isinstance(experiment, str) or not experiment or len(experiment) > 200:
        raise InvalidInputError(f"experiment must be a non-empty name, not {experiment!r}")
    store = open_store(config)
    now = time.time()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    run_id = store.metadata.transaction(
        lambda conn: inserted_id(
            conn.execute(
                runs.insert().values(
                    flow=experiment,
                    kind="notebook",
                    status="running",
                    user=user,
                    pid=os.getpid(),
                    created_at=now,
                    heartbeat_at=now,
                )
            )
        )
    )
    run = TrackedRun(store, experiment, run_id)
    for name, value in (params or {}).items():
        run.log_param(name, value)
    for tag in tags:
        run.set_tag(tag)
    return run
