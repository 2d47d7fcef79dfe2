"""Monitors in the metadata store: declare them, run their checks per window, act on breaches."""

from __future__ import annotations

import getpass
import json
import logging
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from limelight.core import clock
from limelight.core.errors import InvalidInputError, LimelightError, NotFoundError
from limelight.core.hooks import get_hook
from limelight.core.names import check_alias, check_name
from limelight.monitoring._queries import EventWindow, Measure, first_event_time, measure
from limelight.monitoring._spec import (
    CONTEXT_PREFIX,
    DEFAULT_THRESHOLDS,
    MonitorSpec,
    parse_check,
    parse_duration,
    parse_reference,
    parse_threshold,
)
from limelight.store import Store, open_store
from limelight.store.schema import alias_events, aliases, monitor_alerts, monitor_values, monitors

__all__ = [
    "ALERT_EVENT",
    "Alert",
    "CheckResult",
    "Monitors",
]

log = logging.getLogger("limelight.monitoring")

ALERT_EVENT = "monitor_alert"
"""The event an alert publishes (``@trigger(event="monitor_alert")`` starts a flow on it)."""
ACTIONS = ("none", "rollback")


@dataclass
class Alert:
    """A breached threshold, and what was done about it."""

    monitor: str
    model: str
    version: int
    value: float
    threshold: float
    window_start: float
    window_end: float
    at: float
    action: str
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckResult:
    """One monitor's value for one model version (or for none: an empty window) in a window."""

    monitor: str
    model: str
    version: int | None
    window_start: float
    window_end: float
    value: float | None
    status: str  # ok | alert | empty | no-reference
    message: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    alert: Alert | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.value is not None and math.isnan(self.value):
            out["value"] = None
        return out


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _spec_from_row(row: Any) -> MonitorSpec:
    spec = row.spec
    window = float(spec["window"])
    return MonitorSpec(
        name=row.name,
        model=row.model,
        check=parse_check(spec["check"]),
        window=window,
        reference=parse_reference(spec.get("reference"), window),
        above=spec.get("alert_above"),
        below=spec.get("alert_below"),
        action=spec.get("action", "none"),
        alias=spec.get("alias", "champion"),
        webhook=spec.get("webhook"),
    )


