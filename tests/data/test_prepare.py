"""The prepare stage: deterministic dev carve, validation, leakage handling, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medner.data import read_jsonl, write_jsonl
from medner.data.prepare import PrepareParams, prepare
from medner.errors import DataFormatError
from medner.types import Document, Entity


def _corpus(path: Path, docs: list[Document]) -> Path:
    write_jsonl(docs, path)
    return path


def _doc(i: int, text: str, label: str = "DISEASE") -> Document:
    word = text.split()[0]
    return Document(id=i, text=text, entities=[Entity(0, len(word), word, label)])


@pytest.fixture
def corpora(tmp_path: Path) -> tuple[Path, Path]:
    train = [_doc(i, f"Asthma case number {i} was seen .") for i in range(40)]
    train.append(_doc(99, "Diabetes is common in the test set ."))  # leaks into test
    test = [_doc(100, "Diabetes is common in the test set ."), _doc(101, "Gout flared .")]
    return _corpus(tmp_path / "train.jsonl", train), _corpus(tmp_path / "test.jsonl", test)


def test_dev_carve_is_fixed_by_the_seed(corpora: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = corpora
    params = PrepareParams(train=[train], test=[test], dev_fraction=0.25, seed=7, leakage="warn")
    first = prepare(params, tmp_path / "a")
    again = prepare(params, tmp_path / "b")
    other = prepare(params.model_copy(update={"seed": 8}), tmp_path / "c")
    ids = [[d.id for d in read_jsonl(r.paths["dev"])] for r in (first, again, other)]
    assert len(ids[0]) == 10
    assert ids[0] == ids[1]
    assert ids[0] != ids[2]
    train_ids = {d.id for d in read_jsonl(first.paths["train"])}
    assert not train_ids & set(ids[0])


def test_leaked_sentences_are_dropped_from_train_and_reported(
    corpora: tuple[Path, Path], tmp_path: Path
) -> None:
    train, test = corpora
    result = prepare(PrepareParams(train=[train], test=[test]), tmp_path / "out")
    leak = result.report["leakage"]
    assert leak["shared_before"]["train_in_test"] + leak["shared_before"]["dev_in_test"] == 1
    assert leak["shared_after"] == {"train_in_test": 0, "dev_in_test": 0, "train_in_dev": 0}
    assert [d.id for d in read_jsonl(result.paths["test"])] == [100, 101]  # test untouched
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert report["splits"]["test"]["entities"] == {"DISEASE": 2}
    assert report["splits"]["train"]["documents"] + report["splits"]["dev"]["documents"] == 40


def test_leakage_can_fail_the_stage(corpora: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = corpora
    with pytest.raises(DataFormatError, match="shared across splits"):
        prepare(PrepareParams(train=[train], test=[test], leakage="fail"), tmp_path / "out")


def test_warn_keeps_the_leaked_sentence(corpora: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = corpora
    result = prepare(PrepareParams(train=[train], test=[test], leakage="warn"), tmp_path / "o")
    assert sum(result.report["leakage"]["shared_after"].values()) == 1


def test_a_label_outside_the_set_is_refused(tmp_path: Path) -> None:
    train = _corpus(
        tmp_path / "train.jsonl", [_doc(i, f"Aspirin {i} .", "CHEMICAL") for i in range(5)]
    )
    test = _corpus(tmp_path / "test.jsonl", [_doc(9, "Gout .")])
    with pytest.raises(DataFormatError, match="label 'CHEMICAL' is not one of DISEASE, TREATMENT"):
        prepare(PrepareParams(train=[train], test=[test]), tmp_path / "out")


def test_a_malformed_corpus_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("Gout\tB-Disease\nflared\tX-Disease\n", encoding="utf-8")
    test = _corpus(tmp_path / "test.jsonl", [_doc(9, "Gout .")])
    with pytest.raises(DataFormatError, match=r"bad.tsv:2"):
        prepare(PrepareParams(train=[bad], test=[test]), tmp_path / "out")
