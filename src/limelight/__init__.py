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

from typing import TYPE_CHECKING

from limelight.core.hooks import register_hook as _register_hook
from limelight.core.lazy import lazy_exports as _lazy_exports

if TYPE_CHECKING:
    from limelight import models as models
    from limelight import runs as runs
    from limelight.core import (
        Config,
        ConfigError,
        InvalidInputError,
        LimelightError,
        NotFoundError,
        resolve_config,
    )
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
    from limelight.scheduling import schedule, trigger, trigger_on_finish
    from limelight.store.published import publish_event
    from limelight.tracking import TrackedRun, metric_history, search_runs, start_run

# Names load on first use: a flow file's ``from limelight import Flow, step`` imports the flows
# package only, not SQLAlchemy, the registry or tracking (about half a second of start-up).
_EXPORTS = {
    "models": "limelight.models",
    "runs": "limelight.runs",
    **dict.fromkeys(
        [
            "Config",
            "ConfigError",
            "InvalidInputError",
            "LimelightError",
            "NotFoundError",
            "resolve_config",
        ],
        "limelight.core",
    ),
    **dict.fromkeys(
        [
            "Flow",
            "FlowFailed",
            "GraphError",
            "Param",
            "Run",
            "catch",
            "current",
            "resources",
            "retry",
            "step",
            "timeout",
        ],
        "limelight.flows",
    ),
    **dict.fromkeys(["schedule", "trigger", "trigger_on_finish"], "limelight.scheduling"),
    "publish_event": "limelight.store.published",
    **dict.fromkeys(
        ["TrackedRun", "metric_history", "search_runs", "start_run"], "limelight.tracking"
    ),
}
__getattr__, __dir__ = _lazy_exports(__name__, globals(), _EXPORTS)

# the registry and tracking serve these inside a running step (flows may not import them)
_register_hook("register_model", "limelight.registry:register_model_hook")
_register_hook("use_dataset", "limelight.tracking:use_dataset_hook")
# any package publishes events (run finished, model registered, alerts) without importing who
# serves them: get_hook("publish_event")(name, payload, config=...)
_register_hook("publish_event", "limelight.store.published:publish_event")
_register_hook("rollback_alias", "limelight.registry:rollback_alias_hook")

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
    "publish_event",
    "resolve_config",
    "resources",
    "retry",
    "schedule",
    "search_runs",
    "start_run",
    "step",
    "timeout",
    "trigger",
    "trigger_on_finish",
]
