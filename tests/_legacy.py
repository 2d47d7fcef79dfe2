"""Rows as an older release stored them, before today's checks (for tests that such rows still load)."""

from __future__ import annotations

import sqlalchemy as sa

from limelight.experiments import ExperimentSpec
from limelight.store import MetadataStore
from limelight.store.schema import experiments


def store_experiment_unchecked(metadata: MetadataStore, spec: ExperimentSpec) -> None:
    """Store ``spec`` without the name rule (an older release had none)."""

    def insert(conn: sa.Connection) -> None:
        conn.execute(
            experiments.insert().values(
                name=spec.name,
                salt=spec.salt,
                status=spec.status.value,
                primary_metric=spec.primary_metric,
                secondary_metrics=list(spec.secondary_metrics),
                spec=spec.to_dict(),
                created_at=0.0,
            )
        )

    metadata.transaction(insert)
