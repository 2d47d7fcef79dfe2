"""Experiment definitions in the metadata store: create, read, start, stop.

A variant's value may name a model (``recs@challenger``); whoever creates the experiment checks
such references (the CLI asks the registry), since this package does not know the registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.core.names import check_name
from limelight.experiments.spec import (
    ExperimentSpec,
    ExperimentStatus,
    check_layers,
    check_overlap,
)
from limelight.store import MetadataStore
from limelight.store.schema import experiment_variants, experiments

__all__ = [
    "create_experiment",
    "get_experiment",
    "list_experiments",
    "running_experiments",
    "set_experiment_status",
]


def _status(value: str) -> ExperimentStatus:
    try:
        return ExperimentStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in ExperimentStatus)
        raise InvalidInputError(f"unknown experiment status {value!r}; known: {known}") from None


def _spec(row: Any) -> ExperimentSpec:
    return ExperimentSpec.from_dict(row.spec)


def create_experiment(
    metadata: MetadataStore,
    spec: ExperimentSpec,
    *,
    check_value: Callable[[Any], None] | None = None,
    allow_overlap: bool = False,
) -> ExperimentSpec:
    """Store ``spec``; ``check_value`` vets each variant's value (e.g. that a model exists).

    A running ``spec`` is checked against the running experiments like :func:`set_experiment_status`.
    """
    if not isinstance(spec, ExperimentSpec):
        raise InvalidInputError(f"expected an ExperimentSpec, not {type(spec).__name__}")
    check_name(spec.name, "experiment")  # the model rule: a name appears in URLs and paths
    if check_value is not None:
        for variant in spec.variants:
            check_value(variant.value)

    def work(conn: sa.Connection) -> None:
        if conn.execute(
            sa.select(experiments.c.name).where(experiments.c.name == spec.name)
        ).first():
            raise InvalidInputError(
                f"an experiment called {spec.name!r} exists already; choose another name"
            )
        if spec.status is ExperimentStatus.RUNNING:
            _check_against_running(conn, spec, allow_overlap)
        conn.execute(
            experiments.insert().values(
                name=spec.name,
                salt=spec.salt,
                layer=spec.layer,
                status=spec.status.value,
                start_at=spec.start,
                stop_at=spec.stop,
                primary_metric=spec.primary_metric,
                secondary_metrics=list(spec.secondary_metrics),
                spec=spec.to_dict(),
                created_at=time.time(),
            )
        )
        conn.execute(
            experiment_variants.insert(),
            [
                {
                    "experiment": spec.name,
                    "name": v.name,
                    "share": v.share,
                    "value": v.value,
                    "position": i,
                }
                for i, v in enumerate(spec.variants)
            ],
        )

    metadata.transaction(work)
    return spec


def _check_against_running(conn: sa.Connection, spec: ExperimentSpec, allow_overlap: bool) -> None:
    """Refuse overlapping slices of one layer, and (unless allowed) a model another steers."""
    others = [
        _spec(r)
        for r in conn.execute(
            sa.select(experiments).where(
                experiments.c.status == ExperimentStatus.RUNNING.value,
                experiments.c.name != spec.name,
            )
        )
    ]
    if spec.layer is not None:
        check_layers([*(o for o in others if o.layer == spec.layer), spec])
    if not allow_overlap:
        check_overlap(others, spec)


def get_experiment(metadata: MetadataStore, name: str) -> ExperimentSpec:
    with metadata.connect() as conn:
        row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
        if row is None:
            known = list(
                conn.execute(sa.select(experiments.c.name).order_by(experiments.c.name)).scalars()
            )
            raise NotFoundError(
                f"there is no experiment {name!r}; experiments: {', '.join(known) or 'none'}"
            )
    return _spec(row)


def list_experiments(metadata: MetadataStore, status: str | None = None) -> list[ExperimentSpec]:
    query = sa.select(experiments).order_by(experiments.c.created_at)
    if status is not None:
        query = query.where(experiments.c.status == _status(status).value)
    with metadata.connect() as conn:
        return [_spec(r) for r in conn.execute(query)]


def running_experiments(metadata: MetadataStore, now: float | None = None) -> list[ExperimentSpec]:
    """The experiments that assign users at ``now`` (the serving hook's input)."""
    moment = time.time() if now is None else now
    return [s for s in list_experiments(metadata, "running") if s.is_active(moment)]


def set_experiment_status(
    metadata: MetadataStore, name: str, status: str, *, allow_overlap: bool = False
) -> ExperimentSpec:
    """Start (``running``) or stop (``stopped``) an experiment; stopping records the stop time.

    Starting is refused when a running experiment outside the experiment's layer steers one of
    its models (see :func:`~limelight.experiments.spec.check_overlap`), unless ``allow_overlap``.
    """
    new_status = _status(status)

    def work(conn: sa.Connection) -> ExperimentSpec:
        row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"there is no experiment {name!r}")
        spec = _spec(row)
        if spec.status is ExperimentStatus.STOPPED:
            raise InvalidInputError(
                f"experiment {name!r} is stopped; a stopped experiment stays stopped"
            )
        now = time.time()
        changes: dict[str, Any] = {"status": new_status}
        if new_status is ExperimentStatus.STOPPED:
            changes["stop"] = min(spec.stop, now) if spec.stop is not None else now
        if new_status is ExperimentStatus.RUNNING and spec.start is None:
            changes["start"] = now
        updated = replace(spec, **changes)
        if new_status is ExperimentStatus.RUNNING:
            _check_against_running(conn, updated, allow_overlap)
        conn.execute(
            experiments.update()
            .where(experiments.c.name == name)
            .values(
                status=updated.status.value,
                start_at=updated.start,
                stop_at=updated.stop,
                spec=updated.to_dict(),
            )
        )
        return updated

    return metadata.transaction(work)
