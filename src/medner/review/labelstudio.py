"""Label Studio interchange, for teams that already annotate there.

- ``export_tasks``: queued notes as Label Studio tasks (its JSON import format), each with the
  model's entities as a prediction, for a text project whose labelling config is
  ``LABEL_CONFIG`` (``<Labels name="label" toName="text">``).
- ``import_annotations``: Label Studio's JSON export back into medner as reviews. A task that
  medner exported is matched by ``data.medner_task_id``; any other becomes a new task
  (``source`` ``labelstudio``). Each completed annotation is one review by
  ``labelstudio:<completed_by>``, recorded with an ``import`` event, like a review from the page.

Offsets: medner's are Unicode code points; Label Studio's frontend has stored both code points and
JavaScript (UTF-16) string offsets over its versions. An imported region is checked against
its own ``text``: code points first, then UTF-16; a region that matches neither is reported
(task and region) and left out.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medner.errors import DataFormatError
from medner.labels import CANONICAL_LABELS
from medner.review.queue import ReviewError, close_if_done, validate_entities
from medner.store.tables import Review, ReviewEvent, ReviewTask

LABEL_CONFIG = """<View>
  <Labels name="label" toName="text">
    <Label value="DISEASE" background="#c0392b"/>
    <Label value="TREATMENT" background="#2471a3"/>
  </Labels>
  <Text name="text" value="$text"/>
</View>
"""


def export_tasks(engine: Engine, output: Path) -> int:
    """Every queued note that still has its text, as Label Studio tasks with predictions."""
    tasks = []
    with Session(engine) as session:
        for task in session.execute(
            select(ReviewTask).where(ReviewTask.text.is_not(None)).order_by(ReviewTask.id)
        ).scalars():
            result = [
                {
                    "id": f"m{task.id}-{i}",
                    "from_name": "label",
                    "to_name": "text",
                    "type": "labels",
                    "value": {
                        "start": e["start"],
                        "end": e["end"],
                        "text": e["text"],
                        "labels": [e["label"]],
                    },
                    "score": e.get("confidence"),
                }
                for i, e in enumerate(task.predictions)
            ]
            tasks.append(
                {
                    "data": {"text": task.text, "note_id": task.note_id, "medner_task_id": task.id},
                    "predictions": [{"model_version": task.model_version, "result": result}],
                }
            )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(tasks, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return len(tasks)


def _utf16_to_code_points(text: str, offset: int) -> int | None:
    units = 0
    for i, ch in enumerate(text):
        if units == offset:
            return i
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(text) if units == offset else None


def _region(text: str, value: dict[str, Any]) -> dict[str, Any] | None:
    """A region's entity in code points, or ``None`` when its offsets do not hold its text."""
    start, end, labels = value.get("start"), value.get("end"), value.get("labels") or []
    if not isinstance(start, int) or not isinstance(end, int) or len(labels) != 1:
        return None
    shown = value.get("text")
    candidates = [(start, end)]
    s16, e16 = _utf16_to_code_points(text, start), _utf16_to_code_points(text, end)
    if s16 is not None and e16 is not None:
        candidates.append((s16, e16))
    for a, b in candidates:
        if 0 <= a < b <= len(text) and (shown is None or text[a:b] == shown):
            return {"start": a, "end": b, "label": labels[0]}
    return None


@dataclass
class LabelStudioImport:
    reviews: int = 0
    new_tasks: int = 0
    problems: list[str] = field(default_factory=list)  # task and region, never note text


def import_annotations(engine: Engine, path: Path) -> LabelStudioImport:
    """Label Studio's JSON export (a list of tasks with ``annotations``) as medner reviews."""
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(path, None, f"not a Label Studio JSON export ({exc})") from exc
    if not isinstance(tasks, list):
        raise DataFormatError(path, None, "a Label Studio export is a JSON list of tasks")
    summary = LabelStudioImport()
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        for n, item in enumerate(tasks):
            data = item.get("data") if isinstance(item, dict) else None
            text = data.get("text") if isinstance(data, dict) else None
            if not isinstance(data, dict) or not isinstance(text, str):
                summary.problems.append(f"{path} task {n}: no data.text")
                continue
            task, created = _task_for(session, data, text, now)
            summary.new_tasks += created
            for annotation in item.get("annotations") or []:
                if annotation.get("was_cancelled"):
                    continue
                entities = []
                for r, region in enumerate(annotation.get("result") or []):
                    if region.get("type") != "labels":
                        continue
                    entity = _region(text, region.get("value") or {})
                    if entity is None or entity["label"] not in CANONICAL_LABELS:
                        summary.problems.append(f"{path} task {n} region {r}: offsets or label")
                        continue
                    entities.append(entity)
                try:
                    validated = validate_entities(text, entities)
                except ReviewError as exc:  # overlapping regions: the whole annotation is out
                    summary.problems.append(f"{path} task {n}: {exc}")
                    continue
                reviewer = f"labelstudio:{annotation.get('completed_by', 'unknown')}"[:64]
                done = session.execute(
                    select(Review.id).where(Review.task_id == task.id, Review.reviewer == reviewer)
                ).first()
                if done:
                    continue  # imported before: importing again changes nothing
                session.add(
                    ReviewEvent(
                        at=now,
                        task_id=task.id,
                        reviewer=reviewer,
                        action="import",
                        before=None,
                        after={"entities": len(validated)},
                        model_version=task.model_version,
                    )
                )
                session.add(
                    Review(
                        task_id=task.id,
                        reviewer=reviewer,
                        submitted_at=now,
                        entities=validated,
                        seconds_active=float(annotation.get("lead_time") or 0.0),
                        model_version=task.model_version,
                    )
                )
                session.flush()
                close_if_done(session, task, now)
                summary.reviews += 1
    return summary


def _task_for(
    session: Session, data: dict[str, Any], text: str, now: datetime
) -> tuple[ReviewTask, bool]:
    sha = hashlib.sha256(text.encode()).hexdigest()
    task_id = data.get("medner_task_id")
    if isinstance(task_id, int):
        task = session.get(ReviewTask, task_id)
        if task is not None and task.text_sha256 == sha:
            return task, False
    known = session.execute(
        select(ReviewTask)
        .where(ReviewTask.source == "labelstudio", ReviewTask.text_sha256 == sha)
        .limit(1)
    ).scalar_one_or_none()
    if known is not None:  # imported before
        return known, False
    task = ReviewTask(
        created_at=now,
        note_id=None if data.get("note_id") is None else str(data["note_id"])[:256],
        text=text,
        text_sha256=sha,
        predictions=[],
        model_version="labelstudio",
        source="labelstudio",
        priority=1.0,
        audit=False,
        reviews_needed=1,
        closed_at=None,
    )
    session.add(task)
    session.flush()
    return task, True
