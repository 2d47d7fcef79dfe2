"""MLflow's REST protocol: experiments, run names and lifecycle, key/value run tags, files,
logged models and registry extras (see docs/architecture.md, "MLflow's REST protocol").

Revision ID: 0003_mlflow
Revises: 0002_scheduling
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_mlflow"
down_revision = "0002_scheduling"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mlflow_experiments",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("artifact_location", sa.Text(), nullable=False),
        sa.Column("lifecycle_stage", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mlflow_experiments")),
        sa.UniqueConstraint("name", name=op.f("uq_mlflow_experiments_name")),
    )
    op.create_table(
        "mlflow_files",
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_mlflow_files")),
    )
    op.create_table(
        "mlflow_runs",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("experiment_id", Id, nullable=False),
        sa.Column("name", sa.String(length=250), nullable=True),
        sa.Column("lifecycle_stage", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["mlflow_experiments.id"],
            name=op.f("fk_mlflow_runs_experiment_id_mlflow_experiments"),
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_mlflow_runs_run_id_runs")),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_mlflow_runs")),
    )
    op.create_index("ix_mlflow_runs_experiment", "mlflow_runs", ["experiment_id"], unique=False)
    op.create_table(
        "run_tags",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_tags_run_id_runs")),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_run_tags")),
    )
    op.create_table(
        "mlflow_logged_models",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("experiment_id", Id, nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("run_id", Id, nullable=True),
        sa.Column("model_type", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("artifact_location", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["mlflow_experiments.id"],
            name=op.f("fk_mlflow_logged_models_experiment_id_mlflow_experiments"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_mlflow_logged_models_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mlflow_logged_models")),
    )
    op.create_table(
        "mlflow_versions",
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("model_id", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model"], ["models.name"], name=op.f("fk_mlflow_versions_model_models")
        ),
        sa.PrimaryKeyConstraint("model", "version", name=op.f("pk_mlflow_versions")),
    )


def downgrade() -> None:
    op.drop_table("mlflow_versions")
    op.drop_table("mlflow_logged_models")
    op.drop_table("run_tags")
    op.drop_index("ix_mlflow_runs_experiment", table_name="mlflow_runs")
    op.drop_table("mlflow_runs")
    op.drop_table("mlflow_files")
    op.drop_table("mlflow_experiments")
