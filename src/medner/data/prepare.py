"""The pipeline's ``prepare`` stage: raw corpora → validated canonical JSONL splits + a report.

Validation, in order, and what happens on failure:

- schema and tagging: the readers parse strictly (IOB/IOBES validity, token/label counts, known
  labels) and raise :class:`~medner.errors.DataFormatError` naming file and line;
- label set: every entity's label must be one the pipeline trains (``labels``), else
  :class:`~medner.errors.DataFormatError`;
- spans: inside the text, ``text[start:end] == entity.text``, sorted, non-overlapping;
- leakage: a sentence of the test split that also occurs (after lower-casing and collapsing
  spaces) in train or dev, or a dev sentence that also occurs in train. ``leakage: drop`` (the
  default) removes it from the *training-side* split, so the test split stays the published
  one; ``warn`` keeps it and reports it; ``fail`` stops.

The dev split, when the corpus has none (BioText), is carved from train with a fixed seed.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from medner.data.readers import read_corpus
from medner.data.writers import write_jsonl
from medner.errors import DataFormatError
from medner.labels import DISEASE, TREATMENT
from medner.text import tokenize
from medner.types import Document

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")


class PrepareParams(BaseModel):
    """The ``prepare`` section of ``params.yaml``."""

    model_config = ConfigDict(extra="forbid")

    train: list[Path] = Field(description="Raw training corpora.")
    test: list[Path] = Field(description="Raw test corpora (the fixed, published test split).")
    dev: list[Path] = Field(
        default_factory=list, description="Raw dev corpora; empty: carve dev from train."
    )
    dev_fraction: float = Field(0.1, gt=0, lt=1, description="Share of train carved as dev.")
    seed: int = Field(13, description="Seed of the dev carve.")
    labels: list[str] = Field(
        default=[DISEASE, TREATMENT], description="Entity labels the pipeline trains."
    )
    leakage: Literal["drop", "warn", "fail"] = Field(
        "drop", description="What to do with sentences shared across splits."
    )


@dataclass(slots=True)
class PrepareResult:
    """The splits written and the data report."""

    paths: dict[str, Path]
    report: dict[str, Any]


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _load(paths: Sequence[Path]) -> list[Document]:
    docs: list[Document] = []
    for path in paths:
        docs.extend(read_corpus(path))
    return docs


def validate_documents(docs: Sequence[Document], labels: Sequence[str], where: str) -> None:
    """Check labels and spans of every document.

    Raises:
        DataFormatError: naming the split, the document id and what is wrong.
    """
    allowed = set(labels)
    for doc in docs:
        previous_end = 0
        for ent in doc.entities:
            problem = None
            if ent.label not in allowed:
                problem = f"label {ent.label!r} is not one of {', '.join(sorted(allowed))}"
            elif not 0 <= ent.start < ent.end <= len(doc.text):
                problem = f"span {ent.start}-{ent.end} is outside the text"
            elif doc.text[ent.start : ent.end] != ent.text:
                problem = f"span {ent.start}-{ent.end} does not hold {ent.text!r}"
            elif ent.start < previous_end:
                problem = f"entity at {ent.start} overlaps the previous one or is out of order"
            if problem:
                raise DataFormatError(where, None, f"document {doc.id}: {problem}")
            previous_end = ent.end


def split_statistics(docs: Sequence[Document]) -> dict[str, Any]:
    """Sizes of one split: documents, tokens, entities per label, mean entity length."""
    per_label = Counter(e.label for d in docs for e in d.entities)
    entity_tokens = [len(tokenize(e.text)) for d in docs for e in d.entities]
    return {
        "documents": len(docs),
        "tokens": sum(len(tokenize(d.text)) for d in docs),
        "documents_without_entities": sum(1 for d in docs if not d.entities),
        "entities": dict(sorted(per_label.items())),
        "mean_entity_tokens": round(sum(entity_tokens) / len(entity_tokens), 3)
        if entity_tokens
        else 0.0,
        "duplicates_within": len(docs) - len({_key(d.text) for d in docs}),
    }


def _shared(a: Sequence[Document], b: Sequence[Document]) -> int:
    keys = {_key(d.text) for d in b}
    return sum(1 for d in a if _key(d.text) in keys)


def _drop_shared(docs: list[Document], others: Sequence[Document]) -> list[Document]:
    keys = {_key(d.text) for d in others}
    return [d for d in docs if _key(d.text) not in keys]


def prepare(params: PrepareParams, output: Path) -> PrepareResult:
    """Read, validate and split the raw corpora; write ``train/dev/test.jsonl`` and
    ``report.json`` under ``output``.

    Raises:
        DataFormatError: malformed corpus, unexpected label or invalid span.
        DataFormatError: leakage across splits when ``leakage`` is ``fail``.
    """
    splits: dict[str, list[Document]] = {
        "train": _load(params.train),
        "test": _load(params.test),
    }
    if params.dev:
        splits["dev"] = _load(params.dev)
        dev_source = "corpus"
    else:
        order = list(range(len(splits["train"])))
        random.Random(params.seed).shuffle(order)
        n_dev = max(1, round(len(order) * params.dev_fraction))
        dev_ids = set(order[:n_dev])
        splits["dev"] = [d for i, d in enumerate(splits["train"]) if i in dev_ids]
        splits["train"] = [d for i, d in enumerate(splits["train"]) if i not in dev_ids]
        dev_source = f"carved from train: {params.dev_fraction:.0%}, seed {params.seed}"
    for name in SPLITS:
        validate_documents(splits[name], params.labels, f"{name} split")

    leakage_before = {
        "train_in_test": _shared(splits["train"], splits["test"]),
        "dev_in_test": _shared(splits["dev"], splits["test"]),
        "train_in_dev": _shared(splits["train"], splits["dev"]),
    }
    leaked = sum(leakage_before.values())
    if leaked and params.leakage == "fail":
        raise DataFormatError(
            "prepare", None, f"{leaked} sentences are shared across splits: {leakage_before}"
        )
    if params.leakage == "drop":
        splits["dev"] = _drop_shared(splits["dev"], splits["test"])
        splits["train"] = _drop_shared(_drop_shared(splits["train"], splits["test"]), splits["dev"])
    if leaked:
        logger.warning(
            "%d sentences shared across splits (%s); leakage policy: %s",
            leaked,
            ", ".join(f"{k} {v}" for k, v in leakage_before.items()),
            params.leakage,
        )

    output.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name in SPLITS:
        paths[name] = output / f"{name}.jsonl"
        write_jsonl(splits[name], paths[name])
    report: dict[str, Any] = {
        "sources": {
            "train": [str(p) for p in params.train],
            "dev": [str(p) for p in params.dev] or dev_source,
            "test": [str(p) for p in params.test],
        },
        "labels": params.labels,
        "splits": {name: split_statistics(splits[name]) for name in SPLITS},
        "leakage": {
            "policy": params.leakage,
            "shared_before": leakage_before,
            "shared_after": {
                "train_in_test": _shared(splits["train"], splits["test"]),
                "dev_in_test": _shared(splits["dev"], splits["test"]),
                "train_in_dev": _shared(splits["train"], splits["dev"]),
            },
        },
        "validation": "passed: strict tagging, label set, spans",
    }
    (output / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return PrepareResult(paths=paths, report=report)
