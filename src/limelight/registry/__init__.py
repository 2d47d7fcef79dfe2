"""The model registry: integer versions per name, aliases with an audit log, lineage to the run,
code, parameters and datasets that made each version, and promotion gates on alias moves.

``register_model(name, obj, metrics=...)`` (or ``current.register_model`` in a step), then
``set_alias("recs", 3, "champion", why=...)`` and ``load("recs@champion")``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from limelight.registry._gates import (
    CustomGate,
    Gate,
    GateDecision,
    IntervalGate,
    MetricGate,
    UsageGate,
)

if TYPE_CHECKING:
    from limelight.core.config import Config
from limelight.registry._registry import (
    AliasEvent,
    AliasMoved,
    GateRefused,
    ModelVersion,
    Registry,
    UsageGateStatus,
    parse_model_ref,
    parse_version,
)

__all__ = [
    "AliasEvent",
    "AliasMoved",
    "CustomGate",
    "Gate",
    "GateDecision",
    "GateRefused",
    "IntervalGate",
    "MetricGate",
    "ModelVersion",
    "Registry",
    "UsageGate",
    "UsageGateStatus",
    "get",
    "load",
    "parse_model_ref",
    "parse_version",
    "register_model",
    "register_model_hook",
    "rollback_alias_hook",
    "set_alias",
]


def register_model(
    name: str,
    obj: Any,
    *,
    metrics: dict[str, float] | None = None,
    signature: dict[str, Any] | None = None,
    config: Config | None = None,
) -> ModelVersion:
    """Store ``obj`` as the next version of model ``name`` (outside a flow: no run lineage)."""
    return Registry(config).register(name, obj, metrics=metrics, signature=signature)


def get(ref: str, *, config: Config | None = None) -> ModelVersion:
    """The version behind ``recs@champion``, ``recs/3`` or ``recs``."""
    return Registry(config).get(ref)


def load(ref: str, *, config: Config | None = None) -> Any:
    """The model behind ``recs@champion``, ``recs/3`` or ``recs`` (the latest version)."""
    return Registry(config).load(ref)


def set_alias(
    name: str, version: int, alias: str, *, why: str = "", config: Config | None = None
) -> AliasEvent:
    """Point ``name@alias`` at ``version`` through the model's promotion gates."""
    return Registry(config).set_alias(name, alias, version, why=why)


def register_model_hook(
    task: Any,
    name: str,
    obj: Any,
    *,
    metrics: dict[str, float] | None = None,
    signature: dict[str, Any] | None = None,
) -> ModelVersion:
    """``current.register_model(...)`` in a step: lineage to the run, the task and its datasets."""
    return Registry(store=task.store).register(
        name, obj, metrics=metrics, signature=signature, run_id=task.run_id, task_id=task.task_id
    )


def rollback_alias_hook(
    name: str, alias: str, bad_version: int, *, who: str, why: str, store: Any = None
) -> AliasEvent:
    """How monitors (which do not import the registry) roll an alias back: see
    :meth:`Registry.rollback`."""
    return Registry(store=store).rollback(name, alias, bad_version, who=who, why=why)
