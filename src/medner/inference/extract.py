"""``medner extract``: notes in, entities out as JSONL, streaming with constant memory."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from medner.inference.notes import Note
from medner.models.base import NerModel

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ExtractionSummary:
    """Counts of one extraction run (no note text)."""

    notes: int = 0
    failed: int = 0
    characters: int = 0
    entities: Counter[str] = field(default_factory=Counter)


def extract_file(
    model: NerModel,
    notes: Iterable[Note],
    output: Path,
    include_text: bool = False,
    on_note: Callable[[int], None] | None = None,
) -> ExtractionSummary:
    """Extract entities from each note and write one JSONL line per note, in input order.

    Every note comes out: a note that cannot be processed is written with no entities and an
    ``error`` field saying why. Lines are ``{"id", "entities": [...]}`` (plus ``"text"`` when
    ``include_text``, which makes the output a medner JSONL corpus for review).

    Args:
        on_note: called with the number of characters of each note as it is done.
    """
    summary = ExtractionSummary()
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as fh:
        for note in notes:
            summary.notes += 1
            record: dict[str, object] = {"id": note.id}
            if note.text is None:
                summary.failed += 1
                reason = note.problem or "no text"  # a location and a cause, never the text
                record["entities"] = []
                record["error"] = reason
                logger.warning("id %s skipped: %s", record["id"], reason)
            else:
                entities = model.predict(note.text)
                summary.characters += len(note.text)
                summary.entities.update(e.label for e in entities)
                if include_text:
                    record["text"] = note.text
                record["entities"] = [e.to_dict() for e in entities]
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            if on_note is not None:
                on_note(len(note.text or ""))
    return summary
