"""Routing by confidence: whether a queued note had every entity at or above the auto-accept
threshold (such a note skips review unless it is an audit note).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "review_tasks",
        sa.Column("auto_accept", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("review_tasks") as batch:
        batch.drop_column("auto_accept")
