"""Datasets as lists of documents, and the digest that identifies a dataset's files."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

from medner.data.readers import biotext_pair, read_corpus
from medner.types import Document

logger = logging.getLogger(__name__)


def file_digest(path: Path) -> str:
    """SHA-256 of a file (of both files of a BioText pair, given either)."""
    digest = hashlib.sha256()
    paths = [path]
    if path.name.endswith(("_sent", "_label")) or not path.exists():
        paths = list(biotext_pair(path))
    for p in paths:
        digest.update(p.read_bytes())
    return digest.hexdigest()


def load_documents(
    paths: Sequence[Path], labels: Sequence[str] | None = None, warn_mixed: bool = False
) -> list[Document]:
    """All documents of the given datasets, in order; with ``labels``, only those entities.

    With ``warn_mixed``, datasets that annotate different types are reported in a warning: a
    word that is O in one may be an entity of a type only another annotates (``labels`` keeps
    the shared ones).
    """
    docs: list[Document] = []
    seen: dict[Path, set[str]] = {}
    for path in paths:
        before = len(docs)
        docs.extend(read_corpus(path))
        seen[path] = {e.label for d in docs[before:] for e in d.entities}
    if labels is not None:
        keep = set(labels)
        for doc in docs:
            doc.entities = [e for e in doc.entities if e.label in keep]
    elif warn_mixed and len(seen) > 1:
        union = set().union(*seen.values())
        for path, found in seen.items():
            if found and found != union:
                logger.warning(
                    "%s has no %s entities, which other datasets annotate: its O words may be "
                    "unannotated ones (set labels to the shared types to train on those only)",
                    path,
                    ", ".join(sorted(union - found)),
                )
    return docs
