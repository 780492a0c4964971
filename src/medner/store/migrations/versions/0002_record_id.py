"""A record id on each prediction, so that replaying the journal after a crash is idempotent.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("predictions", sa.Column("record_id", sa.String(32), nullable=True))
    op.create_index("ix_predictions_record_id", "predictions", ["record_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_predictions_record_id", "predictions")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("record_id")
