"""The reviewed dataset (``data/reviewed/``): every validated note the review queue has given,
appended export by export, and its split for a retraining run.

``notes.jsonl`` holds one note a line in the project's JSONL (``{"id", "text", "entities"}``)
with what the split needs beside it (``task_id``, ``audit``, ``submitted_at``,
``model_version``); ``manifest.json`` says how far the exports have read the review record
(the last review id), with counts. The folder is a DVC output (``pipelines/retrain/dvc.yaml``),
so each version is in the DVC cache; a run outside DVC names it by its SHA-256 digest.

The note text is patient data: it is copied here because training needs it (docs/review.md).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medner.data.documents import file_digest
from medner.errors import MednerError
from medner.review.queue import as_utc
from medner.store.tables import Review, ReviewTask

NOTES = "notes.jsonl"
MANIFEST = "manifest.json"


@dataclass(slots=True)
class ExportResult:
    """What an export added to the dataset."""

    new: int
    total: int
    last_review_id: int
    digest: str | None


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        return {"last_review_id": 0, "notes": 0, "audit": 0, "exports": 0}
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise MednerError(f"{path}: not a manifest of the reviewed dataset ({exc})") from exc
    return data


def read_notes(folder: Path) -> list[dict[str, Any]]:
    """The dataset's notes, as stored."""
    path = folder / NOTES
    if not path.is_file():
        return []
    notes = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    notes.append(json.loads(line))
                except ValueError as exc:
                    raise MednerError(f"{path}, line {number}: invalid JSON ({exc})") from exc
    return notes


def export_new(engine: Engine, folder: Path, dry_run: bool = False) -> ExportResult:
    """Append the notes validated since the last export (each note once: its first review;
    a purged note is left out) and update the manifest. ``dry_run`` counts only."""
    manifest = read_manifest(folder)
    last = int(manifest.get("last_review_id", 0))
    known = {int(n["task_id"]) for n in read_notes(folder)}
    query = (
        select(ReviewTask, Review)
        .join(Review, Review.task_id == ReviewTask.id)
        .where(Review.id > last)
        .order_by(Review.id)
    )
    lines = []
    newest = last
    with Session(engine) as session:
        for task, review in session.execute(query):
            newest = max(newest, int(review.id))
            if task.id in known or task.text is None:
                continue
            known.add(task.id)
            record = {
                "id": task.note_id if task.note_id is not None else f"task-{task.id}",
                "text": task.text,
                "entities": review.entities,
                "task_id": task.id,
                "audit": bool(task.audit),
                "submitted_at": as_utc(review.submitted_at).isoformat(),
                "model_version": review.model_version,
            }
            lines.append(json.dumps(record, ensure_ascii=False, sort_keys=True))
    total = len(known)
    if dry_run:
        digest = file_digest(folder / NOTES) if (folder / NOTES).is_file() else None
        return ExportResult(len(lines), total, newest, digest)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / NOTES).open("a", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
    notes = read_notes(folder)
    manifest = {
        "last_review_id": newest,
        "notes": len(notes),
        "audit": sum(bool(n.get("audit")) for n in notes),
        "exports": int(manifest.get("exports", 0)) + (1 if lines else 0),
        "submitted_from": min((n["submitted_at"] for n in notes), default=None),
        "submitted_to": max((n["submitted_at"] for n in notes), default=None),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", "utf-8")
    digest = file_digest(folder / NOTES) if notes else None
    return ExportResult(len(lines), len(notes), newest, digest)


@dataclass(slots=True)
class Split:
    """A run's view of the dataset: notes to train on, notes to choose the weighting on (part
    of the training notes, held back only while choosing), and the newest audit notes held
    out to judge the candidate (never trained on)."""

    train: list[dict[str, Any]]
    dev: list[dict[str, Any]]
    holdout: list[dict[str, Any]]


def _unit(key: str) -> float:
    return int(hashlib.sha256(f"dev:{key}".encode()).hexdigest()[:13], 16) / float(1 << 52)


def split_by_time(notes: Sequence[dict[str, Any]], holdout_share: float, dev_share: float) -> Split:
    """The newest ``holdout_share`` of the audit notes (by submission time) are held out; of
    the rest, a stable ``dev_share`` (by task id) is the dev part."""
    if not 0 <= holdout_share < 1 or not 0 <= dev_share < 1:
        raise MednerError("the hold-out and dev shares must be in [0, 1)")
    ordered = sorted(notes, key=lambda n: (n["submitted_at"], n["task_id"]))
    audit = [n for n in ordered if n.get("audit")]
    held = {id(n) for n in audit[len(audit) - math.ceil(len(audit) * holdout_share) :]}
    holdout = [n for n in ordered if id(n) in held]
    rest = [n for n in ordered if id(n) not in held]
    dev = [n for n in rest if _unit(str(n["task_id"])) < dev_share]
    return Split(rest, dev, holdout)


def write_jsonl(notes: Sequence[dict[str, Any]], path: Path) -> Path:
    """Notes as the project's JSONL (only ``id``, ``text``, ``entities``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for n in notes:
            record = {"id": n["id"], "text": n["text"], "entities": n["entities"]}
            f.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
    return path
