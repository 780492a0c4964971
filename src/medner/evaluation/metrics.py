"""Strict entity-level precision, recall and F1, and the token-level weighted F1.

Strict matching: a predicted entity counts only if its start, end and label all equal a gold
entity's. This is the number medner reports first. The token-level weighted F1 (each token's
label, ``O`` included, F1 per class weighted by support, as ``sklearn``'s ``average="weighted"``)
is what the course notebook reported; it is shown beside the strict score because it looks far
better than the share of entities actually found.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from medner.text import tokenize
from medner.types import Document, Entity


@dataclass(frozen=True, slots=True)
class PRF:
    """Precision, recall, F1 and the gold count of one label (or of all)."""

    precision: float
    recall: float
    f1: float
    support: int
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @staticmethod
    def from_counts(tp: int, fp: int, fn: int) -> PRF:
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return PRF(precision, recall, f1, tp + fn, tp, fp, fn)

    def to_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 6),
            "recall": round(self.recall, 6),
            "f1": round(self.f1, 6),
            "support": self.support,
        }


@dataclass(slots=True)
class EntityScores:
    """Strict entity-level scores over a dataset."""

    micro: PRF
    macro_f1: float
    per_label: dict[str, PRF] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        micro = self.micro.to_dict()
        micro.pop("support")
        return {
            "micro": micro,
            "macro_f1": round(self.macro_f1, 6),
            "per_label": {k: v.to_dict() for k, v in sorted(self.per_label.items())},
        }


def score_entities(
    gold: Sequence[Sequence[Entity]], predicted: Sequence[Sequence[Entity]]
) -> EntityScores:
    """Strict scores of predicted entities against gold ones, document by document.

    Args:
        gold: each document's gold entities.
        predicted: each document's predicted entities, in the same order.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold documents but {len(predicted)} predicted")
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for g, p in zip(gold, predicted, strict=True):
        gold_keys = {e.key for e in g}
        pred_keys = {e.key for e in p}
        for key in gold_keys & pred_keys:
            tp[key[2]] += 1
        for key in pred_keys - gold_keys:
            fp[key[2]] += 1
        for key in gold_keys - pred_keys:
            fn[key[2]] += 1
    labels = sorted(set(tp) | set(fp) | set(fn))
    per_label = {lab: PRF.from_counts(tp[lab], fp[lab], fn[lab]) for lab in labels}
    micro = PRF.from_counts(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    macro = sum(s.f1 for s in per_label.values()) / len(per_label) if per_label else 0.0
    return EntityScores(micro=micro, macro_f1=macro, per_label=per_label)


def _token_labels(tokens: list[tuple[int, int]], entities: Sequence[Entity]) -> list[str]:
    """Each token's label: the label of an entity overlapping it, else ``O``."""
    labels = ["O"] * len(tokens)
    ordered = sorted(entities, key=lambda e: e.start)
    j = 0
    for i, (s, e) in enumerate(tokens):
        while j < len(ordered) and ordered[j].end <= s:
            j += 1
        if j < len(ordered) and ordered[j].start < e:
            labels[i] = ordered[j].label
    return labels


def token_weighted_f1(
    documents: Sequence[Document], predicted: Sequence[Sequence[Entity]]
) -> float:
    """Token-level F1 per class (``O`` included) averaged with support weights.

    Tokens are the corpus's own (``Document.tokens``) where the document has them.
    """
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    support: Counter[str] = Counter()
    for doc, pred in zip(documents, predicted, strict=True):
        tokens = doc.tokens if doc.tokens is not None else tokenize(doc.text)
        for g, p in zip(
            _token_labels(tokens, doc.entities), _token_labels(tokens, pred), strict=True
        ):
            support[g] += 1
            if g == p:
                tp[g] += 1
            else:
                fp[p] += 1
    total = sum(support.values())
    if not total:
        return 0.0
    weighted = 0.0
    for label, n in support.items():
        weighted += n * PRF.from_counts(tp[label], fp[label], n - tp[label]).f1
    return weighted / total


def bootstrap_f1(
    gold: Sequence[Sequence[Entity]],
    predicted: Sequence[Sequence[Entity]],
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 13,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of strict F1 (micro and per label), resampling documents
    with replacement ``samples`` times (fixed seed, so the intervals are reproducible)."""
    import numpy as np

    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold documents but {len(predicted)} predicted")
    if not gold or samples <= 0:
        return {}
    labels = sorted({e.label for d in (*gold, *predicted) for e in d})
    counts = np.zeros((len(gold), len(labels), 3))  # tp, fp, fn per document and label
    column = {label: i for i, label in enumerate(labels)}
    for row, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        gold_keys = {e.key for e in g}
        pred_keys = {e.key for e in p}
        for key in gold_keys & pred_keys:
            counts[row, column[key[2]], 0] += 1
        for key in pred_keys - gold_keys:
            counts[row, column[key[2]], 1] += 1
        for key in gold_keys - pred_keys:
            counts[row, column[key[2]], 2] += 1
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(gold), size=(samples, len(gold)))
    totals = counts[draws].sum(axis=1)  # samples x labels x 3

    def f1(tp: Any, fp: Any, fn: Any) -> Any:
        denominator = 2 * tp + fp + fn
        return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)

    tail = (1 - confidence) / 2 * 100
    intervals: dict[str, tuple[float, float]] = {}
    micro = f1(*(totals.sum(axis=1)[:, k] for k in range(3)))
    intervals["micro"] = (
        round(float(np.percentile(micro, tail)), 4),
        round(float(np.percentile(micro, 100 - tail)), 4),
    )
    for label, i in column.items():
        values = f1(totals[:, i, 0], totals[:, i, 1], totals[:, i, 2])
        intervals[label] = (
            round(float(np.percentile(values, tail)), 4),
            round(float(np.percentile(values, 100 - tail)), 4),
        )
    return intervals
