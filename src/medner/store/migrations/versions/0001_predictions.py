"""The predictions table.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("note_id", sa.String(256), nullable=True),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("entity_count", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
    )
    op.create_index("ix_predictions_created_at", "predictions", ["created_at"])
    op.create_index("ix_predictions_note_id", "predictions", ["note_id"])


def downgrade() -> None:
    op.drop_index("ix_predictions_note_id", "predictions")
    op.drop_index("ix_predictions_created_at", "predictions")
    op.drop_table("predictions")
