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


def test_a_malformed_csv_row_is_named_not_merged(tmp_path: Path) -> None:
    """Issue 23: an unterminated quote merged rows into one note and dropped fields, exit 0."""
    path = tmp_path / "notes.csv"
    path.write_text('id,text\n1,"Asthma, 2,Gout\n3,Flu",x\n5,Fever\n', encoding="utf-8")
    notes = list(read_notes(path))
    assert [(n.id, n.text) for n in notes] == [("notes.csv:2", None), ("5", "Fever")]
    assert notes[0].problem == (
        f"{path}: row 2 (line 2) has 3 fields, the header 2 (an unterminated quote merges rows)"
    )
    with pytest.raises(DataFormatError, match=r"notes\.csv:2: row 2 \(line 2\) has 3 fields"):
        list(read_notes(path, bad_rows="stop"))


def test_broken_quoting_is_reported_and_reading_stops(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text('id,text\n1,Gout\n2,"Asthma"x\n3,Flu\n', encoding="utf-8")
    notes = list(read_notes(path))
    assert notes[0].text == "Gout"
    assert notes[1].text is None and "row 3 (line 3): malformed CSV" in (notes[1].problem or "")
    assert len(notes) == 2


def test_undecodable_files_are_clear_errors_naming_the_file(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,text\n1,Fièvre\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"latin\.csv.*not valid UTF-8"):
        list(read_notes(latin))
    header = tmp_path / "header.csv"
    header.write_bytes("id,tëxt\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"header\.csv:1: not valid UTF-8"):
        list(read_notes(header, text_column="tëxt"))
    fake = tmp_path / "random.parquet"
    fake.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataFormatError, match=r"random\.parquet: not a readable Parquet file"):
        list(read_notes(fake))


def test_a_file_undecodable_after_its_first_block_is_an_error_too(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    rows = "".join(f"{i},Asthma case {i}\n" for i in range(2000)).encode()
    path.write_bytes(b"id,text\n" + rows + "9999,Fièvre\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"late\.csv:\d+: not valid UTF-8"):
        list(read_notes(path))
