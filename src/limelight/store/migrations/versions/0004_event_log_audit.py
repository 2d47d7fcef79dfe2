"""the event log's maintenance audit (imports, compactions, expiries)

Revision ID: 0004_event_log_audit
Revises: 0003_mlflow
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_event_log_audit"
down_revision = "0003_mlflow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_log_audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("who", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_log_audit")),
    )
    op.create_index(
        "ix_event_log_audit_kind_action", "event_log_audit", ["kind", "action"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_event_log_audit_kind_action", table_name="event_log_audit")
    op.drop_table("event_log_audit")
