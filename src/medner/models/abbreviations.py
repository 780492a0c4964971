"""Abbreviations a note defines, and the entities they carry to their other mentions.

A note that writes "chronic kidney disease (CKD)" and later "CKD stage 3" means the disease
both times, but a model that tags one sentence at a time cannot know that the second "CKD" is
one. With the decoding setting ``abbreviations`` on, a model finds each definition, a long form
followed by its short form in parentheses, as in Schwartz & Hearst (2003): the short form is
2-10 characters in at most two words, starts with a letter or digit and holds a letter; its
letters and digits appear in order in the long form, the first of them at the start of a word;
and the long form is at most min(n + 5, 2n) words, n being the short form's length in
characters. When the model tagged the long form (an entity of the same sentence ending right
before the parenthesis and starting inside the long form), every mention of the short form in
the note that no entity covers, token-aligned and inside one sentence, the definition's own
parenthesis included, becomes an entity of that label with the long form's confidence.
Nothing is ever removed.

Corpora split into one document per sentence (NCBI-disease, BC5CDR) lose the abstract around
each sentence; :func:`carry_across_documents` gives each document its neighbours as context,
which ``medner evaluate --context N`` uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from medner.types import Entity

Tokens = Sequence[tuple[int, int]]

# the description of the ``abbreviations`` setting both backends' configs have
ABBREVIATIONS_SETTING = (
    "Decoding: carry the label of a tagged long form to the other mentions of the abbreviation "
    "a note defines for it, 'chronic kidney disease (CKD)' (see medner.models.abbreviations)."
)


def carries_abbreviations(model: Any) -> bool:
    """Whether a loaded model's decoding carries abbreviations (its ``abbreviations`` setting)."""
    return bool(getattr(getattr(model, "config", None), "abbreviations", False))


@dataclass(frozen=True, slots=True)
class Definition:
    """A short form, the label of its tagged long form, and that entity's confidence."""

    short: str
    label: str
    confidence: float


def _long_form_start(short: str, words: Sequence[str]) -> int | None:
    """Index of the word where the long form of ``short`` starts among ``words`` (the words
    right before the parenthesis), or None: Schwartz & Hearst's backward character match."""
    text = " ".join(words)
    s, i = len(short) - 1, len(text) - 1
    while s >= 0:
        c = short[s].lower()
        if not c.isalnum():
            s -= 1
            continue
        # the short form's first character must start a word of the long form
        while i >= 0 and (text[i].lower() != c or (s == 0 and i > 0 and text[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    start = i + 1
    return text[:start].count(" ")


def _short_form_ok(short: str) -> bool:
    compact = short.replace(" ", "")
    return (
        2 <= len(compact) <= 10
        and len(short.split()) <= 2
        and short[0].isalnum()
        and any(c.isalpha() for c in short)
    )


def find_definitions(
    text: str, sentences: Sequence[Tokens], entities: Sequence[Sequence[Entity]]
) -> list[Definition]:
    """Definitions in ``text`` whose long form the model tagged: sentence ``k`` has token spans
    ``sentences[k]`` and predicted ``entities[k]`` (offsets into ``text``)."""
    found: dict[str, Definition] = {}
    for tokens, found_here in zip(sentences, entities, strict=True):
        words = [text[a:b] for a, b in tokens]
        for i, word in enumerate(words):
            if word != "(" or i == 0:
                continue
            close = next((j for j in range(i + 1, min(len(words), i + 8)) if words[j] == ")"), 0)
            if close <= i + 1:
                continue
            short = text[tokens[i + 1][0] : tokens[close - 1][1]]
            if not _short_form_ok(short) or short in found:
                continue
            size = min(len(short) + 5, 2 * len(short))
            before = words[max(0, i - size) : i]
            first = _long_form_start(short, before)
            if first is None:
                continue
            long_start, long_end = tokens[i - len(before) + first][0], tokens[i - 1][1]
            for entity in found_here:
                if entity.end == long_end and long_start <= entity.start < long_end:
                    found[short] = Definition(short, entity.label, entity.confidence)
                    break
    return list(found.values())


def carry_abbreviations(
    text: str, sentences: Sequence[Tokens], entities: Sequence[Sequence[Entity]]
) -> list[list[Entity]]:
    """``entities`` per sentence plus the untagged mentions of each tagged definition's short
    form (see the module's description), each sentence's entities in order."""
    definitions = find_definitions(text, sentences, entities)
    out = [list(found) for found in entities]
    if not definitions:
        return out
    for k, tokens in enumerate(sentences):
        ends = {b for _, b in tokens}
        for start, _ in tokens:
            for definition in definitions:
                end = start + len(definition.short)
                if end not in ends or text[start:end] != definition.short:
                    continue
                if any(e.start < end and start < e.end for e in out[k]):
                    continue
                out[k].append(
                    Entity(start, end, definition.short, definition.label, definition.confidence)
                )
        out[k].sort(key=lambda e: e.start)
    return out


def carry_across_documents(
    texts: Sequence[str],
    sentences: Sequence[Sequence[Tokens]],
    predictions: Sequence[Sequence[Entity]],
    context: int,
) -> list[list[Entity]]:
    """Each document's ``predictions`` with abbreviations carried in from its ``context``
    neighbours on either side (documents in corpus order, their sentences' token spans in
    ``sentences``): for corpora stored one sentence per document."""
    out = []
    for i in range(len(texts)):
        lo, hi = max(0, i - context), min(len(texts), i + context + 1)
        offset, joined_tokens, joined_entities, target = 0, [], [], []
        for j in range(lo, hi):
            for tokens in sentences[j]:
                joined_tokens.append([(a + offset, b + offset) for a, b in tokens])
                start, end = tokens[0][0], tokens[-1][1]
                joined_entities.append(
                    [
                        Entity(e.start + offset, e.end + offset, e.text, e.label, e.confidence)
                        for e in predictions[j]
                        if start <= e.start and e.end <= end
                    ]
                )
                if j == i:
                    target.append(len(joined_tokens) - 1)
            offset += len(texts[j]) + 1
        carried = carry_abbreviations("\n".join(texts[lo:hi]), joined_tokens, joined_entities)
        shift = sum(len(texts[j]) + 1 for j in range(lo, i))
        # a model's entities lie inside its sentences, so the target's sentences hold them all
        out.append(
            [
                Entity(e.start - shift, e.end - shift, e.text, e.label, e.confidence)
                for k in target
                for e in carried[k]
            ]
        )
    return out
