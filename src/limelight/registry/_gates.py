"""Promotion gates: the checks a version must pass before an alias may point at it.

Gates are declared per model name and stored with it. Each gate says, for one alias (or all),
whether a candidate version may take it from the version that holds it now:

- ``MetricGate``: an offline metric must beat the holder's by a margin;
- ``IntervalGate``: an estimate with a confidence interval (e.g. an off-policy estimate stored as
  metrics ``NAME``, ``NAME.low``, ``NAME.high``) must beat the holder's estimate with its
  interval: the candidate's lower bound above the holder's point estimate (plus a margin), the
  rule of ``limelight.bandits.beats``;
- ``UsageGate``: every dataset in the version's lineage carries a usage right that the alias
  allows (by default ``champion`` allows ``production`` and ``consented-likeness``, so a model
  trained on ``research-only`` data cannot become champion); a version with no dataset in its
  lineage passes only when the move gives a why. It guards ``champion`` of every model unless
  switched off for that model (:func:`effective_gates`);
- ``CustomGate``: a Python function ``module:function(candidate, holder, alias) -> (ok, reason)``.
"""

from __future__ import annotations

import importlib
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from limelight.core.errors import InvalidInputError

if TYPE_CHECKING:
    from limelight.registry._registry import ModelVersion

__all__ = [
    "CustomGate",
    "Gate",
    "GateDecision",
    "IntervalGate",
    "MetricGate",
    "UsageGate",
    "check_gates",
    "effective_gates",
    "gate_from_json",
]

USAGE_ALIAS = "champion"


