"""A numeric profile of every logged note (medner.monitoring.profile: lengths, shares, entity
rates; never text) and the segments a deployment names (clinic, city, specialty).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("predictions", sa.Column("profile", sa.JSON(), nullable=True))
    op.add_column("predictions", sa.Column("segments", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("segments")
        batch.drop_column("profile")
