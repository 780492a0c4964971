from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from medner.inference import Note, extract_file
from medner.models.crf import CRFModel


def test_every_note_comes_out_in_order(tmp_path: Path, tiny_model: CRFModel) -> None:
    notes = [
        Note(1, "Patients with asthma received metformin daily ."),
        Note(2, None, "n.jsonl:2: text is null"),
        Note(3, ""),
        Note(4, "We gave aspirin to patients with stroke ."),
    ]
    out = tmp_path / "out" / "e.jsonl"
    summary = extract_file(tiny_model, notes, out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [1, 2, 3, 4]
    assert rows[1] == {"id": 2, "entities": [], "error": "n.jsonl:2: text is null"}
    assert rows[2]["entities"] == []
    assert "text" not in rows[0]
    assert summary.notes == 4 and summary.failed == 1
    for row, note in zip(rows, notes, strict=True):
        for e in row["entities"]:
            assert note.text is not None and note.text[e["start"] : e["end"]] == e["text"]
    assert {e["text"] for e in rows[3]["entities"]} == {"aspirin", "stroke"}


def test_include_text_makes_a_readable_corpus(tmp_path: Path, tiny_model: CRFModel) -> None:
    from medner.data import read_jsonl

    out = tmp_path / "e.jsonl"
    extract_file(tiny_model, [Note("a", "Asthma was treated with inhaled budesonide .")], out, True)
    (doc,) = read_jsonl(out)
    assert [e.text for e in doc.entities] == ["Asthma", "inhaled budesonide"]


def test_logs_never_carry_note_text(
    tmp_path: Path, tiny_model: CRFModel, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Patient Ramesh Kumar has asthma"
    notes = [Note("a", secret), Note("b", None, "n.jsonl:2: text is null")]
    with caplog.at_level(logging.DEBUG):
        extract_file(tiny_model, notes, tmp_path / "e.jsonl")
    assert caplog.records  # the skipped row was logged...
    assert all(
        "Ramesh" not in r.getMessage() and "asthma" not in r.getMessage() for r in caplog.records
    )


def test_a_run_away_span_is_not_reported() -> None:
    """Issue 23, item 7: a pathological note came back as one 99,999-character entity."""
    from medner.inference import entity_records
    from medner.inference.extract import MAX_ENTITY_CHARS
    from medner.types import Entity

    text = "Asthma " + "x" * 99_999

    class RunAway:
        def predict_by_sentence(self, note: str) -> list[list[Entity]]:
            return [[Entity(0, 6, "Asthma", "DISEASE"), Entity(7, len(note), note[7:], "DISEASE")]]

    records = entity_records(RunAway(), text)  # type: ignore[arg-type]
    assert [r["text"] for r in records] == ["Asthma"]
    edge = "y" * MAX_ENTITY_CHARS

    class AtTheCap:
        def predict_by_sentence(self, note: str) -> list[list[Entity]]:
            return [[Entity(0, len(note), note, "TREATMENT")]]

    assert [r["text"] for r in entity_records(AtTheCap(), edge)] == [edge]  # type: ignore[arg-type]


def test_records_can_name_their_section(tiny_model: CRFModel) -> None:
    from medner.inference import entity_records

    text = "Dx: Asthma was treated with budesonide .\nRx: budesonide ."
    records = entity_records(tiny_model, text, sections=True)
    assert records and {r["section"] for r in records} <= {"dx", "rx"}
    assert all("section" not in r for r in entity_records(tiny_model, text))
