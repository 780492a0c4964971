"""Corpus readers and writers (CoNLL-style TSV, the BioText pair, JSONL with spans), datasets
as documents, and the corpus registry."""

from medner.data.documents import file_digest, load_documents
from medner.data.readers import read_biotext, read_conll, read_corpus, read_jsonl
from medner.data.writers import write_conll, write_jsonl

__all__ = [
    "file_digest",
    "load_documents",
    "read_biotext",
    "read_conll",
    "read_corpus",
    "read_jsonl",
    "write_conll",
    "write_jsonl",
]
