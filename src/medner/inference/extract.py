"""The one extraction path: a note's text in, its entity records out.

:func:`entity_records` is what ``medner extract`` (:func:`extract_file`), the API's extraction
processes and the Spark job (``medner batch``) each call for every note, so the three give the
same entities for the same note and model. ``extract_file`` streams notes to JSONL with constant
memory.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medner.inference.notes import Note
from medner.models.base import NerModel
from medner.models.calibration import calibration_of
from medner.text.sections import find_headings, section_of

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ExtractionSummary:
    """Counts of one extraction run (no note text)."""

    notes: int = 0
    failed: int = 0
    characters: int = 0
    entities: Counter[str] = field(default_factory=Counter)


# The longest gold entity in every corpus medner trains or is scored on is 203 characters
# (BioText train; NCBI-disease 84, BC5CDR 154). A span longer than this is a run-away (a note
# without spaces read as one token), not a disease or a treatment: it is not reported.
MAX_ENTITY_CHARS = 512


def entity_records(
    model: NerModel,
    text: str,
    sentences: bool = False,
    sections: bool = False,
    meaning: Collection[str] = (),
) -> list[dict[str, Any]]:
    """The entities of one note in the contract's form (``{"start", "end", "text", "label",
    "confidence"}``, in order); with ``sentences``, each also names its sentence (0-based);
    with ``sections``, the heading of the section it is in (``"dx"``, ``"rx"``,
    ``"allergies"``; ``None`` before the first heading). Spans over ``MAX_ENTITY_CHARS``
    characters are left out. A calibrated model's confidences are calibrated here
    (medner.models.calibration).

    ``meaning`` names the optional fields to add (medner.meaning, docs/meaning.md):
    ``"assertion"``, ``"concept"`` and ``"links"`` (each TREATMENT gains ``"treats"``: the
    indices, in this list, of the diseases it is given for). Without them the records are
    exactly what they were before these fields existed."""
    headings = find_headings(text) if sections or meaning else []
    calibration = calibration_of(getattr(model, "metadata", None) or {})
    records = []
    for number, sentence in enumerate(model.predict_by_sentence(text)):
        for entity in sentence:
            if entity.end - entity.start > MAX_ENTITY_CHARS:
                continue
            record = entity.to_dict()
            if calibration is not None:
                record["confidence"] = round(calibration.apply(entity.label, entity.confidence), 6)
            if sentences:
                record["sentence"] = number
            if sections:
                record["section"] = section_of(headings, entity.start)
            records.append(record)
    if meaning:
        add_meaning(text, records, meaning, headings)
    return records


def add_meaning(
    text: str,
    records: list[dict[str, Any]],
    fields: Collection[str],
    headings: list[Any] | None = None,
) -> None:
    """Add the ``fields`` of medner.meaning to the entity records of ``text`` in place (see
    ``entity_records``)."""
    from medner.meaning import annotate

    links = annotate(text, records, set(fields), headings)
    if "links" in fields:
        for record in records:
            if record["label"] == "TREATMENT":
                record["treats"] = []
        for treatment, disease in links:
            records[treatment]["treats"].append(disease)


def extract_file(
    model: NerModel,
    notes: Iterable[Note],
    output: Path,
    include_text: bool = False,
    on_note: Callable[[int], None] | None = None,
    profiler: Callable[[str, list[dict[str, Any]]], dict[str, float]] | None = None,
    meaning: Collection[str] = (),
) -> ExtractionSummary:
    """Extract entities from each note and write one JSONL line per note, in input order.

    Every note comes out: a note that cannot be processed is written with no entities and an
    ``error`` field saying why. Lines are ``{"id", "entities": [...]}`` (plus ``"text"`` when
    ``include_text``, which makes the output a medner JSONL corpus for review).

    Args:
        on_note: called with the number of characters of each note as it is done.
        profiler: when given, each line also carries ``profile``: what it returns for the
            note's text and entities (numbers only; medner.monitoring.profile).
        meaning: the optional fields each entity gains (``entity_records``).
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
                entities = entity_records(model, note.text, meaning=meaning)
                summary.characters += len(note.text)
                summary.entities.update(e["label"] for e in entities)
                if include_text:
                    record["text"] = note.text
                record["entities"] = entities
                if profiler is not None:
                    record["profile"] = profiler(note.text, entities)
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            if on_note is not None:
                on_note(len(note.text or ""))
    return summary
