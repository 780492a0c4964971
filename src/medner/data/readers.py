"""Readers for the corpus formats of DESIGN.md, each yielding :class:`~medner.types.Document`.

Token corpora (CoNLL, BioText) become a document per sentence whose text is the tokens joined
by single spaces; entities are character spans of that text and the corpus's own token spans are
kept in ``Document.tokens``. Labels are mapped onto the canonical set (``medner.labels``).

Every malformed input raises :class:`~medner.errors.DataFormatError` naming the file and line.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medner.errors import DataFormatError, UnknownLabelError
from medner.labels import canonical_label
from medner.types import Document, Entity

_CONLL_SUFFIXES = {".tsv", ".conll", ".iob", ".bio", ".txt", ".iob2", ".iobes"}


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` without the newline, naming the line that is not UTF-8."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(path, number, f"not valid UTF-8 ({exc.reason})") from exc
            yield number, line.rstrip("\r\n")


def _sentence_document(
    doc_id: str, tokens: list[str], spans: list[tuple[int, int, str]]
) -> Document:
    """Build a document from tokens and token-index spans ``(first, last_exclusive, label)``."""
    offsets: list[tuple[int, int]] = []
    pos = 0
    for token in tokens:
        offsets.append((pos, pos + len(token)))
        pos += len(token) + 1
    text = " ".join(tokens)
    entities = [
        Entity(offsets[a][0], offsets[b - 1][1], text[offsets[a][0] : offsets[b - 1][1]], label)
        for a, b, label in spans
    ]
    return Document(id=doc_id, text=text, entities=entities, tokens=offsets)


def _parse_tag(tag: str) -> tuple[str, str | None]:
    """Split an IOB2/IOBES tag into its prefix and raw label (``O`` has no label)."""
    if tag == "O":
        return "O", None
    prefix, sep, label = tag.partition("-")
    if not sep or prefix not in {"B", "I", "E", "S"} or not label:
        raise ValueError(f"unknown tag {tag!r}: expected O, or B-/I-/E-/S- followed by a label")
    return prefix, label


def _spans_from_tags(
    tags: list[tuple[str, str | None]], strict: bool, path: Path, lines: list[int]
) -> list[tuple[int, int, str]]:
    """Entity spans from IOB2/IOBES tags; in strict mode an ``I-``/``E-`` with no open entity of
    the same label is an error, otherwise it starts a new entity."""
    spans: list[tuple[int, int, str]] = []
    start: int | None = None
    current: str | None = None
    for i, (prefix, label) in enumerate(tags):
        if prefix in {"I", "E"}:
            if current != label:
                if strict:
                    before = "O" if current is None else f"an entity of label {current}"
                    raise DataFormatError(
                        path, lines[i], f"{prefix}-{label} follows {before} (invalid IOB sequence)"
                    )
                if current is not None and start is not None:
                    spans.append((start, i, current))
                start, current = i, label
            if prefix == "E":
                assert start is not None and current is not None
                spans.append((start, i + 1, current))
                start, current = None, None
            continue
        if current is not None and start is not None:
            spans.append((start, i, current))
            start, current = None, None
        if prefix == "B":
            start, current = i, label
        elif prefix == "S":
            assert label is not None
            spans.append((i, i + 1, label))
    if current is not None and start is not None:
        spans.append((start, len(tags), current))
    return spans


def read_conll(path: str | Path, strict: bool = True) -> Iterator[Document]:
    """Read CoNLL-style TSV: ``token<TAB>tag`` (tag last when there are more columns), a blank
    line between sentences, IOB2 or IOBES tags.

    Args:
        path: the file.
        strict: reject ``I-X`` that does not continue an ``X`` entity (else it opens one).
    """
    path = Path(path)
    tokens: list[str] = []
    tags: list[tuple[str, str | None]] = []
    lines: list[int] = []
    count = 0
    seen_any = False

    def flush() -> Document:
        nonlocal count
        spans = _spans_from_tags(tags, strict, path, lines)
        try:
            labelled = [(a, b, canonical_label(label)) for a, b, label in spans]
        except UnknownLabelError as exc:
            raise DataFormatError(path, lines[spans[0][0]] if spans else None, str(exc)) from exc
        doc = _sentence_document(f"{path.stem}:{count}", tokens, labelled)
        count += 1
        return doc

    for number, line in _lines(path):
        if not line.strip():
            if tokens:
                yield flush()
                tokens, tags, lines = [], [], []
            continue
        if line.startswith("-DOCSTART-"):
            continue
        seen_any = True
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) < 2:
            raise DataFormatError(path, number, "expected 'token<TAB>tag', found one column")
        token, tag = fields[0], fields[-1].strip()
        if not token or any(c.isspace() for c in token):
            raise DataFormatError(path, number, f"token {token!r} is empty or contains white space")
        try:
            prefix, label = _parse_tag(tag)
            if label is not None:
                canonical_label(label)
        except (ValueError, UnknownLabelError) as exc:
            raise DataFormatError(path, number, str(exc)) from exc
        tokens.append(token)
        tags.append((prefix, label))
        lines.append(number)
    if tokens:
        yield flush()
    if not seen_any:
        raise DataFormatError(path, None, "empty file: no token lines")


def biotext_pair(path: str | Path) -> tuple[Path, Path]:
    """The ``(*_sent, *_label)`` pair for a BioText path given as either file or their stem."""
    path = Path(path)
    name = path.name
    for suffix in ("_sent", "_label"):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            return path.with_name(stem + "_sent"), path.with_name(stem + "_label")
    return path.with_name(name + "_sent"), path.with_name(name + "_label")


def read_biotext(path: str | Path) -> Iterator[Document]:
    """Read the BioText pair: ``*_sent`` and its sibling ``*_label``, one token a line, labels
    ``D``/``T``/``O``, a blank line between sentences; a run of equal labels is one entity."""
    sent_path, label_path = biotext_pair(path)
    for p in (sent_path, label_path):
        if not p.is_file():
            raise DataFormatError(p, None, "missing file of the BioText pair (*_sent + *_label)")
    tokens: list[str] = []
    labels: list[str | None] = []
    count = 0
    seen_any = False

    def flush() -> Document:
        nonlocal count
        spans: list[tuple[int, int, str]] = []
        i = 0
        while i < len(labels):
            label = labels[i]
            j = i + 1
            if label is not None:
                while j < len(labels) and labels[j] == label:
                    j += 1
                spans.append((i, j, label))
            i = j
        doc = _sentence_document(f"{sent_path.stem}:{count}", tokens, spans)
        count += 1
        return doc

    sent_lines = _lines(sent_path)
    label_lines = _lines(label_path)
    while True:
        s = next(sent_lines, None)
        lab = next(label_lines, None)
        if s is None and lab is None:
            break
        if s is None or lab is None:
            if s is None:
                assert lab is not None
                shorter, number = sent_path, lab[0]
            else:
                shorter, number = label_path, s[0]
            raise DataFormatError(
                shorter, number, "ends early: the _sent and _label files differ in length"
            )
        number, token = s
        _, raw = lab
        token, raw = token.strip(), raw.strip()
        if not token and not raw:
            if tokens:
                yield flush()
                tokens, labels = [], []
            continue
        if not token or not raw:
            which = sent_path if not token else label_path
            raise DataFormatError(
                which, number, "blank line here but not in its sibling file (token/label mismatch)"
            )
        seen_any = True
        if raw == "O":
            labels.append(None)
        else:
            try:
                labels.append(canonical_label(raw))
            except UnknownLabelError as exc:
                raise DataFormatError(label_path, number, str(exc)) from exc
        tokens.append(token)
    if tokens:
        yield flush()
    if not seen_any:
        raise DataFormatError(sent_path, None, "empty file: no token lines")


def _entity_from_json(obj: Any, text: str, path: Path, number: int) -> Entity:
    if not isinstance(obj, dict):
        raise DataFormatError(path, number, "an entity must be an object with start, end, label")
    try:
        start, end, raw_label = obj["start"], obj["end"], obj["label"]
    except KeyError as exc:
        raise DataFormatError(path, number, f"entity lacks field {exc.args[0]!r}") from exc
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(text):
        raise DataFormatError(path, number, f"entity span [{start}, {end}) is not inside the text")
    try:
        label = canonical_label(str(raw_label))
    except UnknownLabelError as exc:
        raise DataFormatError(path, number, str(exc)) from exc
    if "text" in obj and obj["text"] != text[start:end]:
        raise DataFormatError(
            path, number, f"entity text {obj['text']!r} differs from the text at [{start}, {end})"
        )
    confidence = obj.get("confidence", 1.0)
    if not isinstance(confidence, (int, float)) or not 0.0 <= confidence <= 1.0:
        raise DataFormatError(path, number, "entity confidence must be a number in [0, 1]")
    return Entity(start, end, text[start:end], label, float(confidence))


def read_jsonl(path: str | Path) -> Iterator[Document]:
    """Read JSONL, one note a line: ``{"id": ..., "text": ..., "entities": [entity, ...]}``."""
    path = Path(path)
    seen_any = False
    for number, line in _lines(path):
        if not line.strip():
            continue
        seen_any = True
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(path, number, f"invalid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise DataFormatError(path, number, "expected an object with a string field 'text'")
        text = obj["text"]
        raw_entities = obj.get("entities", [])
        if not isinstance(raw_entities, list):
            raise DataFormatError(path, number, "'entities' must be a list")
        entities = sorted(
            (_entity_from_json(e, text, path, number) for e in raw_entities),
            key=lambda e: (e.start, e.end),
        )
        for a, b in itertools.pairwise(entities):
            if b.start < a.end:
                raise DataFormatError(
                    path, number, f"entities [{a.start}, {a.end}) and [{b.start}, {b.end}) overlap"
                )
        doc_id = obj.get("id", f"{path.stem}:{number}")
        yield Document(id=doc_id, text=text, entities=entities)
    if not seen_any:
        raise DataFormatError(path, None, "empty file: no JSON lines")


def corpus_format(path: str | Path) -> str:
    """The format of a dataset path: ``jsonl``, ``biotext`` or ``conll``."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return "jsonl"
    sent, _label = biotext_pair(path)
    if path.name.endswith(("_sent", "_label")) or (not path.exists() and sent.is_file()):
        return "biotext"
    if path.suffix.lower() in _CONLL_SUFFIXES:
        return "conll"
    raise DataFormatError(
        path,
        None,
        "cannot tell the format: use .jsonl, .tsv/.conll, or a BioText *_sent/*_label file",
    )


def read_corpus(path: str | Path, strict: bool = True) -> Iterator[Document]:
    """Read any supported dataset, detecting its format from the path (see DESIGN.md)."""
    path = Path(path)
    fmt = corpus_format(path)
    if fmt == "biotext":
        return read_biotext(path)
    if not path.is_file():
        raise DataFormatError(path, None, "no such file")
    if fmt == "jsonl":
        return read_jsonl(path)
    return read_conll(path, strict=strict)
