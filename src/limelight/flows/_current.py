"""``current``: what a running step knows about itself, and the hooks it records through."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from limelight.core.errors import LimelightError
from limelight.core.hooks import get_hook

if TYPE_CHECKING:
    from limelight.flows._task import TaskContext

__all__ = ["Current", "current"]


class Current:
    """The running task: ``current.run_id``, ``current.step_name``, ``current.log_metric()``."""

    def __init__(self) -> None:
        self._task: TaskContext | None = None

    def _require(self) -> TaskContext:
        if self._task is None:
            raise LimelightError("current is only available inside a running step")
        return self._task

    @property
    def is_running(self) -> bool:
        return self._task is not None

    @property
    def flow_name(self) -> str:
        return self._require().flow_name

    @property
    def run_id(self) -> int:
        return self._require().run_id

    @property
    def step_name(self) -> str:
        return self._require().step

    @property
    def task_id(self) -> int:
        return self._require().task_id

    @property
    def retry_count(self) -> int:
        """0 on the first attempt, 1 on the first retry, ..."""
        return self._require().attempt

    @property
    def pathspec(self) -> str:
        task = self._require()
        return f"{task.flow_name}/{task.run_id}/{task.step}/{task.task_id}"

    @property
    def origin_run_id(self) -> int | None:
        return self._require().origin_run_id

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Record a metric value (buffered; written at the step's end or every few seconds)."""
        self._require().recorder.log_metric(name, value, step)

    def log_param(self, name: str, value: Any) -> None:
        self._require().recorder.log_param(name, value)

    def set_tag(self, tag: str) -> None:
        self._require().recorder.set_tag(tag)

    def __getattr__(self, name: str) -> Any:
        hook = get_hook(name)
        if hook is None:
            raise AttributeError(f"current has no attribute {name!r}")
        task = self._require()
        return lambda *args, **kwargs: hook(task, *args, **kwargs)


current = Current()
