"""``Flow``: a workflow is a class whose ``@step`` methods call ``self.next(...)``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from limelight.core.errors import InvalidInputError, LimelightError
from limelight.flows._inputs import Inputs
from limelight.flows._params import Param

if TYPE_CHECKING:
    from limelight.core.config import Config
    from limelight.flows._graph import FlowGraph
    from limelight.flows._task import TaskContext
    from limelight.flows.client import Run

__all__ = ["Flow", "Inputs"]


class Flow:
    """Base class of a flow. Subclass it, declare ``Param``\\ s and ``@step`` methods.

    Attributes set on ``self`` in a step are artifacts: stored when the step ends and loaded
    lazily by the steps after it. ``Flow("Name")`` (on this base class) is the read API for the
    runs of the flow called ``Name``.
    """

    _ll_task: TaskContext | None = None
    _ll_params: dict[str, Any] | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is Flow:
            from limelight.flows.client import FlowRuns

            if len(args) != 1 or kwargs:
                raise TypeError(
                    'Flow("FlowName") reads the runs of a flow; subclass Flow to write one'
                )
            return FlowRuns(args[0])
        return super().__new__(cls)

    # -- inside a step --------------------------------------------------------------------------
    def next(self, *steps: Any, foreach: str | None = None) -> None:
        """Say which step(s) run after this one; ``foreach="name"`` fans out over an artifact."""
        task = self._require_task()
        names = []
        for target in steps:
            name = getattr(target, "__name__", None)
            if not getattr(target, "_ll_step", False) or name is None:
                raise InvalidInputError(
                    f"step {task.step!r}: self.next takes steps, not {target!r}"
                )
            names.append(name)
        task.record_next(self, names, foreach)

    @property
    def input(self) -> Any:
        """In a foreach task: the item of the foreach artifact this task works on."""
        return self._require_task().foreach_input(self)

    @property
    def index(self) -> int:
        """In a foreach task: the index of :attr:`input`."""
        return self._require_task().foreach_index()

    def merge_artifacts(
        self, inputs: Inputs, *, include: Iterable[str] | None = None, exclude: Iterable[str] = ()
    ) -> None:
        """In a join: carry over every artifact on which all inputs agree.

        Artifacts set in this step already are left alone; artifacts whose inputs disagree are
        an error unless excluded (or not included).
        """
        self._require_task().merge_artifacts(self, inputs, include, exclude)

    def __getattr__(self, name: str) -> Any:
        task = self.__dict__.get("_ll_task") or type(self)._ll_task
        if name.startswith("_") or task is None:
            raise AttributeError(name)
        return task.load_artifact(self, name)

    def _require_task(self) -> TaskContext:
        task = self._ll_task
        if task is None:
            raise LimelightError("this works only inside a running step")
        return task

    # -- running --------------------------------------------------------------------------------
    @classmethod
    def params(cls) -> dict[str, Param]:
        return {
            name: value
            for klass in reversed(cls.__mro__)
            for name, value in vars(klass).items()
            if isinstance(value, Param)
        }

    @classmethod
    def graph(cls) -> FlowGraph:
        """The checked static graph (a :class:`GraphError` names the step and line if malformed)."""
        from limelight.flows._graph import FlowGraph

        return FlowGraph(cls)

    @classmethod
    def run(
        cls,
        *,
        max_workers: int | None = None,
        tags: Sequence[str] = (),
        executor: str | None = None,
        config: Config | None = None,
        progress: bool = False,
        **params: Any,
    ) -> Run:
        """Run the flow with ``params``; return the finished :class:`Run`.

        Raises :class:`FlowFailed` (with ``.run``) when a task fails for good.
        """
        from limelight.flows._launch import launch

        return launch(
            cls,
            params=params,
            max_workers=max_workers,
            tags=tags,
            executor=executor,
            config=config,
            progress=progress,
        )

    @classmethod
    def resume(
        cls,
        origin: int | str | None = None,
        *,
        max_workers: int | None = None,
        executor: str | None = None,
        config: Config | None = None,
        progress: bool = False,
    ) -> Run:
        """Run again from the first failed or changed step of ``origin`` (the latest run)."""
        from limelight.flows._launch import launch

        return launch(
            cls,
            params=None,
            max_workers=max_workers,
            tags=(),
            executor=executor,
            config=config,
            progress=progress,
            resume_origin=origin or "latest",
        )
