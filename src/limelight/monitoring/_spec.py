"""What a monitor is: its check, window, reference and thresholds, parsed and checked up front."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from limelight.core.errors import InvalidInputError

__all__ = [
    "CHECKS",
    "CONTEXT_PREFIX",
    "DEFAULT_THRESHOLDS",
    "Check",
    "MonitorSpec",
    "Reference",
    "parse_check",
    "parse_duration",
    "parse_reference",
    "parse_threshold",
]

DRIFT = {"psi", "js", "ks", "wasserstein"}
"""Statistics that compare the window with the reference window (see ``monitoring.stats``)."""
NUMERIC_COLUMNS = {"scores", "propensities", "latency_ms"}
"""Impression columns that hold numbers (lists of them are flattened)."""
CONTEXT_PREFIX = "context."
"""``context.<feature>``: one context feature an artwork policy chose with, by its logged name
(checks that read every numeric column read these too)."""

CHECKS: dict[str, tuple[set[str] | None, str]] = {
    # name: (columns it accepts, or None for none; what it measures)
    "psi": (NUMERIC_COLUMNS, "population stability index against the reference"),
    "js": (NUMERIC_COLUMNS, "Jensen-Shannon distance from the reference"),
    "ks": (NUMERIC_COLUMNS, "Kolmogorov-Smirnov p-value against the reference (small: drift)"),
    "wasserstein": (NUMERIC_COLUMNS, "Wasserstein distance over the reference's std"),
    "requests": (None, "impressions logged in the window"),
    "p50": ({"latency_ms"}, "median"),
    "p99": ({"latency_ms"}, "99th percentile"),
    "mean": (NUMERIC_COLUMNS, "mean"),
    "min": (NUMERIC_COLUMNS, "smallest value"),
    "max": (NUMERIC_COLUMNS, "largest value"),
    "plays_per_impression": (None, "plays joined to the window's impressions, per impression"),
    "take_rate": (None, "share of shown items (or of one position: take_rate(0)) played"),
    "coverage": ({"items"}, "share of the catalogue (items shown in reference or window) shown"),
    "gini": ({"items"}, "Gini of how often each catalogue item was shown"),
    "ess": ({"propensities"}, "effective sample size of the inverse-propensity weights"),
    "feedback_share": (None, "share of impressions with any feedback joined"),
    "duplicate_share": (None, "share of impressions whose request id was logged before"),
    "late_share": (None, "share of feedback arriving more than a day after its impression"),
    "error_rate": (None, "share of recommend requests the version failed to answer (502)"),
}
DEFAULT_THRESHOLDS: dict[str, tuple[str, float]] = {
    "psi": ("above", 0.1),
    "js": ("above", 0.1),
    "wasserstein": ("above", 0.1),
    "ks": ("below", 0.05),
}
"""Evidently's default drift thresholds, used when a monitor names none."""

