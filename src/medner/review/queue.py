"""The review queue: notes in with the model's predictions, tasks out to validators one at a
time, reviews back as an append-only record, validated notes out as training data.

- **Import** (``import_notes``): each note is extracted by the model and queued with its text,
  its predictions and the model version. Order: most uncertain first (the lowest entity
  confidence; a note with no entity gets a random place, so empty notes are sampled too). A
  random ``audit_share`` of the notes is flagged ``audit`` and placed at random, so accuracy
  measured on it later is unbiased; a ``double_share`` needs two validators (agreement).
- **Leases** (``next_task``): a task goes to one validator at a time (two for a double-review
  task) until its lease expires; then it returns to the queue. Drawing is one transaction
  that locks what it reads: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
  SQLite, so concurrent validators never get the same task.
- **The record** (``submit``): every action is an event row (who, when, task, the span before
  and after, the model version) and the validated entity set is a review row, written in the
  transaction that answers "saved"; nothing is updated in place.
- **Export** (``export_reviews``): validated notes as the project's JSONL, deterministic (task
  order), incremental (``since``), with a manifest DVC can track.
- **Purge** (``purge_text``): note text older than the retention period is removed.

The note text is patient data: it is stored here only (the review queue needs it) and never
logged; only ids and counts are.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, insert, select, update
from sqlalchemy.orm import Session

from medner.errors import MednerError
from medner.inference import Note, entity_records
from medner.labels import CANONICAL_LABELS
from medner.models.base import NerModel, model_version
from medner.store.db import database_url, migrate
from medner.store.db import engine as make_engine
from medner.store.tables import Review, ReviewEvent, ReviewLease, ReviewTask

ACTIONS = frozenset({"accept", "reject", "relabel", "resize", "add", "skip", "undo"})
DEFAULT_LEASE_SECONDS = 600


class ReviewError(MednerError):
    """A review that cannot be taken; ``field`` names what is wrong (the API answers 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def queue_engine(url: str | None = None) -> Engine:
    """An engine for the queue, migrated. On SQLite every transaction starts with ``BEGIN
    IMMEDIATE`` (it takes the write lock first, so two validators cannot read the same free
    task), the process keeps one connection, and the database runs in WAL mode."""
    url = database_url(url)
    migrate(url)
    sqlite = url.startswith("sqlite")
    # One connection per SQLite process: SQLite takes one writer at a time anyway, and threads
    # that queue for the pool's connection are served in turn, where threads that race for the
    # file lock poll it with sleeps that grow to 100 ms (the review API's tail latency,
    # docs/benchmarks.md, "review"). Another process waits up to 30 s for the lock.
    one_connection = {
        "connect_args": {"timeout": 30},
        "pool_size": 1,
        "max_overflow": 0,
        "pool_timeout": 30,
    }
    engine = make_engine(url, **(one_connection if sqlite else {}))
    if sqlite:

        @event.listens_for(engine, "connect")
        def _autocommit_off(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy issues BEGIN itself
            # write-ahead log: a commit is one append and one fsync (synchronous=FULL keeps
            # every commit durable), and readers do not wait for the writer
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=FULL")

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _unit(key: str, salt: str) -> float:
    """A stable number in [0, 1) for ``key``: the same note is sampled the same way."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()
    return int(digest[:13], 16) / float(1 << 52)


@dataclass
class ImportSummary:
    imported: int = 0
    audit: int = 0
    double: int = 0
    auto_accepted: int = 0  # skipped review: every entity at or above the threshold
    skipped: list[str] = field(default_factory=list)  # reasons, naming file and row; no text


def _task_row(
    note: Note,
    records: list[dict[str, Any]],
    version: str,
    source: str,
    audit_share: float,
    double_share: float,
    now: datetime,
    threshold: float | None = None,
) -> dict[str, Any]:
    assert note.text is not None
    sha = hashlib.sha256(note.text.encode()).hexdigest()
    key = f"{note.id}:{sha}"
    audit = _unit(key, "audit") < audit_share
    auto = threshold is not None and all(float(r["confidence"]) >= threshold for r in records)
    if audit or not records:
        priority = _unit(key, "order")  # a random place in the queue
    else:
        priority = min(float(r["confidence"]) for r in records)
    return {
        "created_at": now,
        "note_id": None if note.id is None else str(note.id)[:256],
        "text": note.text,
        "text_sha256": sha,
        "predictions": records,
        "model_version": version,
        "source": source,
        "priority": priority,
        "audit": audit,
        "reviews_needed": 2 if _unit(key, "double") < double_share else 1,
        "purged_at": None,
        "auto_accept": auto,
        "closed_at": now if auto and not audit else None,  # auto-accepted: never handed out
    }


def import_notes(
    engine: Engine,
    model: NerModel,
    model_dir: Path,
    notes: Iterable[Note],
    audit_share: float = 0.10,
    double_share: float = 0.05,
    source: str = "import",
    batch: int = 500,
    threshold: float | None = None,
) -> ImportSummary:
    """Extract each note with ``model`` and queue it; notes without usable text are skipped
    with their reason. With an auto-accept ``threshold`` (medner.review.routing), a note
    whose entities all reach it is recorded as auto-accepted and not handed out, unless it
    is an audit note."""
    if not 0 <= audit_share <= 1 or not 0 <= double_share <= 1:
        raise MednerError("audit and double-review shares must be between 0 and 1")
    version = model_version(model_dir)
    summary = ImportSummary()
    rows: list[dict[str, Any]] = []

    def flush() -> None:
        if rows:
            with engine.begin() as conn:
                conn.execute(insert(ReviewTask), rows)
            rows.clear()

    for note in notes:
        if note.text is None:
            summary.skipped.append(note.problem or f"note {note.id}: no text")
            continue
        records = entity_records(model, note.text)
        row = _task_row(
            note, records, version, source, audit_share, double_share, datetime.now(UTC), threshold
        )
        rows.append(row)
        summary.imported += 1
        summary.audit += row["audit"]
        summary.double += row["reviews_needed"] == 2
        summary.auto_accepted += row["closed_at"] is not None
        if len(rows) >= batch:
            flush()
    flush()
    return summary


def enqueue(
    engine: Engine,
    notes: Sequence[tuple[Any, str, list[dict[str, Any]]]],
    version: str,
    source: str = "api",
    audit_share: float = 0.10,
    double_share: float = 0.05,
    threshold: float | None = None,
) -> int:
    """Queue notes that were already extracted: ``(note id, text, entity records)`` each (the
    API's sample of live notes), routed by ``threshold`` as ``import_notes`` does. Returns
    how many."""
    now = datetime.now(UTC)
    rows = [
        _task_row(
            Note(note_id, text), records, version, source, audit_share, double_share, now, threshold
        )
        for note_id, text, records in notes
    ]
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(ReviewTask), rows)
    return len(rows)


@dataclass(frozen=True)
class Task:
    """What a validator is handed."""

    id: int
    note_id: str | None
    text: str
    predictions: list[dict[str, Any]]
    model_version: str
    audit: bool
    lease_expires_at: datetime


def as_utc(value: datetime) -> datetime:
    """A time from the database, time-zone aware (SQLite returns naive UTC times)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def next_task(
    engine: Engine,
    reviewer: str,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    now: datetime | None = None,
) -> Task | None:
    """The validator's current task (a lease it still holds), else the first free one, leased
    to it; ``None`` when the queue has nothing for it."""
    now = now or datetime.now(UTC)
    with Session(engine) as session, session.begin():
        held = session.execute(
            select(ReviewLease)
            .where(ReviewLease.reviewer == reviewer, ReviewLease.expires_at > now)
            .where(
                ~select(Review.id)
                .where(Review.task_id == ReviewLease.task_id, Review.reviewer == reviewer)
                .exists()
            )
            .order_by(ReviewLease.id)
            .limit(1)
        ).scalar_one_or_none()
        if held is not None:
            task = session.get(ReviewTask, held.task_id)
            assert task is not None
            return _task(task, held.expires_at)
        reviews = (
            select(func.count(Review.id)).where(Review.task_id == ReviewTask.id).scalar_subquery()
        )
        leases = (
            select(func.count(ReviewLease.id))
            .where(ReviewLease.task_id == ReviewTask.id, ReviewLease.expires_at > now)
            .scalar_subquery()
        )
        mine = select(Review.id).where(Review.task_id == ReviewTask.id, Review.reviewer == reviewer)
        skipped = select(ReviewEvent.id).where(
            ReviewEvent.task_id == ReviewTask.id,
            ReviewEvent.reviewer == reviewer,
            ReviewEvent.action == "skip",
        )
        passed: list[int] = []
        task = None
        while task is None:
            query = (
                select(ReviewTask)
                .where(ReviewTask.closed_at.is_(None))
                .where(reviews + leases < ReviewTask.reviews_needed)
                .where(~mine.exists())
                .where(~skipped.exists())
                .order_by(ReviewTask.priority, ReviewTask.id)
                .limit(1)
            )
            if passed:
                query = query.where(ReviewTask.id.not_in(passed))
            if engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=ReviewTask)
            candidate = session.execute(query).scalar_one_or_none()
            if candidate is None:
                return None
            # Count again in a new statement, holding the task's row lock: on PostgreSQL the
            # first statement's snapshot may predate a lease another validator just committed.
            taken = session.execute(
                select(
                    select(func.count(Review.id))
                    .where(Review.task_id == candidate.id)
                    .scalar_subquery()
                    + select(func.count(ReviewLease.id))
                    .where(ReviewLease.task_id == candidate.id, ReviewLease.expires_at > now)
                    .scalar_subquery()
                )
            ).scalar_one()
            if taken < candidate.reviews_needed:
                task = candidate
            else:
                passed.append(candidate.id)
        expires = now + timedelta(seconds=lease_seconds)
        session.add(
            ReviewLease(task_id=task.id, reviewer=reviewer, leased_at=now, expires_at=expires)
        )
        return _task(task, expires)


def _task(task: ReviewTask, expires: datetime) -> Task:
    assert task.text is not None
    return Task(
        task.id,
        task.note_id,
        task.text,
        list(task.predictions),
        task.model_version,
        task.audit,
        as_utc(expires),
    )


def validate_entities(text: str, entities: Sequence[Any]) -> list[dict[str, Any]]:
    """Entities as ``{"start", "end", "text", "label"}`` dicts, checked against the note:
    inside it, not overlapping, a known label. Raises ``ReviewError`` naming the field."""
    out = []
    for i, e in enumerate(entities):
        where = f"entities.{i}"
        if not isinstance(e, dict):
            raise ReviewError(where, "an entity is an object with start, end and label")
        start, end, label = e.get("start"), e.get("end"), e.get("label")
        if not isinstance(start, int) or not isinstance(end, int):
            raise ReviewError(f"{where}.start", "start and end must be integers")
        if not 0 <= start < end <= len(text):
            raise ReviewError(
                f"{where}.start",
                f"span [{start}, {end}) is outside the note ({len(text)} characters)",
            )
        if label not in CANONICAL_LABELS:
            raise ReviewError(f"{where}.label", f"unknown label {label!r}")
        out.append({"start": start, "end": end, "text": text[start:end], "label": label})
    out.sort(key=lambda e: (e["start"], e["end"]))
    for a, b in itertools.pairwise(out):
        if b["start"] < a["end"]:
            raise ReviewError(
                "entities",
                f"spans [{a['start']}, {a['end']}) and [{b['start']}, {b['end']}) overlap",
            )
    return out


def submit(
    engine: Engine,
    reviewer: str,
    task_id: int,
    entities: Sequence[Any],
    actions: Sequence[dict[str, Any]] = (),
    seconds_active: float = 0.0,
    now: datetime | None = None,
) -> int:
    """Record a review: each action as an event, then the ``submit`` event and the validated
    entity set, in one transaction (committed before this returns: "saved" is durable).
    Returns the review's id."""
    now = now or datetime.now(UTC)
    with Session(engine) as session, session.begin():
        task = session.get(ReviewTask, task_id)
        if task is None:
            raise ReviewError("task_id", f"no task {task_id}")
        if task.text is None:
            raise ReviewError("task_id", f"task {task_id}'s text was purged")
        lease = session.execute(
            select(ReviewLease.id)
            .where(ReviewLease.task_id == task_id, ReviewLease.reviewer == reviewer)
            .limit(1)
        ).scalar_one_or_none()
        if lease is None:
            raise ReviewError("task_id", f"task {task_id} was not handed to {reviewer}")
        done = session.execute(
            select(Review.id).where(Review.task_id == task_id, Review.reviewer == reviewer)
        ).scalar_one_or_none()
        if done is not None:
            raise ReviewError("task_id", f"{reviewer} already submitted task {task_id}")
        validated = validate_entities(task.text, entities)
        rows = []
        for i, action in enumerate(actions):
            name = action.get("action")
            if name not in ACTIONS:
                raise ReviewError(f"actions.{i}.action", f"unknown action {name!r}")
            rows.append(
                {
                    "at": now,
                    "task_id": task_id,
                    "reviewer": reviewer,
                    "action": name,
                    "before": action.get("before"),
                    "after": action.get("after"),
                    "model_version": task.model_version,
                }
            )
        rows.append(
            {
                "at": now,
                "task_id": task_id,
                "reviewer": reviewer,
                "action": "submit",
                "before": None,
                "after": {"entities": len(validated)},
                "model_version": task.model_version,
            }
        )
        session.execute(insert(ReviewEvent), rows)
        review = Review(
            task_id=task_id,
            reviewer=reviewer,
            submitted_at=now,
            entities=validated,
            seconds_active=max(0.0, float(seconds_active)),
            model_version=task.model_version,
        )
        session.add(review)
        session.flush()
        close_if_done(session, task, now)
        return int(review.id)


def close_if_done(session: Session, task: ReviewTask, now: datetime) -> None:
    """Take a task out of the queue's open part once it has all its reviews."""
    count = session.execute(
        select(func.count(Review.id)).where(Review.task_id == task.id)
    ).scalar_one()
    if count >= task.reviews_needed and task.closed_at is None:
        task.closed_at = now


def skip_task(engine: Engine, reviewer: str, task_id: int, now: datetime | None = None) -> None:
    """The validator gives a task back: a ``skip`` event, and its lease ends now (the task is
    not handed to this validator again)."""
    now = now or datetime.now(UTC)
    with Session(engine) as session, session.begin():
        lease = (
            session.execute(
                select(ReviewLease).where(
                    ReviewLease.task_id == task_id,
                    ReviewLease.reviewer == reviewer,
                    ReviewLease.expires_at > now,
                )
            )
            .scalars()
            .all()
        )
        if not lease:
            raise ReviewError("task_id", f"task {task_id} is not leased to {reviewer}")
        task = session.get(ReviewTask, task_id)
        assert task is not None
        for row in lease:
            row.expires_at = now
        session.add(
            ReviewEvent(
                at=now,
                task_id=task_id,
                reviewer=reviewer,
                action="skip",
                before=None,
                after=None,
                model_version=task.model_version,
            )
        )


def progress(engine: Engine, reviewer: str, now: datetime | None = None) -> dict[str, int]:
    """Reviews the validator submitted since midnight UTC, and tasks left to review."""
    now = now or datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with Session(engine) as session:
        done = session.execute(
            select(func.count(Review.id)).where(
                Review.reviewer == reviewer, Review.submitted_at >= midnight
            )
        ).scalar_one()
        left = session.execute(
            select(func.count(ReviewTask.id)).where(ReviewTask.closed_at.is_(None))
        ).scalar_one()
    return {"done_today": int(done), "left": int(left)}


@dataclass
class ExportSummary:
    notes: int
    entities: int
    skipped_purged: int
    model_versions: list[str]
    first: str | None
    last: str | None


def _validated(
    engine: Engine, since: datetime | None, audit_only: bool
) -> Iterator[tuple[ReviewTask, Review]]:
    with Session(engine) as session:
        query = select(ReviewTask, Review).join(Review, Review.task_id == ReviewTask.id)
        if since is not None:
            query = query.where(Review.submitted_at >= since)
        if audit_only:
            query = query.where(ReviewTask.audit.is_(True))
        seen: set[int] = set()
        for task, review in session.execute(query.order_by(ReviewTask.id, Review.id)):
            if task.id in seen:  # a double-reviewed note: its first review
                continue
            seen.add(task.id)
            yield task, review


def export_reviews(
    engine: Engine, output: Path, since: datetime | None = None, audit_only: bool = False
) -> ExportSummary:
    """Validated notes as JSONL (``{"id", "text", "entities"}``, in task order) and a
    manifest beside it (``OUTPUT.manifest.json``)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    notes = entities = purged = 0
    versions: set[str] = set()
    dates: list[datetime] = []
    with output.open("w", encoding="utf-8") as f:
        for task, review in _validated(engine, since, audit_only):
            if task.text is None:
                purged += 1
                continue
            record = {
                "id": task.note_id if task.note_id is not None else f"task-{task.id}",
                "text": task.text,
                "entities": review.entities,
            }
            f.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            notes += 1
            entities += len(review.entities)
            versions.add(review.model_version)
            dates.append(as_utc(review.submitted_at))
    summary = ExportSummary(
        notes,
        entities,
        purged,
        sorted(versions),
        min(dates).isoformat() if dates else None,
        max(dates).isoformat() if dates else None,
    )
    manifest = {
        "notes": summary.notes,
        "entities": summary.entities,
        "skipped_purged": summary.skipped_purged,
        "model_versions": summary.model_versions,
        "submitted_from": summary.first,
        "submitted_to": summary.last,
        "since": since.isoformat() if since else None,
        "audit_only": audit_only,
    }
    output.with_name(output.name + ".manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return summary


def reprioritize(
    engine: Engine,
    model: NerModel,
    model_dir: Path,
    threshold: float | None = None,
    batch: int = 500,
    now: datetime | None = None,
) -> int:
    """Give the notes still waiting (open, never reviewed, not leased now) the predictions of
    a new model and their place by its uncertainty, as if imported with it: after a promotion
    the queue asks validators about what the model *now* finds hard. Audit notes keep their
    random place; a note the new model finds every entity of confidently enough is routed by
    ``threshold`` as at import. Returns how many notes were re-ranked."""
    now = now or datetime.now(UTC)
    version = model_version(model_dir)
    reviewed = select(Review.task_id)
    leased = select(ReviewLease.task_id).where(ReviewLease.expires_at > now)
    query = (
        select(ReviewTask.id, ReviewTask.text, ReviewTask.audit, ReviewTask.note_id)
        .where(ReviewTask.closed_at.is_(None), ReviewTask.text.is_not(None))
        .where(ReviewTask.id.not_in(reviewed), ReviewTask.id.not_in(leased))
        .where(ReviewTask.model_version != version)
    )
    with Session(engine) as session:
        waiting = list(session.execute(query))
    done = 0
    for start in range(0, len(waiting), batch):
        updates = []
        for task_id, text, audit, note_id in waiting[start : start + batch]:
            assert text is not None  # purged notes are not waiting
            records = entity_records(model, text)
            row = _task_row(Note(note_id, text), records, version, "", 0.0, 0.0, now, threshold)
            updates.append(
                {
                    "task_id": task_id,
                    "predictions": records,
                    "model_version": version,
                    # an audit note keeps its random place; the others go by uncertainty
                    "priority": None if audit else row["priority"],
                    "auto_accept": row["auto_accept"],
                    "closed_at": None if audit else row["closed_at"],
                }
            )
        with Session(engine) as session, session.begin():
            for u in updates:
                values = {
                    "predictions": u["predictions"],
                    "model_version": u["model_version"],
                    "auto_accept": u["auto_accept"],
                    "closed_at": u["closed_at"],
                }
                if u["priority"] is not None:
                    values["priority"] = u["priority"]
                session.execute(
                    update(ReviewTask).where(ReviewTask.id == u["task_id"]).values(**values)
                )
        done += len(updates)
    return done


def purge_text(engine: Engine, retention_days: int, now: datetime | None = None) -> int:
    """Remove the text of tasks queued more than ``retention_days`` ago; returns how many."""
    if retention_days < 0:
        raise MednerError("the retention period cannot be negative")
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=retention_days)
    with engine.begin() as conn:
        result = conn.execute(
            update(ReviewTask)
            .where(ReviewTask.created_at < cutoff, ReviewTask.text.is_not(None))
            .values(text=None, purged_at=now, closed_at=func.coalesce(ReviewTask.closed_at, now))
        )
    return int(result.rowcount or 0)