@dataclass(frozen=True)
class GateDecision:
    gate: str
    passed: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Gate(ABC):
    kind = "gate"
    aliases: tuple[str, ...] = ()

    def applies_to(self, alias: str) -> bool:
        return not self.aliases or alias in self.aliases

    @abstractmethod
    def check(
        self, candidate: ModelVersion, holder: ModelVersion | None, alias: str, why: str = ""
    ) -> GateDecision:
        """Whether ``candidate`` may take ``alias`` from ``holder`` (the move says ``why``)."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)  # type: ignore[call-overload]
        data["kind"] = self.kind
        return data

    def describe(self) -> str:
        return f"{self.kind} {self.to_json()}"


def _metric(version: ModelVersion, name: str) -> float | None:
    value = (version.metrics or {}).get(name)
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class MetricGate(Gate):
    metric: str
    margin: float = 0.0
    higher_is_better: bool = True
    aliases: tuple[str, ...] = ("champion",)
    kind = "metric"

    def check(
        self, candidate: ModelVersion, holder: ModelVersion | None, alias: str, why: str = ""
    ) -> GateDecision:
        name = f"metric {self.metric}"
        mine = _metric(candidate, self.metric)
        if mine is None:
            return GateDecision(
                name, False, f"version {candidate.version} has no finite {self.metric!r}"
            )
        if holder is None:
            return GateDecision(name, True, f"no version holds {alias!r} yet")
        theirs = _metric(holder, self.metric)
        if theirs is None:
            return GateDecision(
                name, True, f"the holder (version {holder.version}) has no {self.metric!r}"
            )
        gain = (mine - theirs) if self.higher_is_better else (theirs - mine)
        ok = gain > self.margin
        verb = "beats" if ok else "does not beat"
        return GateDecision(
            name,
            ok,
            f"{self.metric} {mine:.6g} {verb} version {holder.version}'s {theirs:.6g} by more than "
            f"{self.margin:g} ({'higher' if self.higher_is_better else 'lower'} is better)",
        )


@dataclass(frozen=True)
class IntervalGate(Gate):
    metric: str
    margin: float = 0.0
    aliases: tuple[str, ...] = ("champion",)
    kind = "interval"

    def check(
        self, candidate: ModelVersion, holder: ModelVersion | None, alias: str, why: str = ""
    ) -> GateDecision:
        name = f"interval {self.metric}"
        low = _metric(candidate, f"{self.metric}.low")
        if low is None:
            return GateDecision(
                name, False, f"version {candidate.version} has no {self.metric}.low"
            )
        if holder is None:
            return GateDecision(name, True, f"no version holds {alias!r} yet")
        bar = _metric(holder, self.metric)
        if bar is None:
            return GateDecision(
                name, True, f"the holder (version {holder.version}) has no {self.metric}"
            )
        ok = low > bar + self.margin
        return GateDecision(
            name,
            ok,
            f"lower bound {low:.6g} of {self.metric} is {'above' if ok else 'not above'} version "
            f"{holder.version}'s estimate {bar:.6g}"
            + (f" + {self.margin:g}" if self.margin else ""),
        )


DEFAULT_ALLOWED = {"champion": ("production", "consented-likeness")}


@dataclass(frozen=True)
class UsageGate(Gate):
    allowed: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_ALLOWED))
    kind = "usage"

    def applies_to(self, alias: str) -> bool:
        return alias in self.allowed

    def check(
        self, candidate: ModelVersion, holder: ModelVersion | None, alias: str, why: str = ""
    ) -> GateDecision:
        allowed = set(self.allowed.get(alias, ()))
        datasets = candidate.lineage.get("datasets", [])
        if not datasets:
            if why.strip():
                return GateDecision(
                    "usage rights", True, "no dataset in the lineage; allowed with the why given"
                )
            return GateDecision(
                "usage rights",
                False,
                f"version {candidate.version} has no dataset in its lineage, so nothing says its "
                f"data may be used for {alias!r}: give a why to move it anyway (it is audited)",
            )
        bad = [d for d in datasets if d.get("usage") not in allowed]
        if bad:
            listed = ", ".join(f"{d['name']} ({d.get('usage')})" for d in bad)
            return GateDecision(
                "usage rights",
                False,
                f"{alias!r} needs data usable for {' or '.join(sorted(allowed))}; the lineage has {listed}",
            )
        return GateDecision("usage rights", True, f"all {len(datasets)} dataset(s) allow {alias!r}")


@dataclass(frozen=True)
class CustomGate(Gate):
    function: str  # "package.module:function"
    aliases: tuple[str, ...] = ("champion",)
    kind = "custom"

    def check(
        self, candidate: ModelVersion, holder: ModelVersion | None, alias: str, why: str = ""
    ) -> GateDecision:
        module_name, _, attribute = self.function.partition(":")
        try:
            check = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            return GateDecision(f"custom {self.function}", False, f"cannot import the check: {exc}")
        try:
            ok, reason = check(candidate, holder, alias)
        except Exception as exc:  # a failing check refuses; it never lets a move through
            return GateDecision(
                f"custom {self.function}", False, f"the check raised {type(exc).__name__}: {exc}"
            )
        return GateDecision(f"custom {self.function}", bool(ok), str(reason))


_KINDS: dict[str, type[Gate]] = {
    "metric": MetricGate,
    "interval": IntervalGate,
    "usage": UsageGate,
    "custom": CustomGate,
}


def gate_from_json(data: dict[str, Any]) -> Gate:
    data = dict(data)
    kind = data.pop("kind", None)
    cls = _KINDS.get(str(kind))
    if cls is None:
        raise InvalidInputError(f"unknown gate kind {kind!r}; known: {', '.join(_KINDS)}")
    if "aliases" in data:
        data["aliases"] = tuple(data["aliases"])
    if "allowed" in data:
        data["allowed"] = {k: tuple(v) for k, v in data["allowed"].items()}
    try:
        return cls(**data)
    except TypeError as exc:
        raise InvalidInputError(f"bad {kind} gate {data}: {exc}") from exc


def effective_gates(declared: Sequence[Gate], alias: str, *, usage_gate_off: bool) -> list[Gate]:
    """The gates a move of ``alias`` passes: the declared ones, with the usage-rights gate on
    ``champion`` added by default, or every usage gate left out there when it was switched off."""
    gates = list(declared)
    if alias != USAGE_ALIAS:
        return gates
    if usage_gate_off:
        return [g for g in gates if not isinstance(g, UsageGate)]
    if not any(isinstance(g, UsageGate) for g in gates):
        gates.append(UsageGate())
    return gates


def check_gates(
    gates: Sequence[Gate],
    candidate: ModelVersion,
    holder: ModelVersion | None,
    alias: str,
    why: str = "",
) -> list[GateDecision]:
    return [g.check(candidate, holder, alias, why) for g in gates if g.applies_to(alias)]
