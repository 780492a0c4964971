from __future__ import annotations

from pathlib import Path

import pytest

from medner.data import read_biotext, read_conll, read_corpus, read_jsonl, write_conll, write_jsonl
from medner.data.readers import corpus_format
from medner.errors import DataFormatError
from tests.conftest import DATA


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_read_conll_iob2_maps_labels_and_offsets(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.tsv",
        "Familial\tO\nbreast\tB-Disease\ncancer\tI-Disease\n.\tO\n\nAspirin\tB-Chemical\n",
    )
    docs = list(read_conll(path))
    assert [d.text for d in docs] == ["Familial breast cancer .", "Aspirin"]
    ent = docs[0].entities[0]
    assert (ent.start, ent.end, ent.text, ent.label) == (9, 22, "breast cancer", "DISEASE")
    assert docs[1].entities[0].label == "CHEMICAL"
    assert docs[0].tokens == [(0, 8), (9, 15), (16, 22), (23, 24)]


def test_read_conll_iobes(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.conll",
        "a\tS-Disease\nb\tB-Disease\nc\tI-Disease\nd\tE-Disease\ne\tO\n",
    )
    (doc,) = read_conll(path)
    assert [(e.text, e.label) for e in doc.entities] == [("a", "DISEASE"), ("b c d", "DISEASE")]


def test_read_biotext_runs_are_entities(tmp_path: Path) -> None:
    write(tmp_path / "x_sent", "Aspirin\nfor\nunstable\nangina\n.\n\nNone\n\n")
    write(tmp_path / "x_label", "T\nO\nD\nD\nO\n\nO\n\n")
    docs = list(read_biotext(tmp_path / "x_sent"))
    assert len(docs) == 2
    assert [(e.text, e.label) for e in docs[0].entities] == [
        ("Aspirin", "TREATMENT"),
        ("unstable angina", "DISEASE"),
    ]
    assert docs[1].entities == []
    # the label file and the bare stem name the same pair
    assert [d.text for d in read_corpus(tmp_path / "x_label")] == [d.text for d in docs]
    assert [d.text for d in read_corpus(tmp_path / "x")] == [d.text for d in docs]


def test_shipped_corpora_read_with_expected_sizes() -> None:
    assert sum(1 for _ in read_corpus(DATA / "biotext/train_sent")) == 2599
    assert sum(1 for _ in read_corpus(DATA / "biotext/test_sent")) == 1056
    assert sum(1 for _ in read_corpus(DATA / "ncbi-disease/test.tsv")) == 940


@pytest.mark.parametrize("scheme", ["IOB2", "IOBES"])
def test_conll_round_trip(tmp_path: Path, scheme: str) -> None:
    docs = list(read_corpus(DATA / "ncbi-disease/devel.tsv"))[:200]
    out = tmp_path / "out.tsv"
    assert write_conll(docs, out, scheme=scheme) == 200
    again = list(read_conll(out))
    assert [(d.text, d.entities) for d in again] == [(d.text, d.entities) for d in docs]


def test_biotext_to_jsonl_round_trip(tmp_path: Path) -> None:
    docs = list(read_corpus(DATA / "biotext/test_sent"))
    out = tmp_path / "test.jsonl"
    write_jsonl(docs, out)
    again = list(read_jsonl(out))
    assert [(d.id, d.text, d.entities) for d in again] == [(d.id, d.text, d.entities) for d in docs]


def test_write_conll_tokenizes_raw_notes(tmp_path: Path) -> None:
    docs = list(
        read_jsonl(
            write(
                tmp_path / "n.jsonl",
                '{"id": 1, "text": "Known HTN/DM. On metformin 500mg.", "entities": '
                '[{"start": 6, "end": 9, "label": "DISEASE"}, '
                '{"start": 17, "end": 26, "label": "T"}]}\n',
            )
        )
    )
    out = tmp_path / "n.tsv"
    assert write_conll(docs, out) == 2
    lines = out.read_text().splitlines()
    assert lines[:5] == ["Known\tO", "HTN\tB-DISEASE", "/\tO", "DM\tO", ".\tO"]
    assert "metformin\tB-TREATMENT" in lines and "500\tO" in lines and "mg\tO" in lines


# -- malformed input: every error names the file and the line ------------------------------