_CALL = re.compile(r"^\s*([a-z_0-9]+)\s*(?:\(\s*([A-Za-z_0-9.:-]*)\s*\))?\s*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class Check:
    """One check: a statistic and the column it reads (``psi(scores)``, ``take_rate(0)``)."""

    name: str
    column: str | None = None
    position: int | None = None

    @property
    def is_drift(self) -> bool:
        return self.name in DRIFT

    def __str__(self) -> str:
        arg = self.column if self.column is not None else self.position
        return f"{self.name}({'' if arg is None else arg})"


def parse_check(text: str) -> Check:
    """``psi(scores)``, ``p99(latency_ms)``, ``take_rate(0)``, ``requests()``, ... ."""
    if not isinstance(text, str):
        raise InvalidInputError(f"a check is text such as 'psi(scores)', not {text!r}")
    match = _CALL.match(text)
    if match is None or match.group(1) not in CHECKS:
        known = ", ".join(sorted(CHECKS))
        raise InvalidInputError(f"unknown check {text!r}; checks: {known} (e.g. 'psi(scores)')")
    name, arg = match.group(1), match.group(2) or None
    columns, _ = CHECKS[name]
    if name == "take_rate":
        if arg is None:
            return Check(name)
        if not arg.isdigit():
            raise InvalidInputError(f"take_rate takes a position (0 is the first), not {arg!r}")
        return Check(name, position=int(arg))
    if columns is None:
        if arg is not None:
            raise InvalidInputError(f"{name}() takes no column, got {arg!r}")
        return Check(name)
    if arg is None:
        if len(columns) == 1:
            return Check(name, next(iter(columns)))
        raise InvalidInputError(f"{name} needs a column: one of {', '.join(sorted(columns))}")
    if arg.startswith(CONTEXT_PREFIX) and columns >= NUMERIC_COLUMNS:
        if not arg[len(CONTEXT_PREFIX) :]:
            raise InvalidInputError(f"{name}({arg}): name the feature, e.g. context.x0")
        return Check(name, arg)
    if arg not in columns:
        readable = sorted(columns) + (["context.<feature>"] if columns >= NUMERIC_COLUMNS else [])
        raise InvalidInputError(
            f"{name}({arg}): there is no column {arg!r} that {name} can read; "
            f"columns: {', '.join(readable)}"
        )
    return Check(name, arg)


def parse_duration(text: str, what: str = "window") -> float:
    """``30m``, ``1h``, ``1d``, ``2w`` as seconds."""
    match = _DURATION.match(str(text))
    if match is None or float(match.group(1)) <= 0:
        raise InvalidInputError(f"{what} {text!r} is not a duration such as 30m, 1h, 1d or 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _moment(text: str, *, end: bool) -> float:
    """A date (an end date is included: its day's end) or an ISO time (UTC unless it says)."""
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return day.timestamp() + (86400 if end else 0)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInputError(
            f"{text!r} is not a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM[:SS]"
        ) from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True)
class Reference:
    """Which data a drift check compares with: the ``previous`` span before the window, a
    ``fixed`` range of days, or the first days the version behind an alias served (``alias``)."""

    kind: str  # previous | fixed | alias
    seconds: float = 0.0  # previous: span; alias: the first this many seconds
    start: float = 0.0  # fixed: [start, end)
    end: float = 0.0
    alias: str = ""
    text: str = ""


def parse_reference(text: str | None, window: float) -> Reference:
    """``previous`` (one window), ``previous 7d``, ``2026-01-01..2026-01-07`` (end day
    included; times such as ``2026-01-01T06:00..2026-01-01T12:00`` too) or
    ``champion first 2d``."""
    raw = (text or "previous").strip()
    words = raw.split()
    if words and words[0] == "previous":
        if len(words) == 1:
            return Reference("previous", seconds=window, text=raw)
        if len(words) == 2:
            return Reference("previous", seconds=parse_duration(words[1], "reference"), text=raw)
    if len(words) == 1 and ".." in raw:
        first, _, last = raw.partition("..")
        start, end = _moment(first, end=False), _moment(last, end=True)
        if end <= start:
            raise InvalidInputError(f"reference {raw!r} ends before it starts")
        return Reference("fixed", start=start, end=end, text=raw)
    if len(words) == 3 and words[1] == "first":
        return Reference(
            "alias", seconds=parse_duration(words[2], "reference"), alias=words[0], text=raw
        )
    raise InvalidInputError(
        f"reference {raw!r} is not one of: 'previous', 'previous 7d', "
        "'2026-01-01..2026-01-07', 'champion first 2d'"
    )


def parse_threshold(value: Any, what: str) -> float | None:
    """A finite number (or None when not given)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise InvalidInputError(f"{what} must be a finite number, not {value!r}")
    return number


@dataclass(frozen=True)
class MonitorSpec:
    """A monitor as the user declared it, checked."""

    name: str
    model: str
    check: Check
    window: float
    reference: Reference
    above: float | None
    below: float | None
    action: str  # none | rollback
    alias: str
    webhook: str | None

    def breached(self, value: float) -> float | None:
        """The threshold ``value`` crossed, or None (NaN crosses nothing)."""
        if math.isnan(value):
            return None
        if self.above is not None and value > self.above:
            return self.above
        if self.below is not None and value < self.below:
            return self.below
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "check": str(self.check),
            "window": self.window,
            "reference": self.reference.text,
            "alert_above": self.above,
            "alert_below": self.below,
            "action": self.action,
            "alias": self.alias,
            "webhook": self.webhook,
        }
