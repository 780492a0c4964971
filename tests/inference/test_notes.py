from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medner.data import write_conll
from medner.errors import DataFormatError
from medner.inference import count_notes, read_notes
from tests.conftest import TINY_SENTENCES, make_document


def test_read_jsonl_keeps_bad_rows_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    path.write_bytes(
        b'{"id": 1, "text": "ok"}\n{"id": 2, "text": null}\n{"id": 3, "text": 5}\n'
        b"not json\n\xff\n\n[1]\n"
    )
    notes = list(read_notes(path))
    assert [n.text for n in notes] == ["ok", None, None, None, None, None]
    assert [n.id for n in notes[:3]] == [1, 2, 3]
    problems = [n.problem or "" for n in notes[1:]]
    for problem, expected in zip(  # noqa: B905 - notes has one more row than expected
        problems, ["null", "not a string", "invalid JSON", "not valid UTF-8", "not a JSON object"]
    ):
        assert expected in problem


def test_read_csv_custom_columns(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text('nid,body\n7,"fever, cough"\n8,\n', encoding="utf-8")
    notes = list(read_notes(path, id_column="nid", text_column="body"))
    assert [(n.id, n.text) for n in notes] == [("7", "fever, cough"), ("8", "")]
    with pytest.raises(DataFormatError, match="no column 'text'"):
        list(read_notes(path))


def test_read_parquet_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "n.parquet"
    n = 1300
    pq.write_table(
        pa.table(
            {"id": list(range(n)), "text": [None if i == 5 else f"note {i}" for i in range(n)]}
        ),
        path,
    )
    notes = list(read_notes(path))
    assert len(notes) == n == count_notes(path)
    assert notes[5].text is None and "null" in (notes[5].problem or "")
    assert notes[-1].text == f"note {n - 1}"


def test_read_text_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("first", encoding="utf-8")
    (tmp_path / "b.txt").write_text("second", encoding="utf-8")
    assert [(n.id, n.text) for n in read_notes(tmp_path)] == [("a", "first"), ("b", "second")]
    assert count_notes(tmp_path) == 2


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "n.xml"
    path.write_text("<x/>")
    with pytest.raises(DataFormatError, match="unknown notes format"):
        read_notes(path)
    with pytest.raises(DataFormatError, match="no such file"):
        read_notes(tmp_path / "missing.csv")


def test_json_ids_pass_through(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    path.write_text(json.dumps({"note_id": "abc", "body": "x"}) + "\n")
    (note,) = read_notes(path, id_column="note_id", text_column="body")
    assert note.id == "abc"


def test_a_corpus_text_reads_as_notes_without_its_labels(tmp_path: Path) -> None:
    docs = [make_document(i, t, s) for i, (t, s) in enumerate(TINY_SENTENCES)]
    write_conll(docs, tmp_path / "c.tsv")
    notes = list(read_notes(tmp_path / "c.tsv"))
    assert [n.text for n in notes] == [d.text for d in docs]
    assert all(n.problem is None for n in notes)