class Monitors:
    """The monitors of one store, and the event log they watch."""

    def __init__(self, store: Store | None = None, *, events: str | None = None) -> None:
        self.store = store or open_store()
        self.events = events or self.store.config.events

    # -- declaring ------------------------------------------------------------------------------
    def create(
        self,
        name: str,
        *,
        model: str,
        check: str,
        window: str = "1d",
        reference: str | None = None,
        alert_above: Any = None,
        alert_below: Any = None,
        action: str = "none",
        alias: str = "champion",
        webhook: str | None = None,
    ) -> MonitorSpec:
        """Declare a monitor; every part is checked before anything is stored."""
        check_name(name)
        check_name(model)
        check_alias(alias)
        parsed = parse_check(check)
        seconds = parse_duration(window)
        ref = parse_reference(reference, seconds)
        above = parse_threshold(alert_above, "--alert-above")
        below = parse_threshold(alert_below, "--alert-below")
        if above is None and below is None:
            if parsed.name not in DEFAULT_THRESHOLDS:
                raise InvalidInputError(
                    f"{parsed} has no default threshold: give --alert-above or --alert-below"
                )
            side, value = DEFAULT_THRESHOLDS[parsed.name]
            above, below = (value, None) if side == "above" else (None, value)
        if action not in ACTIONS:
            raise InvalidInputError(f"action {action!r} is not one of: {', '.join(ACTIONS)}")
        if webhook is not None and not webhook.startswith(("http://", "https://")):
            raise InvalidInputError(f"webhook {webhook!r} is not an http:// or https:// URL")
        spec = MonitorSpec(name, model, parsed, seconds, ref, above, below, action, alias, webhook)
        payload = spec.to_json()

        def work(conn: sa.Connection) -> None:
            if conn.execute(sa.select(monitors.c.name).where(monitors.c.name == name)).first():
                raise InvalidInputError(
                    f"there is already a monitor {name!r}; delete it first or choose another name"
                )
            conn.execute(
                monitors.insert().values(
                    name=name, model=model, spec=payload, created_at=clock.now(), created_by=_user()
                )
            )

        self.store.metadata.transaction(work)
        return spec

    def all(self) -> list[MonitorSpec]:
        with self.store.metadata.connect() as conn:
            rows = conn.execute(sa.select(monitors).order_by(monitors.c.name)).all()
        return [_spec_from_row(r) for r in rows]

    def get(self, name: str) -> MonitorSpec:
        with self.store.metadata.connect() as conn:
            row = conn.execute(sa.select(monitors).where(monitors.c.name == name)).first()
            if row is None:
                known = list(conn.execute(sa.select(monitors.c.name)).scalars())
                raise NotFoundError(
                    f"there is no monitor {name!r}; monitors: {', '.join(sorted(known)) or 'none'}"
                )
        return _spec_from_row(row)

    def delete(self, name: str) -> None:
        """Forget a monitor (its recorded values and alerts stay, for the audit)."""
        self.get(name)
        self.store.metadata.transaction(
            lambda conn: conn.execute(monitors.delete().where(monitors.c.name == name))
        )

    def values(self, name: str) -> list[dict[str, Any]]:
        """Every value recorded for monitor ``name``, oldest window first."""
        with self.store.metadata.connect() as conn:
            rows = conn.execute(
                sa.select(monitor_values)
                .where(monitor_values.c.monitor == name)
                .order_by(monitor_values.c.window_end, monitor_values.c.id)
            ).all()
        return [dict(r._mapping) for r in rows]

    def alerts(self, name: str | None = None, *, model: str | None = None) -> list[Alert]:
        query = sa.select(monitor_alerts).order_by(monitor_alerts.c.id)
        if name is not None:
            query = query.where(monitor_alerts.c.monitor == name)
        if model is not None:
            query = query.where(monitor_alerts.c.model == model)
        with self.store.metadata.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Alert(
                r.monitor,
                r.model,
                r.version,
                r.value,
                r.threshold,
                r.window_start,
                r.window_end,
                r.at,
                r.action,
                r.outcome,
                r.detail or {},
            )
            for r in rows
        ]

    # -- checking -------------------------------------------------------------------------------
    def check(
        self,
        names: list[str] | None = None,
        *,
        at: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> list[CheckResult]:
        """Run each monitor (all, or ``names``) over the window that ends at ``at`` (now);
        ``progress`` hears of each monitor as it starts and ends."""
        specs = [self.get(n) for n in names] if names else self.all()
        end = clock.now() if at is None else float(at)
        results = []
        for i, spec in enumerate(specs, start=1):
            started = time.monotonic()
            if progress is not None:
                progress(f"[{i}/{len(specs)}] {spec.name}: {spec.check} of {spec.model} ...")
            found = self.check_one(spec, end)
            if progress is not None:
                progress(
                    f"[{i}/{len(specs)}] {spec.name}: done in {time.monotonic() - started:.1f} s"
                )
            results.extend(found)
        return results

    def _reference(self, spec: MonitorSpec, start: float) -> tuple[EventWindow | None, str]:
        ref = spec.reference
        if ref.kind == "previous":
            return EventWindow(start - ref.seconds, start), ""
        if ref.kind == "fixed":
            return EventWindow(ref.start, ref.end), ""
        with self.store.metadata.connect() as conn:
            version = conn.execute(
                sa.select(aliases.c.version).where(
                    aliases.c.model == spec.model, aliases.c.alias == ref.alias
                )
            ).scalar()
            if version is None:
                return None, f"{spec.model} has no alias {ref.alias!r} to take a reference from"
            since = conn.execute(
                sa.select(sa.func.min(alias_events.c.at)).where(
                    alias_events.c.model == spec.model,
                    alias_events.c.alias == ref.alias,
                    alias_events.c.to_version == version,
                    alias_events.c.outcome == "moved",
                )
            ).scalar()
        since = float(since or 0.0)
        return EventWindow(since, since + ref.seconds, int(version)), ""

    def check_one(self, spec: MonitorSpec, end: float) -> list[CheckResult]:
        start = end - spec.window
        reference, problem = self._reference(spec, start)
        notes = []
        first = first_event_time(self.events)
        earliest = min(start, reference.start) if reference is not None else start
        # a log that starts a little after the window does (its first request) is not "short"
        slack = min(3600.0, 0.05 * (end - earliest))
        if first is None or first > earliest + slack:
            notes.append(
                "the event log holds nothing yet"
                if first is None
                else f"the window reaches back before the event log's first impression "
                f"({_iso(first)}): values cover only the data there is"
            )
        if spec.check.is_drift and reference is None:
            measures: list[Measure] = []
        else:
            measures = measure(
                self.events, spec.model, spec.check, EventWindow(start, end), reference
            )
        results: list[CheckResult] = []
        if not measures:
            column = spec.check.column or ""
            what = f"{column} values" if column.startswith(CONTEXT_PREFIX) else "impressions"
            message = problem or (
                f"no {what} of {spec.model} between {_iso(start)} and {_iso(end)}: "
                "nothing to check, no alert"
            )
            status = "no-reference" if problem else "empty"
            results.append(
                CheckResult(spec.name, spec.model, None, start, end, None, status, message)
            )
        for m in measures:
            results.append(self._judge(spec, m, start, end, notes))
        self._record(results)
        return results

    def _judge(
        self, spec: MonitorSpec, m: Measure, start: float, end: float, notes: list[str]
    ) -> CheckResult:
        detail = dict(m.detail)
        if notes:
            detail["notes"] = notes
        if math.isnan(m.value):
            reason = detail.pop("reason", "empty")
            message = (
                "the reference window holds no values: nothing to compare with, no alert"
                if reason == "no-reference"
                else "no values in the window: nothing to check, no alert"
            )
            status = "no-reference" if reason == "no-reference" else "empty"
            return CheckResult(
                spec.name, spec.model, m.version, start, end, None, status, message, detail
            )
        threshold = spec.breached(m.value)
        result = CheckResult(
            spec.name, spec.model, m.version, start, end, m.value, "ok", "; ".join(notes), detail
        )
        if threshold is not None:
            result.status = "alert"
            result.alert = self._alert(spec, m, threshold, start, end)
            result.message = (
                f"{spec.check} = {m.value:.6g} crossed {threshold:g}: {result.alert.outcome}"
            )
        return result

    def _record(self, results: list[CheckResult]) -> None:
        now = clock.now()

        def work(conn: sa.Connection) -> None:
            for r in results:
                detail = dict(r.detail)
                if r.message:
                    detail["message"] = r.message
                conn.execute(
                    monitor_values.insert().values(
                        monitor=r.monitor,
                        model=r.model,
                        version=r.version,
                        window_start=r.window_start,
                        window_end=r.window_end,
                        value=r.value,
                        status=r.status,
                        detail=detail,
                        checked_at=now,
                    )
                )

        self.store.metadata.transaction(work)

    # -- acting ---------------------------------------------------------------------------------
    def _alert(
        self, spec: MonitorSpec, m: Measure, threshold: float, start: float, end: float
    ) -> Alert:
        alert = Alert(
            spec.name,
            spec.model,
            m.version,
            m.value,
            threshold,
            start,
            end,
            clock.now(),
            spec.action,
            "none",
        )
        if spec.action == "rollback":
            alert.outcome, alert.detail["rollback"] = self._rollback(spec, m, threshold, start, end)

        def work(conn: sa.Connection) -> int:
            result = conn.execute(
                monitor_alerts.insert().values(
                    monitor=alert.monitor,
                    model=alert.model,
                    version=alert.version,
                    value=alert.value,
                    threshold=alert.threshold,
                    window_start=start,
                    window_end=end,
                    at=alert.at,
                    action=alert.action,
                    outcome=alert.outcome,
                    detail=alert.detail,
                )
            )
            key = result.inserted_primary_key
            return int(key[0]) if key is not None else 0

        alert_id = self.store.metadata.transaction(work)
        payload = {
            "monitor": spec.name,
            "model": spec.model,
            "version": m.version,
            "value": m.value,
            "threshold": threshold,
            "window": [start, end],
            "check": str(spec.check),
            "outcome": alert.outcome,
        }
        alert.detail["event"] = _publish(
            payload,
            source=f"monitor {spec.name}",
            dedup_key=f"monitor_alert:{alert_id}",
            config=self.store.config,
        )
        if spec.webhook:
            alert.detail["webhook"] = _post(spec.webhook, payload)
        self.store.metadata.transaction(
            lambda conn: conn.execute(
                monitor_alerts.update()
                .where(monitor_alerts.c.id == alert_id)
                .values(detail=alert.detail)
            )
        )
        return alert

    def _rollback(
        self, spec: MonitorSpec, m: Measure, threshold: float, start: float, end: float
    ) -> tuple[str, str]:
        """Move ``model@alias`` off the breaching version through the registry's hook."""
        with self.store.metadata.connect() as conn:
            serving = conn.execute(
                sa.select(aliases.c.version).where(
                    aliases.c.model == spec.model, aliases.c.alias == spec.alias
                )
            ).scalar()
            moved_off = conn.execute(
                sa.select(alias_events.c.who, alias_events.c.to_version)
                .where(
                    alias_events.c.model == spec.model,
                    alias_events.c.alias == spec.alias,
                    alias_events.c.from_version == m.version,
                    alias_events.c.outcome == "moved",
                )
                .order_by(alias_events.c.id.desc())
                .limit(1)
            ).first()
        if serving != m.version and moved_off is not None:
            return "already-rolled-back", (
                f"{spec.model}@{spec.alias} was already moved off version {m.version} "
                f"(to {moved_off.to_version}, by {moved_off.who})"
            )
        if serving != m.version:
            return "not-serving", (
                f"{spec.model}@{spec.alias} is at version {serving}, not the breaching "
                f"version {m.version}: left alone"
            )
        hook = get_hook("rollback_alias")
        if hook is None:
            return "refused", "no registry is wired (the rollback_alias hook is missing)"
        why = (
            f"monitor {spec.name}: {spec.check} = {m.value:.6g} crossed {threshold:g} "
            f"in the window {_iso(start)} .. {_iso(end)}"
        )
        try:
            event = hook(
                spec.model,
                spec.alias,
                m.version,
                who=f"monitor:{spec.name}",
                why=why,
                store=self.store,
            )
        except LimelightError as exc:
            kind = type(exc).__name__
            if kind == "AliasMoved":
                return "already-rolled-back", str(exc)
            if isinstance(exc, InvalidInputError):
                return "no-earlier-version", str(exc)
            return "refused", str(exc)
        return "rolled-back", (
            f"{spec.model}@{spec.alias}: {event.from_version} -> {event.to_version} ({why})"
        )


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _publish(payload: dict[str, Any], **where: Any) -> str:
    """Publish the alert as an event for the scheduler, if one is wired (``publish_event``):
    once per alert (its ``dedup_key``), into the monitors' own store (``config``)."""
    hook = get_hook("publish_event")
    if hook is None:
        return "skipped: no publish_event hook is registered"
    try:
        hook(ALERT_EVENT, payload, **where)
    except Exception as exc:  # an alert is recorded even if its event cannot be published
        log.warning("could not publish %s: %s", ALERT_EVENT, exc)
        return f"failed: {exc}"
    return "published"


def _post(url: str, payload: dict[str, Any], timeout: float = 5.0) -> str:
    """POST the alert as JSON to ``url``; a failure is reported, never raised."""
    body = json.dumps({"event": ALERT_EVENT, **payload}).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return f"posted: HTTP {response.status}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.warning("webhook %s failed: %s", url, exc)
        return f"failed: {exc}"
