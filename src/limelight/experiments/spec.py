"""Experiment definitions: frozen, validated values that say who sees what, and when.

An :class:`ExperimentSpec` is pure data. Storing it and checking that a variant's model
reference exists belong to the metadata store and the registry, not here.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from limelight.core.errors import InvalidInputError
from limelight.core.names import check_name, model_ref_name
from limelight.experiments.metrics import METRICS

__all__ = [
    "SHARE_TOLERANCE",
    "ExperimentSpec",
    "ExperimentStatus",
    "Variant",
    "check_layers",
    "check_overlap",
]

SHARE_TOLERANCE = 1e-9


class ExperimentStatus(StrEnum):
    """Life cycle of an experiment; only ``running`` experiments assign users."""

    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Variant:
    """One arm: its name, the share of traffic it gets, and what it serves (any JSON value)."""

    name: str
    share: float
    value: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInputError(f"a variant needs a non-empty string name, got {self.name!r}")
        share = self.share
        if (
            isinstance(share, bool)
            or not isinstance(share, int | float)
            or not math.isfinite(share)
            or not 0.0 < share <= 1.0
        ):
            raise InvalidInputError(
                f"variant {self.name!r} has share {share!r}: give a number in (0, 1]"
            )
        object.__setattr__(self, "share", float(share))
        try:
            json.dumps(self.value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"variant {self.name!r} has a value that is not JSON ({exc}); use a model "
                "reference like 'recs@challenger' or plain JSON data"
            ) from None


def _timestamp(value: float | datetime | None, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidInputError(f"{what} {value!r} has no time zone: pass an aware datetime")
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{what} must be unix seconds or an aware datetime, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ExperimentSpec:
    """An experiment: a salt for hashing users, two or more variants, and when it runs.

    ``layer`` names a group of mutually exclusive experiments; ``layer_slice`` is the part
    ``[low, high)`` of the layer's traffic this experiment takes. The first variant is the
    control the others are compared with. Times are unix seconds (aware datetimes accepted).
    """

    name: str
    salt: str
    variants: tuple[Variant, ...]
    layer: str | None = None
    layer_slice: tuple[float, float] = (0.0, 1.0)
    start: float | None = None
    stop: float | None = None
    primary_metric: str = "plays_per_user"
    secondary_metrics: tuple[str, ...] = ()
    status: ExperimentStatus = ExperimentStatus.DRAFT
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # The whole name rule is checked when an experiment is stored (create_experiment), so
        # that a definition stored before the rule existed still loads and can be stopped.
        if not isinstance(self.name, str) or not self.name.strip():
            check_name(self.name, "experiment")  # raises, saying what a name looks like
        if not isinstance(self.salt, str) or not self.salt.strip():
            raise InvalidInputError("an experiment needs a non-empty string salt")
        variants = tuple(self.variants)
        if len(variants) < 2:
            raise InvalidInputError(
                f"experiment {self.name!r} has {len(variants)} variant(s): give at least two "
                "(a control and a treatment)"
            )
        if not all(isinstance(v, Variant) for v in variants):
            raise InvalidInputError(f"experiment {self.name!r}: variants must be Variant objects")
        names = [v.name for v in variants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidInputError(
                f"experiment {self.name!r} repeats variant names {duplicates}: make them unique"
            )
        total = math.fsum(v.share for v in variants)
        if abs(total - 1.0) > SHARE_TOLERANCE:
            raise InvalidInputError(
                f"experiment {self.name!r}: variant shares sum to {total!r}, not 1; "
                "adjust them so they add up to exactly 1"
            )
        object.__setattr__(self, "variants", variants)
        self._check_layer()
        start = _timestamp(self.start, "start")
        stop = _timestamp(self.stop, "stop")
        if start is not None and stop is not None and stop <= start:
            raise InvalidInputError(
                f"experiment {self.name!r} stops ({stop}) before it starts "
                f"({start}): give a stop time after the start"
            )
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "stop", stop)
        secondary = tuple(self.secondary_metrics)
        for metric in (self.primary_metric, *secondary):
            if metric not in METRICS:
                raise InvalidInputError(
                    f"experiment {self.name!r}: unknown metric {metric!r}; "
                    f"choose from {sorted(METRICS)}"
                )
        object.__setattr__(self, "secondary_metrics", secondary)
        try:
            object.__setattr__(self, "status", ExperimentStatus(self.status))
        except ValueError:
            raise InvalidInputError(
                f"experiment {self.name!r}: unknown status {self.status!r}; "
                f"choose from {[s.value for s in ExperimentStatus]}"
            ) from None

    def _check_layer(self) -> None:
        try:
            low, high = (float(x) for x in self.layer_slice)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"experiment {self.name!r}: layer_slice must be two numbers (low, high)"
            ) from None
        if not 0.0 <= low < high <= 1.0:
            raise InvalidInputError(
                f"experiment {self.name!r}: layer_slice ({low}, {high}) must satisfy "
                "0 <= low < high <= 1"
            )
        if self.layer is None and (low, high) != (0.0, 1.0):
            raise InvalidInputError(
                f"experiment {self.name!r} has a layer_slice but no layer: name the layer"
            )
        if self.layer is not None and (not isinstance(self.layer, str) or not self.layer.strip()):
            raise InvalidInputError(f"experiment {self.name!r}: layer must be a non-empty string")
        object.__setattr__(self, "layer_slice", (low, high))

    @property
    def steered_models(self) -> frozenset[str]:
        """The model slots this experiment steers: the models its variants' values name."""
        return frozenset(n for v in self.variants if (n := model_ref_name(v.value)) is not None)

    def overlaps_in_time(self, other: ExperimentSpec) -> bool:
        """Whether the two experiments' start/stop windows intersect (open ends never end)."""
        return (self.stop is None or other.start is None or other.start < self.stop) and (
            other.stop is None or self.start is None or self.start < other.stop
        )

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    @property
    def shares(self) -> tuple[float, ...]:
        return tuple(v.share for v in self.variants)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The primary metric followed by the secondary ones."""
        return (self.primary_metric, *self.secondary_metrics)

    def is_active(self, now: float) -> bool:
        """Whether the experiment assigns users at ``now`` (running, and within start/stop)."""
        if self.status is not ExperimentStatus.RUNNING:
            return False
        if self.start is not None and now < self.start:
            return False
        return self.stop is None or now < self.stop

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (what the metadata store keeps)."""
        return {
            "name": self.name,
            "salt": self.salt,
            "variants": [
                {"name": v.name, "share": v.share, "value": v.value} for v in self.variants
            ],
            "layer": self.layer,
            "layer_slice": list(self.layer_slice),
            "start": self.start,
            "stop": self.stop,
            "primary_metric": self.primary_metric,
            "secondary_metrics": list(self.secondary_metrics),
            "status": self.status.value,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentSpec:
        """Rebuild a spec from :meth:`to_dict` output, validating it again."""
        try:
            variants = tuple(
                Variant(v["name"], v["share"], v.get("value")) for v in data["variants"]
            )
            return cls(
                name=data["name"],
                salt=data["salt"],
                variants=variants,
                layer=data.get("layer"),
                layer_slice=tuple(data.get("layer_slice", (0.0, 1.0))),
                start=data.get("start"),
                stop=data.get("stop"),
                primary_metric=data.get("primary_metric", "plays_per_user"),
                secondary_metrics=tuple(data.get("secondary_metrics", ())),
                status=ExperimentStatus(data.get("status", "draft")),
                description=data.get("description", ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise InvalidInputError(f"not an experiment definition: {exc!r}") from None


def check_layers(experiments: Sequence[ExperimentSpec]) -> None:
    """Raise if two experiments share a name, or overlap in the slices of one layer."""
    seen: set[str] = set()
    by_layer: dict[str, list[ExperimentSpec]] = {}
    for spec in experiments:
        if spec.name in seen:
            raise InvalidInputError(f"experiment name {spec.name!r} is used twice")
        seen.add(spec.name)
        if spec.layer is not None:
            by_layer.setdefault(spec.layer, []).append(spec)
    for layer, specs in by_layer.items():
        ordered = sorted(specs, key=lambda s: s.layer_slice)
        for left, right in itertools.pairwise(ordered):
            if right.layer_slice[0] < left.layer_slice[1]:
                raise InvalidInputError(
                    f"experiments {left.name!r} {left.layer_slice} and {right.name!r} "
                    f"{right.layer_slice} overlap in layer {layer!r}: a user could be in both; "
                    "give them disjoint layer slices"
                )


def check_overlap(running: Sequence[ExperimentSpec], spec: ExperimentSpec) -> None:
    """Raise if ``spec`` steers a model that a running experiment outside its layer also steers.

    Two such experiments both pick the served model for a user in both, so one of them logs a
    variant it did not serve and its analysis is contaminated. Experiments of one layer are
    mutually exclusive and may share a model.
    """
    for other in running:
        if other.name == spec.name or not spec.overlaps_in_time(other):
            continue
        if spec.layer is not None and spec.layer == other.layer:
            continue
        shared = sorted(spec.steered_models & other.steered_models)
        if shared:
            raise InvalidInputError(
                f"experiment {spec.name!r} steers model {shared[0]!r}, which the running "
                f"experiment {other.name!r} also steers: a user in both would be served one "
                f"experiment's model while logged in the other's variant. Put both in one layer "
                f"(--layer), stop {other.name!r}, or allow it (--allow-overlap; "
                "allow_overlap=True)"
            )
