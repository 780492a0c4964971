"""Score a model on a labelled dataset, and write the error report."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medner.errors import ConfigError
from medner.evaluation.metrics import (
    EntityScores,
    bootstrap_f1,
    score_entities,
    token_weighted_f1,
)
from medner.models.abbreviations import carries_abbreviations, carry_across_documents
from medner.models.base import NerModel
from medner.models.tagging import sentence_token_spans
from medner.types import Document, Entity

CONTEXT_CHARS = 60


@dataclass(slots=True)
class Evaluation:
    """Scores of one model on one dataset, with its predictions."""

    scores: EntityScores
    token_weighted_f1: float
    sentences: int
    predictions: list[list[Entity]]
    ci95: dict[str, tuple[float, float]] | None = None
    context: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``medner evaluate --format json`` (DESIGN.md); ``ci95`` (bootstrap
        intervals of F1, micro and per label) only when they were computed."""
        out = self.scores.to_dict()
        out["token_weighted_f1"] = round(self.token_weighted_f1, 6)
        out["sentences"] = self.sentences
        if self.context:
            out["context"] = self.context
        if self.ci95 is not None:
            out["ci95"] = {k: list(v) for k, v in self.ci95.items()}
        return out


def evaluate_model(
    model: NerModel,
    documents: Sequence[Document],
    on_document: Callable[[], None] | None = None,
    bootstrap: int = 0,
    context: int = 0,
) -> Evaluation:
    """Predict every document's entities from its raw text and score them strictly; with
    ``bootstrap`` > 0, add 95 % bootstrap intervals of F1 over that many resamples.

    With ``context`` > 0 (a model that reads neighbouring sentences or carries abbreviations
    only), each document also sees the ``context`` documents before and after it, for corpora
    stored one sentence per document in their original order: a transformer with
    ``context_words`` reads their words, and an abbreviation defined in a neighbouring sentence
    of the same abstract is carried to this one (:mod:`medner.models.abbreviations`).
    """
    reads = reads_context(model)
    if context and not reads and not carries_abbreviations(model):
        raise ConfigError(
            "context only serves a model that reads neighbouring sentences or carries "
            "abbreviations, and this one does neither: make a copy that carries abbreviations "
            "with `medner set-decoding MODEL --output DIR --abbreviations`"
        )
    predictions: list[list[Entity]] = []
    if context and reads:
        predictions = model.predict_documents([d.text for d in documents], context)  # type: ignore[attr-defined]
        if on_document is not None:
            for _ in documents:
                on_document()
    else:
        for doc in documents:
            predictions.append(model.predict(doc.text))
            if on_document is not None:
                on_document()
    if context and not reads:
        predictions = carry_across_documents(
            [d.text for d in documents],
            [sentence_token_spans(d.text) for d in documents],
            predictions,
            context,
        )
    gold = [d.entities for d in documents]
    return Evaluation(
        scores=score_entities(gold, predictions),
        token_weighted_f1=token_weighted_f1(documents, predictions),
        sentences=len(documents),
        predictions=predictions,
        ci95=bootstrap_f1(gold, predictions, bootstrap) if bootstrap > 0 else None,
        context=context,
    )


def reads_context(model: NerModel) -> bool:
    """Whether ``model`` reads the words of neighbouring sentences (a transformer trained with
    ``context_words``)."""
    config = getattr(model, "config", None)
    return bool(getattr(config, "context_words", 0)) and hasattr(model, "predict_documents")


def dev_context(model: NerModel, documents: Sequence[Document]) -> int:
    """The ``context`` a freshly trained model is scored on its dev data with: all of it, as
    running text, for a model that reads neighbouring sentences (as its training read its
    corpus); none for any other."""
    return len(documents) if reads_context(model) else 0


def dev_f1(model: NerModel, documents: Sequence[Document]) -> float:
    """Strict micro F1 of a freshly trained model on its dev data (read as ``dev_context``
    says): what early stopping ranks epochs by."""
    return evaluate_model(model, documents, context=dev_context(model, documents)).scores.micro.f1