def test_biotext_count_mismatch_names_line(tmp_path: Path) -> None:
    write(tmp_path / "b_sent", "a\nb\nc\n")
    write(tmp_path / "b_label", "O\nD\n\n")
    with pytest.raises(DataFormatError) as exc:
        list(read_biotext(tmp_path / "b_sent"))
    assert exc.value.line == 3 and "b_label" in exc.value.path
    assert "b_label:3" in str(exc.value)


def test_biotext_length_mismatch(tmp_path: Path) -> None:
    write(tmp_path / "c_sent", "a\nb\n")
    write(tmp_path / "c_label", "O\n")
    with pytest.raises(DataFormatError, match="differ in length") as exc:
        list(read_biotext(tmp_path / "c_sent"))
    assert exc.value.line == 2


def test_biotext_unknown_label(tmp_path: Path) -> None:
    write(tmp_path / "d_sent", "a\nb\n")
    write(tmp_path / "d_label", "O\nX\n")
    with pytest.raises(DataFormatError, match="unknown entity label 'X'") as exc:
        list(read_biotext(tmp_path / "d_sent"))
    assert exc.value.line == 2 and exc.value.path.endswith("d_label")


def test_conll_unknown_tag(tmp_path: Path) -> None:
    path = write(tmp_path / "u.tsv", "a\tO\nb\tQ-Disease\n")
    with pytest.raises(DataFormatError, match=r"u\.tsv:2: unknown tag 'Q-Disease'"):
        list(read_conll(path))


def test_conll_unknown_label(tmp_path: Path) -> None:
    path = write(tmp_path / "u.tsv", "a\tB-Gene\n")
    with pytest.raises(DataFormatError, match=r"u\.tsv:1: unknown entity label 'Gene'"):
        list(read_conll(path))


def test_conll_i_after_o_strict_and_lenient(tmp_path: Path) -> None:
    path = write(tmp_path / "i.tsv", "a\tO\nb\tI-Disease\nc\tI-Disease\n")
    with pytest.raises(DataFormatError, match=r"i\.tsv:2: I-Disease follows O"):
        list(read_conll(path))
    (doc,) = read_conll(path, strict=False)
    assert [e.text for e in doc.entities] == ["b c"]


def test_conll_one_column(tmp_path: Path) -> None:
    path = write(tmp_path / "o.tsv", "a\tO\nlonely\n")
    with pytest.raises(DataFormatError, match=r"o\.tsv:2: expected 'token<TAB>tag'"):
        list(read_conll(path))


@pytest.mark.parametrize("name", ["e.tsv", "e.jsonl"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, "\n\n")
    with pytest.raises(DataFormatError, match="empty file"):
        list(read_corpus(path))


def test_empty_biotext(tmp_path: Path) -> None:
    write(tmp_path / "z_sent", "")
    write(tmp_path / "z_label", "")
    with pytest.raises(DataFormatError, match="empty file"):
        list(read_biotext(tmp_path / "z_sent"))


def test_not_utf8_names_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.tsv", b"a\tO\n\xff\xfe\tO\n")
    with pytest.raises(DataFormatError, match=r"bad\.tsv:2: not valid UTF-8"):
        list(read_conll(path))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"id": 1}', "string field 'text'"),
        (
            '{"text": "abc", "entities": [{"start": 0, "end": 9, "label": "D"}]}',
            "not inside the text",
        ),
        (
            '{"text": "abc", "entities": [{"start": 0, "end": 2, "label": "Gene"}]}',
            "unknown entity label",
        ),
        (
            '{"text": "abc", "entities": [{"start": 0, "end": 2, "text": "bc", "label": "D"}]}',
            "differs",
        ),
        (
            '{"text": "abcd", "entities": [{"start": 0, "end": 2, "label": "D"}, '
            '{"start": 1, "end": 3, "label": "D"}]}',
            "overlap",
        ),
    ],
)
def test_jsonl_errors_name_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path / "x.jsonl", '{"id": 0, "text": "fine"}\n' + line + "\n")
    with pytest.raises(DataFormatError, match=message) as exc:
        list(read_jsonl(path))
    assert exc.value.line == 2


def test_format_detection(tmp_path: Path) -> None:
    assert corpus_format("a.jsonl") == "jsonl"
    assert corpus_format("x/train_sent") == "biotext"
    assert corpus_format("x/train.tsv") == "conll"
    with pytest.raises(DataFormatError, match="cannot tell the format"):
        corpus_format(tmp_path / "a.xlsx")
