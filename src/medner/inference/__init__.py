"""Inference over files of notes: read notes in any format, extract, write JSONL."""

from medner.inference.extract import ExtractionSummary, extract_file
from medner.inference.notes import Note, count_notes, read_notes

__all__ = ["ExtractionSummary", "Note", "count_notes", "extract_file", "read_notes"]
