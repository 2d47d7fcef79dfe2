"""scheduling: deployments, published events, firings (claims) and scheduler leases

Revision ID: 0002_scheduling
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_scheduling"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("flow", sa.String(length=200), nullable=False),
        sa.Column("branch", sa.String(length=100), nullable=True),
        sa.Column("file_name", sa.String(length=300), nullable=False),
        sa.Column("code", sa.JSON(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("since_event", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("name", name=op.f("uq_deployments_name")),
    )
    op.create_table(
        "published_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column("dedup_key", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_events")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_published_events_dedup_key")),
    )
    op.create_index("ix_published_events_name_id", "published_events", ["name", "id"])
    op.create_table(
        "firings",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("deployment_id", _ID, nullable=False),
        sa.Column("claim_key", sa.String(length=300), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("tick", sa.Float(), nullable=True),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("claimed_by", sa.String(length=300), nullable=False),
        sa.Column("claimed_at", sa.Float(), nullable=False),
        sa.Column("runner", sa.String(length=300), nullable=True),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("run_id", _ID, nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_firings_deployment_id_deployments"),
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_firings_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firings")),
        sa.UniqueConstraint(
            "deployment_id", "claim_key", name="uq_firings_deployment_id_claim_key"
        ),
    )
    op.create_index("ix_firings_status", "firings", ["status"])
    op.create_table(
        "schedulers",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=300), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_schedulers")),
    )


def downgrade() -> None:
    op.drop_table("schedulers")
    op.drop_index("ix_firings_status", table_name="firings")
    op.drop_table("firings")
    op.drop_index("ix_published_events_name_id", table_name="published_events")
    op.drop_table("published_events")
    op.drop_table("deployments")
