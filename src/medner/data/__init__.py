"""Corpus readers and writers: CoNLL-style TSV, the BioText pair, and JSONL with spans."""

from medner.data.readers import read_biotext, read_conll, read_corpus, read_jsonl
from medner.data.writers import write_conll, write_jsonl

__all__ = ["read_biotext", "read_conll", "read_corpus", "read_jsonl", "write_conll", "write_jsonl"]
