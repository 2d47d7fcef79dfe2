"""deleted versions' numbers, MLflow's stages and update times, metrics of logged models

Revision ID: 0007_mlflow_registry_lifecycle
Revises: 0006_mlflow_version_run
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_mlflow_registry_lifecycle"
down_revision = "0006_mlflow_version_run"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("last_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("mlflow_versions") as batch:
        batch.add_column(sa.Column("stage", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.Float(), nullable=True))
    op.create_table(
        "mlflow_model_metrics",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("model_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", Id, nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("value_text", sa.String(length=10), nullable=True),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("dataset_name", sa.String(length=500), nullable=True),
        sa.Column("dataset_digest", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["mlflow_logged_models.id"],
            name=op.f("fk_mlflow_model_metrics_model_id_mlflow_logged_models"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_mlflow_model_metrics_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mlflow_model_metrics")),
    )
    op.create_index("ix_mlflow_model_metrics_model", "mlflow_model_metrics", ["model_id"])


def downgrade() -> None:
    op.drop_index("ix_mlflow_model_metrics_model", table_name="mlflow_model_metrics")
    op.drop_table("mlflow_model_metrics")
    with op.batch_alter_table("mlflow_versions") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("stage")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("last_version")
