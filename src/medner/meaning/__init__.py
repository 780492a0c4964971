"""What a mention means: its assertion (present, absent, possible, history, family, planned),
its concept (the generic drug, the ICD-10-CM code) and the links from each treatment to the
diseases it is given for (docs/meaning.md).

:func:`annotate` adds them to a note's entity records; the one extraction path
(``medner.inference.extract.entity_records``) calls it when they are asked for.
"""

from __future__ import annotations

from typing import Any

from medner.labels import MEANING_FIELDS
from medner.meaning.assertion import NoteContext, assert_mention, prescribed
from medner.meaning.concepts import normalise_disease, normalise_treatment
from medner.meaning.links import link_entities
from medner.text.sections import Heading, find_headings


def annotate(
    text: str,
    records: list[dict[str, Any]],
    fields: frozenset[str] | set[str] = frozenset(MEANING_FIELDS),
    headings: list[Heading] | None = None,
) -> list[list[int]]:
    """Add ``assertion`` and ``concept`` (as asked in ``fields``) to each entity record of
    ``text`` in place, and return the note's links, ``[treatment index, disease index]`` pairs
    (empty unless ``"links"`` is asked for)."""
    headings = find_headings(text) if headings is None else headings
    need_assertion = "assertion" in fields or "links" in fields
    assertions: list[str] = []
    if need_assertion:
        context = NoteContext.of(text, headings, [(r["start"], r["end"]) for r in records])
        assertions = [assert_mention(context, r["start"], r["end"], r["label"]) for r in records]
        if "assertion" in fields:
            for record, assertion in zip(records, assertions, strict=True):
                record["assertion"] = assertion
    if "concept" in fields:
        for record in records:
            concept = None
            if record["label"] == "DISEASE":
                concept = normalise_disease(record["text"])
            elif record["label"] == "TREATMENT":
                concept = normalise_treatment(
                    record["text"], prescribed(text, record["start"], record["end"])
                )
            record["concept"] = concept.to_dict() if concept is not None else None
    if "links" not in fields:
        return []
    spans = [
        (r["start"], r["end"], r["label"], a) for r, a in zip(records, assertions, strict=True)
    ]
    return [list(pair) for pair in link_entities(text, spans, headings)]
