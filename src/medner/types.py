"""The vocabulary shared by every stage: a note's text, its entities, and labelled documents.

An entity is a labelled character span of the original note with a confidence, with offsets in
Unicode code points and ``note[start:end] == text`` (the contract of DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NoteId = str | int


@dataclass(frozen=True, slots=True)
class Entity:
    """A labelled character span of a note."""

    start: int
    end: int
    text: str
    label: str
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """The entity in the contract's JSON form."""
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "label": self.label,
            "confidence": round(self.confidence, 6),
        }

    @property
    def key(self) -> tuple[int, int, str]:
        """What strict matching compares: exact start, end and label."""
        return (self.start, self.end, self.label)


@dataclass(slots=True)
class Document:
    """A text with its (gold or predicted) entities.

    ``tokens`` holds the corpus's own token spans when the document came from a tokenized corpus
    (CoNLL, BioText); writers and the token-level metric use them. Raw notes have none.
    """

    id: NoteId
    text: str
    entities: list[Entity] = field(default_factory=list)
    tokens: list[tuple[int, int]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The document in medner's JSONL form."""
        return {
            "id": self.id,
            "text": self.text,
            "entities": [e.to_dict() for e in self.entities],
        }
