"""Writers for medner's JSONL and CoNLL-style TSV."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from medner.errors import MednerError
from medner.text import split_sentences, tokenize
from medner.types import Document, Entity


def write_jsonl(documents: Iterable[Document], path: str | Path) -> int:
    """Write documents as JSONL (``{"id", "text", "entities"}`` a line); returns the count."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        for doc in documents:
            fh.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def token_tags(
    tokens: list[tuple[int, int]], entities: list[Entity], scheme: str = "IOB2"
) -> list[str]:
    """Tags for ``tokens`` from entity spans, in IOB2 or IOBES.

    Raises:
        MednerError: an entity boundary falls inside a token.
    """
    tags = ["O"] * len(tokens)
    starts = {s: i for i, (s, _) in enumerate(tokens)}
    ends = {e: i for i, (_, e) in enumerate(tokens)}
    for ent in entities:
        first, last = starts.get(ent.start), ends.get(ent.end)
        if first is None or last is None or last < first:
            raise MednerError(
                f"entity {ent.text!r} at [{ent.start}, {ent.end}) does not start and end "
                "on token boundaries"
            )
        if scheme == "IOBES" and first == last:
            tags[first] = f"S-{ent.label}"
            continue
        tags[first] = f"B-{ent.label}"
        for i in range(first + 1, last + 1):
            tags[i] = f"I-{ent.label}"
        if scheme == "IOBES":
            tags[last] = f"E-{ent.label}"
    return tags


def write_conll(documents: Iterable[Document], path: str | Path, scheme: str = "IOB2") -> int:
    """Write documents as ``token<TAB>tag`` lines, a blank line after each sentence.

    A document read from a token corpus keeps its own tokens and stays one sentence; a raw note
    is split into sentences and tokenized by medner. Returns the number of sentences written.
    """
    if scheme not in {"IOB2", "IOBES"}:
        raise MednerError(f"unknown tagging scheme {scheme!r}: use IOB2 or IOBES")
    count = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        for doc in documents:
            if doc.tokens is not None:
                groups = [doc.tokens]
            else:
                groups = [tokenize(doc.text, a, b) for a, b in split_sentences(doc.text)]
            for tokens in groups:
                if not tokens:
                    continue
                lo, hi = tokens[0][0], tokens[-1][1]
                inside = [e for e in doc.entities if lo <= e.start and e.end <= hi]
                for (s, e), tag in zip(tokens, token_tags(tokens, inside, scheme), strict=True):
                    fh.write(f"{doc.text[s:e]}\t{tag}\n")
                fh.write("\n")
                count += 1
    return count
