"""Flows: develop a model as a workflow of steps with versioned artifacts.

Write a flow as a class: ``@step`` methods that call ``self.next(...)``, ``Param``\\ s, and
artifacts set on ``self``. Run it with ``MyFlow.run(**params)`` or ``limelight run flow.py``;
read it back with ``Flow("MyFlow").latest_run`` and ``Run("MyFlow/7")``.
"""

from typing import TYPE_CHECKING

from limelight.core.lazy import lazy_exports as _lazy_exports
from limelight.flows._current import current
from limelight.flows._decorators import catch, resources, retry, step, timeout
from limelight.flows._flow import Flow, Inputs
from limelight.flows._graph import FlowGraph, GraphError
from limelight.flows._params import Param

if TYPE_CHECKING:
    from limelight.flows._launch import FlowFailed
    from limelight.flows.client import Data, FlowRuns, Run, Step, Task

# Defining a flow needs none of these; they bring SQLAlchemy, loaded when a run starts or is read.
__getattr__, __dir__ = _lazy_exports(
    __name__,
    globals(),
    {
        "FlowFailed": "limelight.flows._launch",
        **dict.fromkeys(["Data", "FlowRuns", "Run", "Step", "Task"], "limelight.flows.client"),
    },
)

__all__ = [
    "Data",
    "Flow",
    "FlowFailed",
    "FlowGraph",
    "FlowRuns",
    "GraphError",
    "Inputs",
    "Param",
    "Run",
    "Step",
    "Task",
    "catch",
    "current",
    "resources",
    "retry",
    "step",
    "timeout",
]
