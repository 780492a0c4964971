"""Inference: the one extraction path (entity_records), notes read in any format, JSONL out."""

from medner.inference.extract import ExtractionSummary, entity_records, extract_file
from medner.inference.notes import Note, count_notes, read_notes

__all__ = [
    "ExtractionSummary",
    "Note",
    "count_notes",
    "entity_records",
    "extract_file",
    "read_notes",
]
