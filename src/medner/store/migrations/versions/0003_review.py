"""The review queue: tasks, leases, the append-only event record, submitted reviews, and the
validators with their sessions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_tasks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note_id", sa.String(256), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("predictions", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("audit", sa.Boolean(), nullable=False),
        sa.Column("reviews_needed", sa.Integer(), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_review_tasks_open",
        "review_tasks",
        ["priority", "id"],
        postgresql_where=sa.text("closed_at IS NULL"),
        sqlite_where=sa.text("closed_at IS NULL"),
    )
    op.create_index("ix_review_tasks_created_at", "review_tasks", ["created_at"])
    op.create_index("ix_review_tasks_priority", "review_tasks", ["priority"])
    op.create_table(
        "review_leases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("review_tasks.id"), nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("leased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_review_leases_task_id", "review_leases", ["task_id"])
    op.create_index("ix_review_leases_expires_at", "review_leases", ["expires_at"])
    op.create_table(
        "review_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("review_tasks.id"), nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("model_version", sa.String(128), nullable=False),
    )
    op.create_index("ix_review_events_at", "review_events", ["at"])
    op.create_index("ix_review_events_task_id", "review_events", ["task_id"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("review_tasks.id"), nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("seconds_active", sa.Float(), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.UniqueConstraint("task_id", "reviewer"),
    )
    op.create_index("ix_reviews_task_id", "reviews", ["task_id"])
    op.create_index("ix_reviews_submitted_at", "reviews", ["submitted_at"])
    op.create_table(
        "reviewers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "review_sessions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "review_sessions",
        "reviewers",
        "reviews",
        "review_events",
        "review_leases",
        "review_tasks",
    ):
        op.drop_table(table)
