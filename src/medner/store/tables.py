"""The tables of the store, as SQLAlchemy models (the migrations create them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Prediction(Base):
    """One extraction the API answered (the prediction log)."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # unique per record, so a journal replayed after a crash writes each record once
    record_id: Mapped[str | None] = mapped_column(
        String(32), nullable=True, unique=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note_id: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    text_sha256: Mapped[str] = mapped_column(String(64))
    length: Mapped[int] = mapped_column(Integer)
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    entity_count: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str] = mapped_column(String(128))
    latency_ms: Mapped[float] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    # numbers only (medner.monitoring.profile), and the deployment's segment values
    profile: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    segments: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)


class ReviewTask(Base):
    """A note in the review queue: its text (stored only here, purged after the retention
    period), the model's predictions and how it is to be reviewed."""

    __tablename__ = "review_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    note_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)  # None once purged
    text_sha256: Mapped[str] = mapped_column(String(64))
    predictions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))  # import | api
    priority: Mapped[float] = mapped_column(Float, index=True)  # lower is served first
    audit: Mapped[bool] = mapped_column(Boolean)  # a random sample, for unbiased accuracy
    reviews_needed: Mapped[int] = mapped_column(Integer)  # 2 for the double-review share
    # every entity at or above the auto-accept threshold when queued: the note skips review
    # (it is closed at once) unless it is an audit note, which measures what skipping costs
    auto_accept: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sql("false"))
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # set once the task has all its reviews (or its text is purged): the queue's open part is
    # a partial index, so drawing a task never scans the notes already done
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        Index(
            "ix_review_tasks_open",
            "priority",
            "id",
            postgresql_where=sql("closed_at IS NULL"),
            sqlite_where=sql("closed_at IS NULL"),
        ),
    )


class ReviewLease(Base):
    """A task handed to a validator until ``expires_at``."""

    __tablename__ = "review_leases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("review_tasks.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(64))
    leased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ReviewEvent(Base):
    """One validator action, append-only: who, when, which task, the span before and after."""

    __tablename__ = "review_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("review_tasks.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    model_version: Mapped[str] = mapped_column(String(128))


class Review(Base):
    """A submitted review: the validated entity set of one note by one validator."""

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("task_id", "reviewer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("review_tasks.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    seconds_active: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(128))


class Reviewer(Base):
    """A member of the validation team: a validator, or a lead who also sees everyone's work."""

    __tablename__ = "reviewers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # validator | lead
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewSession(Base):
    """A signed-in browser: the SHA-256 of its cookie token, and its CSRF token."""

    __tablename__ = "review_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    reviewer: Mapped[str] = mapped_column(String(64))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
