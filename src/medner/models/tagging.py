"""Between character spans and token tags: the encoding every sequence-labelling backend shares.

Training turns a document into sentences of words with BIO tags; prediction turns tags (and
per-token probabilities) back into entities on the original text. Both use medner's own sentence
splitter and tokenizer, so a model sees the same token boundaries in training and in use.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from medner.data.writers import token_tags
from medner.errors import MednerError
from medner.text import split_sentences, tokenize
from medner.types import Document, Entity

logger = logging.getLogger(__name__)

_SCHEMES = {"BIO": "IOB2", "BIOES": "IOBES"}


@dataclass(slots=True)
class TaggedSentence:
    """A sentence's token spans with their gold tags."""

    tokens: list[tuple[int, int]]
    tags: list[str]


def sentence_token_spans(text: str) -> list[list[tuple[int, int]]]:
    """Tokens of each sentence of a raw note (sentences with no token are dropped)."""
    out = []
    for a, b in split_sentences(text):
        tokens = tokenize(text, a, b)
        if tokens:
            out.append(tokens)
    return out


def _merged_sentences(doc: Document) -> list[tuple[int, int]]:
    """Sentence spans, merged where a gold entity crosses a boundary."""
    spans = split_sentences(doc.text)
    if not doc.entities or len(spans) < 2:
        return spans
    merged = [spans[0]]
    for a, b in spans[1:]:
        pa, pb = merged[-1]
        if any(e.start < pb and e.end > a for e in doc.entities):
            merged[-1] = (pa, b)
        else:
            merged.append((a, b))
    return merged


def encode_document(doc: Document, scheme: str = "BIO") -> Iterator[TaggedSentence]:
    """Tagged sentences of a labelled document, in the ``BIO`` (IOB2) or ``BIOES`` scheme.

    An entity whose boundary falls inside a medner token (possible only for hand-made JSONL
    spans) cannot be learned from; it is dropped with a warning naming the document.
    """
    for a, b in _merged_sentences(doc):
        tokens = tokenize(doc.text, a, b)
        if not tokens:
            continue
        inside = [e for e in doc.entities if a <= e.start and e.end <= b]
        try:
            tags = token_tags(tokens, inside, _SCHEMES[scheme])
        except MednerError:
            starts = {s for s, _ in tokens}
            ends = {e for _, e in tokens}
            kept = [e for e in inside if e.start in starts and e.end in ends]
            logger.warning(
                "document %s: %d entity span(s) do not align with tokens and are ignored",
                doc.id,
                len(inside) - len(kept),
            )
            tags = token_tags(tokens, kept, _SCHEMES[scheme])
        yield TaggedSentence(tokens, tags)


TokenSpan = tuple[int, int, str, float]
"""An entity over tokens: (first token, last token inclusive, label, confidence)."""


def tag_spans(tags: Sequence[str], probabilities: Sequence[float] | None = None) -> list[TokenSpan]:
    """Entity token spans from BIO or BIOES tags.

    An ``I-X``/``E-X`` that does not continue an ``X`` entity opens one, so every tag sequence
    decodes to valid, non-overlapping spans. An entity's confidence is the lowest per-token
    probability of its tags: the weakest link of the span.
    """
    spans: list[TokenSpan] = []
    start = -1
    label = ""
    conf = 1.0
    last = -1
    for i, tag in enumerate(tags):
        if tag == "O":
            if start >= 0:
                spans.append((start, last, label, conf))
                start = -1
            continue
        prefix, _, lab = tag.partition("-")
        p = probabilities[i] if probabilities is not None else 1.0
        if prefix in ("I", "E") and start >= 0 and lab == label:
            last = i
            conf = min(conf, p)
        else:
            if start >= 0:
                spans.append((start, last, label, conf))
            start, last, label, conf = i, i, lab, p
        if prefix in ("E", "S"):
            spans.append((start, last, label, conf))
            start = -1
    if start >= 0:
        spans.append((start, last, label, conf))
    return spans


def spans_to_entities(
    text: str, tokens: Sequence[tuple[int, int]], spans: Iterable[TokenSpan]
) -> list[Entity]:
    """Character-offset entities of ``text`` from token spans over ``tokens``."""
    out = []
    for first, last, label, conf in spans:
        s, e = tokens[first][0], tokens[last][1]
        out.append(Entity(s, e, text[s:e], label, conf))
    return out


def decode_tags(
    text: str,
    tokens: list[tuple[int, int]],
    tags: Sequence[str],
    probabilities: Sequence[float] | None = None,
) -> list[Entity]:
    """Entities from BIO or BIOES tags over ``tokens`` of ``text`` (see :func:`tag_spans`)."""
    return spans_to_entities(text, tokens, tag_spans(tags, probabilities))


class PosteriorDecoder:
    """Best valid BIO/BIOES tag path under per-token log marginals, O penalised.

    Validity: ``I-X``/``E-X`` only after ``B-X``/``I-X``; ``B``, ``S`` and ``O`` only after
    ``O``, ``E``, ``S`` (or at the start); a sentence ends on ``O``, ``E`` or ``S``. (BIO tag sets
    have no E/S, and there ``I-X`` may also end a sentence and ``B``/``O`` follow it.)
    """

    def __init__(self, tags: Sequence[str], o_penalty: float) -> None:
        self.tags = list(tags)
        bioes = any(t[:2] in ("E-", "S-") for t in tags)
        closing = ("O", "E", "S") if bioes else ("O", "B", "I")

        def prefix(t: str) -> str:
            return t.split("-", 1)[0]

        def label(t: str) -> str:
            return t.split("-", 1)[1] if "-" in t else ""

        self.start_ok = [prefix(t) in ("O", "B", "S") for t in tags]
        self.end_ok = [prefix(t) in closing for t in tags]
        # Tags that share their allowed predecessors are scored together: one max per group.
        groups: dict[tuple[int, ...], list[int]] = {}
        for j, t in enumerate(tags):
            if prefix(t) in ("I", "E"):
                prev = [
                    i
                    for i, u in enumerate(tags)
                    if prefix(u) in ("B", "I") and label(u) == label(t)
                ]
            else:
                prev = [i for i, u in enumerate(tags) if prefix(u) in closing]
            groups.setdefault(tuple(prev), []).append(j)
        self.groups = list(groups.items())
        self.penalty = [o_penalty if t == "O" else 0.0 for t in tags]

    def decode(self, table: Sequence[Sequence[float]]) -> list[int]:
        """Indices of the best tag at each position, given each position's tag marginals."""
        log = math.log
        penalty = self.penalty
        k = len(self.tags)
        neg = -1e18
        row = table[0]
        score = [log(row[j] + 1e-12) - penalty[j] if self.start_ok[j] else neg for j in range(k)]
        back: list[list[int]] = []
        for row in table[1:]:
            new = [neg] * k
            pointers = [0] * k
            for previous, members in self.groups:
                arg = max(previous, key=score.__getitem__)
                best = score[arg]
                for j in members:
                    new[j] = best + log(row[j] + 1e-12) - penalty[j]
                    pointers[j] = arg
            score = new
            back.append(pointers)
        last = max(range(k), key=lambda j: score[j] if self.end_ok[j] else neg)
        path = [last]
        for pointers in reversed(back):
            path.append(pointers[path[-1]])
        path.reverse()
        return path