def _context(text: str, start: int, end: int) -> str:
    left = text[max(0, start - CONTEXT_CHARS) : start]
    right = text[end : end + CONTEXT_CHARS]
    return f"{left}[[{text[start:end]}]]{right}"


def error_kind(entity: Entity, others: Sequence[Entity]) -> tuple[str, Entity | None]:
    """Why ``entity`` has no exact match among ``others``: ``label`` (same span, other label),
    ``boundary`` (overlapping span) or ``spurious``/``missed`` is decided by the caller."""
    for other in others:
        if other.start == entity.start and other.end == entity.end:
            return "label", other
    for other in others:
        if other.start < entity.end and entity.start < other.end:
            return "boundary", other
    return "", None


def write_error_report(
    documents: Sequence[Document], predictions: Sequence[Sequence[Entity]], path: Path
) -> int:
    """Write false positives and false negatives with context as JSONL; returns the count.

    Each line: ``{"id", "type": "fp"|"fn", "kind": "label"|"boundary"|"spurious"|"missed",
    "entity", "counterpart", "context"}``; the entity is bracketed ``[[...]]`` in the context.
    """
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for doc, pred in zip(documents, predictions, strict=True):
            gold_keys = {e.key for e in doc.entities}
            pred_keys = {e.key for e in pred}
            rows: list[tuple[str, Entity, Sequence[Entity], str]] = [
                ("fp", e, doc.entities, "spurious") for e in pred if e.key not in gold_keys
            ]
            rows += [("fn", e, pred, "missed") for e in doc.entities if e.key not in pred_keys]
            for kind, entity, others, default in sorted(rows, key=lambda r: r[1].start):
                why, counterpart = error_kind(entity, others)
                fh.write(
                    json.dumps(
                        {
                            "id": doc.id,
                            "type": kind,
                            "kind": why or default,
                            "entity": entity.to_dict(),
                            "counterpart": counterpart.to_dict() if counterpart else None,
                            "context": _context(doc.text, entity.start, entity.end),
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
                count += 1
    return count


NO_ENTITY = "none"


def label_confusion(
    documents: Sequence[Document], predictions: Sequence[Sequence[Entity]]
) -> list[tuple[str, str]]:
    """``(actual, predicted)`` per span: a gold span with the label predicted on exactly that
    span (``none`` if no prediction has that span), then predicted spans with no gold span."""
    pairs: list[tuple[str, str]] = []
    for doc, pred in zip(documents, predictions, strict=True):
        predicted = {(e.start, e.end): e.label for e in pred}
        gold_spans = {(e.start, e.end) for e in doc.entities}
        pairs += [(e.label, predicted.get((e.start, e.end), NO_ENTITY)) for e in doc.entities]
        pairs += [(NO_ENTITY, e.label) for e in pred if (e.start, e.end) not in gold_spans]
    return pairs


def write_plot_data(
    documents: Sequence[Document], evaluation: Evaluation, folder: Path
) -> list[Path]:
    """CSV data of the evaluation plots (``dvc plots show`` draws them): per-label F1 and the
    confusion of labels."""
    folder.mkdir(parents=True, exist_ok=True)
    per_label = folder / "per_label_f1.csv"
    rows = ["label,f1,precision,recall,support"]
    for label, s in sorted(evaluation.scores.per_label.items()):
        rows.append(f"{label},{s.f1:.6f},{s.precision:.6f},{s.recall:.6f},{s.support}")
    m = evaluation.scores.micro
    rows.append(f"micro,{m.f1:.6f},{m.precision:.6f},{m.recall:.6f},{m.support}")
    per_label.write_text("\n".join(rows) + "\n", encoding="utf-8")
    confusion = folder / "confusion.csv"
    pairs = label_confusion(documents, evaluation.predictions)
    confusion.write_text(
        "actual,predicted\n" + "".join(f"{a},{p}\n" for a, p in pairs), encoding="utf-8"
    )
    return [per_label, confusion]
