"""Streaming readers of raw notes: plain text, JSONL, CSV and Parquet.

Each reader yields notes one at a time (Parquet in record batches), so memory stays constant
whatever the size of the input. A note whose text is missing or not a string is still yielded,
with ``text=None``, so that it comes out of extraction with its reason instead of vanishing.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from medner.errors import DataFormatError

PARQUET_BATCH_ROWS = 512
BadRows = Literal["skip", "stop"]
CORPUS_SUFFIXES = {".tsv", ".conll", ".iob", ".bio", ".iob2", ".iobes"}


@dataclass(slots=True)
class Note:
    """A raw note: its id and text (``None`` when the input row had no usable text)."""

    id: Any
    text: str | None
    problem: str | None = None


def _coerce(note_id: Any, text: Any, where: str) -> Note:
    if text is None:
        return Note(note_id, None, f"{where}: text is null")
    if not isinstance(text, str):
        return Note(note_id, None, f"{where}: text is not a string")
    return Note(note_id, text)


def _read_jsonl(path: Path, id_column: str, text_column: str) -> Iterator[Note]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield Note(f"{path.name}:{number}", None, f"{where}: not valid UTF-8")
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Note(f"{path.name}:{number}", None, f"{where}: invalid JSON ({exc.msg})")
                continue
            if not isinstance(obj, dict):
                yield Note(f"{path.name}:{number}", None, f"{where}: not a JSON object")
                continue
            yield _coerce(obj.get(id_column, f"{path.name}:{number}"), obj.get(text_column), where)


def _read_csv(
    path: Path, id_column: str, text_column: str, bad_rows: BadRows = "skip"
) -> Iterator[Note]:
    """Rows of a CSV file with a header, read strictly: a row with another number of fields
    than the header (an unterminated quote merges rows into one) or broken quoting is
    malformed. ``bad_rows="skip"`` yields it as a note that cannot be processed, naming file and
    row; ``"stop"`` raises ``DataFormatError``."""
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader, None)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise DataFormatError(path, 1, _csv_problem(exc)) from exc
        if header is None or text_column not in header:
            raise DataFormatError(
                path, 1, f"no column {text_column!r} (columns: {header}); use --text-column"
            )
        text_at = header.index(text_column)
        id_at = header.index(id_column) if id_column in header else None
        row_number = 1
        while True:
            row_number += 1
            start_line = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:  # a file in another encoding: no row is right
                raise DataFormatError(path, start_line, _csv_problem(exc)) from exc
            except csv.Error as exc:
                # the reader cannot find the next row boundary: the rest of the file is lost
                problem = f"row {row_number} (line {start_line}): {_csv_problem(exc)}"
                if bad_rows == "stop":
                    raise DataFormatError(path, start_line, problem) from exc
                yield Note(f"{path.name}:{start_line}", None, f"{path}: {problem}; stopped")
                return
            if not fields:
                continue
            if len(fields) != len(header):
                problem = (
                    f"row {row_number} (line {start_line}) has {len(fields)} fields, the header"
                    f" {len(header)} (an unterminated quote merges rows)"
                )
                if bad_rows == "stop":
                    raise DataFormatError(path, start_line, problem)
                yield Note(f"{path.name}:{start_line}", None, f"{path}: {problem}")
                continue
            note_id = fields[id_at] if id_at is not None and fields[id_at] else None
            yield _coerce(
                note_id or f"{path.name}:{start_line}", fields[text_at], f"{path}:{start_line}"
            )


def _csv_problem(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid UTF-8 (byte {exc.start} of a read block): save the file as UTF-8"
    return f"malformed CSV ({exc})"


def _read_parquet(path: Path, id_column: str, text_column: str) -> Iterator[Note]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow's ArrowInvalid, OSError...: not a Parquet file
        raise DataFormatError(path, None, f"not a readable Parquet file ({exc})") from exc
    names = pf.schema_arrow.names
    if text_column not in names:
        raise DataFormatError(
            path, None, f"no column {text_column!r} (columns: {names}); use --text-column"
        )
    columns = [text_column] + ([id_column] if id_column in names else [])
    row = 0
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns):
        texts = batch.column(text_column).to_pylist()
        ids = batch.column(id_column).to_pylist() if id_column in names else [None] * len(texts)
        for note_id, text in zip(ids, texts, strict=True):
            yield _coerce(note_id if note_id is not None else row, text, f"{path} row {row}")
            row += 1


def _read_text_files(path: Path) -> Iterator[Note]:
    files = sorted(p for p in path.rglob("*.txt") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        try:
            yield Note(f.stem, f.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            yield Note(f.stem, None, f"{f}: not valid UTF-8")


def _read_corpus_text(path: Path) -> Iterator[Note]:
    from medner.data import read_corpus

    for doc in read_corpus(path):
        yield Note(doc.id, doc.text)


def read_notes(
    path: str | Path, id_column: str = "id", text_column: str = "text", bad_rows: BadRows = "skip"
) -> Iterator[Note]:
    """Notes from ``path``, by its extension: ``.jsonl``, ``.csv``, ``.parquet``, or ``.txt``
    (one note per file; a directory is read for its ``*.txt`` files); or the sentences of a
    CoNLL (``.tsv``, ``.conll``, ...) or BioText (``*_sent``) corpus, its labels ignored (to
    tag a corpus's text with a teacher model, for distillation). ``bad_rows``: what a malformed
    CSV row does, ``skip`` (it is counted as not processed, its reason naming file and row) or
    ``stop`` (``DataFormatError``)."""
    path = Path(path)
    if not path.exists():
        raise DataFormatError(path, None, "no such file or directory")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl(path, id_column, text_column)
    if suffix == ".csv":
        return _read_csv(path, id_column, text_column, bad_rows)
    if suffix in {".parquet", ".pq"}:
        return _read_parquet(path, id_column, text_column)
    if path.is_dir() or suffix == ".txt":
        return _read_text_files(path)
    if suffix in CORPUS_SUFFIXES or path.name.endswith("_sent"):
        return _read_corpus_text(path)
    raise DataFormatError(
        path, None, "unknown notes format: use .txt, .jsonl, .csv, .parquet, or a corpus file"
    )


def count_notes(path: str | Path) -> int | None:
    """Number of notes when it is cheap to know (Parquet metadata, text files), else ``None``."""
    path = Path(path)
    if path.suffix.lower() in {".parquet", ".pq"}:
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception:  # not a Parquet file: reading it says so, naming the file
            return None
    if path.is_dir():
        return sum(1 for p in path.rglob("*.txt") if p.is_file())
    if path.suffix.lower() == ".txt":
        return 1
    return None
