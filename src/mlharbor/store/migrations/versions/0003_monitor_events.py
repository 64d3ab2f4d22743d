"""monitor events: drift and performance checks, and the alerts they raised

Revision ID: 0003_monitor
Revises: 0002
Create Date: 2026-11-23 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_monitor"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("alert", sa.Boolean(), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("webhook_status", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_events")),
        sa.UniqueConstraint("model", "ref", "kind", "slot", name="uq_monitor_events_slot"),
    )
    op.create_index(op.f("ix_monitor_events_model"), "monitor_events", ["model"])
    op.create_index(op.f("ix_monitor_events_created_at"), "monitor_events", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_monitor_events_created_at"), table_name="monitor_events")
    op.drop_index(op.f("ix_monitor_events_model"), table_name="monitor_events")
    op.drop_table("monitor_events")
