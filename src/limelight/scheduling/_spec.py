"""``@schedule``, ``@trigger``, ``@trigger_on_finish``: what makes a deployed flow fire.

Metaflow's names and meanings. The decorators only record a checked spec on the class
(``_ll_schedule``, ``_ll_triggers``); nothing happens when the class is defined. ``deploy`` reads
the spec into the deployment's row, and the scheduler works from that row.

A trigger waits for events (``@trigger``) or for runs of other flows to succeed
(``@trigger_on_finish``, the built-in ``run_finished`` event). With several events, ``mode="all"``
(the default, as in Metaflow) fires when each has arrived since the last firing; ``mode="any"``
fires on every one of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limelight.core.errors import InvalidInputError

__all__ = [
    "RUN_FINISHED",
    "EventSpec",
    "ScheduleSpec",
    "TriggerSpec",
    "schedule",
    "spec_of",
    "trigger",
    "trigger_on_finish",
]

RUN_FINISHED = "run_finished"  # payload: flow, run, status, branch
_PRESETS = {"hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 0"}
F = TypeVar("F", bound=type)


@dataclass(frozen=True)
class ScheduleSpec:
    """A cron expression in a timezone; ``catchup``: run each tick missed while down, once."""

    cron: str
    timezone: str = "UTC"
    catchup: bool = False

    def ticks(self, after: float, until: float) -> Iterator[float]:
        """The ticks in ``(after, until]`` as epoch seconds, in order (DST-correct)."""
        from cronsim import CronSim

        start = datetime.fromtimestamp(after, ZoneInfo(self.timezone))
        for moment in CronSim(self.cron, start):
            at = moment.timestamp()
            if at > until:
                return
            if at > after:
                yield at

    def next_tick(self, after: float) -> float:
        from cronsim import CronSim

        return next(
            CronSim(self.cron, datetime.fromtimestamp(after, ZoneInfo(self.timezone)))
        ).timestamp()

    def to_json(self) -> dict[str, Any]:
        return {"cron": self.cron, "timezone": self.timezone, "catchup": self.catchup}


@dataclass(frozen=True)
class EventSpec:
    """One event a trigger waits for: its name, payload fields it must match, parameter map."""

    name: str
    match: Mapping[str, Any] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)  # flow parameter -> payload field

    def matches(self, name: str, payload: Mapping[str, Any]) -> bool:
        return name == self.name and all(payload.get(k) == v for k, v in self.match.items())

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "match": dict(self.match), "parameters": dict(self.parameters)}


@dataclass(frozen=True)
class TriggerSpec:
    events: tuple[EventSpec, ...]
    mode: str = "all"  # all | any
    on_finish: tuple[str, ...] = ()  # the flows of @trigger_on_finish

    def to_json(self) -> dict[str, Any]:
        return {
            "events": [e.to_json() for e in self.events],
            "mode": self.mode,
            "on_finish": list(self.on_finish),
        }


def check_cron(cron: object, where: str) -> str:
    from cronsim import CronSim, CronSimError

    if not isinstance(cron, str) or not cron.strip():
        raise InvalidInputError(f"{where}: cron must be a cron expression string, not {cron!r}")
    try:
        CronSim(cron, datetime(2026, 1, 1, tzinfo=UTC))
    except (CronSimError, ValueError, KeyError) as exc:
        raise InvalidInputError(
            f"{where}: {cron!r} is not a valid cron expression ({exc}); "
            "write five fields: minute hour day-of-month month day-of-week, e.g. '0 3 * * *'"
        ) from exc
    return cron


def check_timezone(timezone: object, where: str) -> str:
    if not isinstance(timezone, str) or not timezone:
        raise InvalidInputError(f"{where}: timezone must be an IANA name, not {timezone!r}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInputError(
            f"{where}: unknown timezone {timezone!r}; use an IANA name such as "
            "'Europe/Amsterdam' or 'UTC'"
        ) from exc
    return timezone


def _check_flow(cls: object, kind: str) -> None:
    from limelight.flows._flow import Flow

    if not (isinstance(cls, type) and issubclass(cls, Flow)):
        raise InvalidInputError(f"@{kind} decorates a flow class, not {cls!r}")


def schedule(
    cls: F | None = None,
    *,
    cron: str | None = None,
    timezone: str | None = None,
    hourly: bool = False,
    daily: bool = False,
    weekly: bool = False,
    catchup: bool = False,
) -> Any:
    """Fire the deployed flow on a timetable: ``cron=`` (with ``timezone=``) or hourly/daily/weekly.

    ``@schedule`` alone is daily at midnight UTC, as in Metaflow. ``catchup=True`` runs every tick
    missed while no scheduler ran, once each; by default only the latest missed one runs.
    """

    def apply(klass: F) -> F:
        _check_flow(klass, "schedule")
        where = f"@schedule on {klass.__name__}"
        presets = [
            name for name, on in (("hourly", hourly), ("daily", daily), ("weekly", weekly)) if on
        ]
        if len(presets) + (cron is not None) > 1:
            raise InvalidInputError(f"{where}: give one of cron=, hourly, daily or weekly")
        expression = (
            check_cron(cron, where) if cron is not None else _PRESETS[(presets or ["daily"])[0]]
        )
        if not isinstance(catchup, bool):
            raise InvalidInputError(f"{where}: catchup is True or False, not {catchup!r}")
        spec = ScheduleSpec(expression, check_timezone(timezone or "UTC", where), catchup)
        klass._ll_schedule = spec  # type: ignore[attr-defined]
        return klass

    return apply(cls) if cls is not None else apply


def _event_spec(event: object, where: str) -> EventSpec:
    if isinstance(event, str):
        event = {"name": event}
    if (
        not isinstance(event, Mapping)
        or not isinstance(event.get("name"), str)
        or not event["name"]
    ):
        raise InvalidInputError(
            f"{where}: an event is a name or {{'name': ..., 'parameters': {{...}}}}, not {event!r}"
        )
    unknown = sorted(set(event) - {"name", "parameters", "match"})
    if unknown:
        raise InvalidInputError(f"{where}: event {event['name']!r} has unknown keys {unknown}")
    parameters = event.get("parameters") or {}
    if isinstance(parameters, Sequence) and not isinstance(parameters, str):
        parameters = {p: p for p in parameters}
    if not isinstance(parameters, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in parameters.items()
    ):
        raise InvalidInputError(
            f"{where}: parameters of event {event['name']!r} map flow parameter names to payload "
            f"fields (strings), not {parameters!r}"
        )
    match = event.get("match") or {}
    if not isinstance(match, Mapping):
        raise InvalidInputError(f"{where}: match of event {event['name']!r} must be a dict")
    return EventSpec(event["name"], dict(match), dict(parameters))


def _names(one: object, several: object, what: str, where: str) -> list[Any]:
    if (one is None) == (several is None):
        raise InvalidInputError(f"{where}: give {what}= or {what}s=, one of them")
    items = [one] if one is not None else several
    if not isinstance(items, list | tuple) or not items:
        raise InvalidInputError(f"{where}: {what}s= takes a non-empty list, not {several!r}")
    return list(items)


def _mode(mode: object, where: str) -> str:
    if mode not in ("all", "any"):
        raise InvalidInputError(f"{where}: mode is 'all' or 'any', not {mode!r}")
    return str(mode)


def _add_trigger(klass: Any, spec: TriggerSpec) -> None:
    existing = klass.__dict__.get("_ll_triggers", ())
    klass._ll_triggers = (*existing, spec)


def trigger(
    cls: F | None = None,
    *,
    event: str | Mapping[str, Any] | None = None,
    events: Sequence[str | Mapping[str, Any]] | None = None,
    mode: str = "all",
) -> Any:
    """Fire the deployed flow when an event is published (``limelight publish`` / ``publish_event``).

    ``event={"name": "new_data", "parameters": {"day": "date"}}`` sets the run's parameter
    ``day`` from the payload's field ``date``. ``events=[...]`` waits for all of them (``mode="all"``)
    or fires on any one (``mode="any"``).
    """

    def apply(klass: F) -> F:
        _check_flow(klass, "trigger")
        where = f"@trigger on {klass.__name__}"
        specs = tuple(_event_spec(e, where) for e in _names(event, events, "event", where))
        _add_trigger(klass, TriggerSpec(specs, _mode(mode, where)))
        return klass

    return apply(cls) if cls is not None else apply


def trigger_on_finish(
    cls: F | None = None,
    *,
    flow: str | None = None,
    flows: Sequence[str] | None = None,
    mode: str = "all",
) -> Any:
    """Fire the deployed flow when a run of ``flow`` (or of each of ``flows``) succeeds.

    The flows must be deployed (on the same ``--branch``) when this one is.
    """

    def apply(klass: F) -> F:
        _check_flow(klass, "trigger_on_finish")
        where = f"@trigger_on_finish on {klass.__name__}"
        names = _names(flow, flows, "flow", where)
        for name in names:
            if not isinstance(name, str) or not name.isidentifier():
                raise InvalidInputError(f"{where}: a flow is named by its class name, not {name!r}")
        specs = tuple(
            EventSpec(RUN_FINISHED, {"flow": name, "status": "succeeded"}) for name in names
        )
        _add_trigger(klass, TriggerSpec(specs, _mode(mode, where), tuple(names)))
        return klass

    return apply(cls) if cls is not None else apply


def spec_of(flow_class: type) -> dict[str, Any]:
    """The JSON spec a deployment stores: the schedule (or None) and the triggers."""
    sched = getattr(flow_class, "_ll_schedule", None)
    triggers = getattr(flow_class, "_ll_triggers", ())
    return {
        "schedule": sched.to_json() if sched else None,
        "triggers": [t.to_json() for t in triggers],
    }


def schedule_from_json(data: Mapping[str, Any] | None) -> ScheduleSpec | None:
    return ScheduleSpec(data["cron"], data["timezone"], bool(data["catchup"])) if data else None


def triggers_from_json(data: Sequence[Mapping[str, Any]]) -> list[TriggerSpec]:
    return [
        TriggerSpec(
            tuple(EventSpec(e["name"], e["match"], e["parameters"]) for e in t["events"]),
            t["mode"],
            tuple(t["on_finish"]),
        )
        for t in data
    ]
