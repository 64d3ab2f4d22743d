"""registered models remember the highest version number they ever gave

Revision ID: 0004_version_counter
Revises: 0003_monitor
Create Date: 2026-11-23 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_version_counter"
down_revision = "0003_monitor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "registered_models",
        sa.Column("last_version", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE registered_models SET last_version = COALESCE("
        "(SELECT MAX(version) FROM model_versions"
        " WHERE model_versions.model_id = registered_models.id), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("registered_models") as batch:
        batch.drop_column("last_version")
