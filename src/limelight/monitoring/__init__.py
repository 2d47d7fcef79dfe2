"""Monitors over the event log, and guardrails that act on them.

A monitor is a check (``psi(scores)``, ``p99(latency_ms)``, ``take_rate(0)``, ...) of one model,
per version and per window, against a reference window, with a threshold. Checks aggregate in
DuckDB over the event log's out-of-core seam (``store.event_queries``); the drift statistics
are pure functions in :mod:`limelight.monitoring.stats` that match Evidently's definitions.
A breach is recorded as an alert, published as the ``monitor_alert`` event, optionally posted
to a webhook, and with ``action="rollback"`` moves the alias back through the registry.

    Monitors().create("scores-drift", model="recs", check="psi(scores)", window="1d",
                      reference="previous 7d", alert_above=0.2, action="rollback")
    Monitors().check()
"""

from __future__ import annotations

from limelight.monitoring._monitors import ALERT_EVENT, Alert, CheckResult, Monitors
from limelight.monitoring._spec import (
    CHECKS,
    DEFAULT_THRESHOLDS,
    Check,
    MonitorSpec,
    Reference,
    parse_check,
    parse_duration,
    parse_reference,
)

__all__ = [
    "ALERT_EVENT",
    "CHECKS",
    "DEFAULT_THRESHOLDS",
    "Alert",
    "Check",
    "CheckResult",
    "MonitorSpec",
    "Monitors",
    "Reference",
    "parse_check",
    "parse_duration",
    "parse_reference",
]
