"""Limelight: develop, deploy and improve personalization models for a streaming service.

::

    from limelight import Flow, Param, current, step

    class Train(Flow):
        l2 = Param(default=500.0)

        @step
        def start(self):
            ...
            self.next(self.end)

        @step
        def end(self):
            pass
"""

from limelight import models as models
from limelight import registry as _registry
from limelight import runs as runs
from limelight import tracking as _tracking
from limelight.core import (
    Config,
    ConfigError,
    InvalidInputError,
    LimelightError,
    NotFoundError,
    resolve_config,
)
from limelight.core.hooks import register_hook as _register_hook
from limelight.flows import (
    Flow,
    FlowFailed,
    GraphError,
    Param,
    Run,
    catch,
    current,
    resources,
    retry,
    step,
    timeout,
)
from limelight.tracking import TrackedRun, metric_history, search_runs, start_run

# the registry and tracking serve these inside a running step (flows may not import them)
_register_hook("register_model", _registry.register_model_hook)
_register_hook("use_dataset", _tracking.use_dataset_hook)

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "Flow",
    "FlowFailed",
    "GraphError",
    "InvalidInputError",
    "LimelightError",
    "NotFoundError",
    "Param",
    "Run",
    "TrackedRun",
    "__version__",
    "catch",
    "current",
    "metric_history",
    "resolve_config",
    "resources",
    "retry",
    "search_runs",
    "start_run",
    "step",
    "timeout",
]
