"""an MLflow model version's run id as MLflow gave it, when it is not a Limelight run

Revision ID: 0006_mlflow_version_run
Revises: 0005_monitoring
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_mlflow_version_run"
down_revision = "0005_monitoring"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mlflow_versions") as batch:
        batch.add_column(sa.Column("run_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mlflow_versions") as batch:
        batch.drop_column("run_id")
