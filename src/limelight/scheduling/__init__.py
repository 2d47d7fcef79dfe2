"""Scheduling: deployed flows fire on schedules and events, each firing exactly once.

::

    from limelight import Flow, schedule, step, trigger, trigger_on_finish

    @schedule(cron="0 3 * * *", timezone="Europe/Amsterdam")
    class Retrain(Flow): ...

    @trigger_on_finish(flow="Retrain")
    class Analyse(Flow): ...

``limelight deploy flow.py`` records a deployment (a snapshot of the code); ``limelight
scheduler`` fires them; ``publish_event(name, payload)`` publishes what ``@trigger`` waits for.
"""

from typing import TYPE_CHECKING

from limelight.core.lazy import lazy_exports as _lazy_exports
from limelight.scheduling._spec import (
    RUN_FINISHED,
    EventSpec,
    ScheduleSpec,
    TriggerSpec,
    schedule,
    trigger,
    trigger_on_finish,
)

if TYPE_CHECKING:
    from limelight.scheduling._deploy import (
        Deployment,
        delete_deployment,
        deploy,
        deployment_name,
        get_deployment,
        list_deployments,
        set_paused,
    )
    from limelight.scheduling._history import Firing, firing_chain, recent_firings
    from limelight.scheduling._loop import SchedulerAlreadyRunning, SchedulerLoop
    from limelight.scheduling._runner import run_firing
    from limelight.store.published import BUILTIN_EVENTS, publish_event

# a flow file's ``from limelight import schedule`` needs the decorators only, not SQLAlchemy
__getattr__, __dir__ = _lazy_exports(
    __name__,
    globals(),
    {
        **dict.fromkeys(
            [
                "Deployment",
                "delete_deployment",
                "deploy",
                "deployment_name",
                "get_deployment",
                "list_deployments",
                "set_paused",
            ],
            "limelight.scheduling._deploy",
        ),
        **dict.fromkeys(
            ["Firing", "firing_chain", "recent_firings"], "limelight.scheduling._history"
        ),
        **dict.fromkeys(["SchedulerAlreadyRunning", "SchedulerLoop"], "limelight.scheduling._loop"),
        "run_firing": "limelight.scheduling._runner",
        **dict.fromkeys(["BUILTIN_EVENTS", "publish_event"], "limelight.store.published"),
    },
)

__all__ = [
    "BUILTIN_EVENTS",
    "RUN_FINISHED",
    "Deployment",
    "EventSpec",
    "Firing",
    "ScheduleSpec",
    "SchedulerAlreadyRunning",
    "SchedulerLoop",
    "TriggerSpec",
    "delete_deployment",
    "deploy",
    "deployment_name",
    "firing_chain",
    "get_deployment",
    "list_deployments",
    "publish_event",
    "recent_firings",
    "run_firing",
    "schedule",
    "set_paused",
    "trigger",
    "trigger_on_finish",
]
