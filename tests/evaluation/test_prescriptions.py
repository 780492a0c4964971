"""Issue 22: the default model reads Indian e-prescriptions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medner.data.documents import load_documents
from medner.data.vocabulary import drug_names
from medner.evaluation.evaluate import evaluate_model
from medner.inference import entity_records
from medner.models import load_model
from tests.conftest import DATA

pytestmark = pytest.mark.slow

NOTE = (
    "Pt c/o fever x 3 days, body ache. K/C/O HTN, DM2 on OHA. Dx: viral fever. Rx: Tab. Dolo "
    "650 1-0-1 x 5 days, Tab. Pan 40 OD BBF, Syp. Ascoril LS 5ml TDS. Advice: steam "
    "inhalation, plenty of fluids."
)


def test_the_issue_note_gives_every_entity_with_the_guideline_spans(
    default_model_dir: Path,
) -> None:
    found = {(e["text"], e["label"]) for e in entity_records(load_model(default_model_dir), NOTE)}
    expected = {
        ("fever", "DISEASE"),
        ("body ache", "DISEASE"),
        ("HTN", "DISEASE"),
        ("DM2", "DISEASE"),
        ("OHA", "TREATMENT"),
        ("viral fever", "DISEASE"),
        ("Dolo 650", "TREATMENT"),
        ("Pan 40", "TREATMENT"),
        ("Ascoril LS", "TREATMENT"),
        ("steam inhalation", "TREATMENT"),
    }
    assert expected <= found, expected - found
    assert not {t for t, _ in found} & {"Dx", "Rx", "Advice", "plenty of fluids", "1-0-1"}


def _training_names() -> set[str]:
    names = set()
    for line in (DATA / "prescriptions/train.jsonl").read_text(encoding="utf-8").splitlines():
        names |= {e["text"].lower() for e in json.loads(line)["entities"]}
    for line in (DATA / "prescriptions/train.jsonl").read_text(encoding="utf-8").splitlines():
        names |= {w.lower() for w in json.loads(line)["text"].split()}
    return names


def test_a_drug_in_no_vocabulary_and_no_training_note_is_read_from_context(
    default_model_dir: Path,
) -> None:
    model = load_model(default_model_dir)
    seen = _training_names()
    for brand, line in [
        ("Zorvexa 20", "Tab. Zorvexa 20 1-0-1 after food x 5 days"),
        ("Quilobin", "Cap. Quilobin 500 mg BD x 7 days"),
        ("Trevamox LS", "Syp. Trevamox LS 5ml TDS"),
    ]:
        first = brand.split()[0].lower()
        assert first not in drug_names() and first not in seen  # truly unseen
        note = f"C/o cough x 3 days. Rx: {line}"
        got = [(e["text"], e["label"]) for e in entity_records(model, note)]
        assert (brand, "TREATMENT") in got, (note, got)


def test_the_default_scores_its_floor_on_the_prescription_dev_split(
    default_model_dir: Path,
) -> None:
    """A regression guard (the dev split chose the model; docs/benchmarks.md has the test)."""
    result = evaluate_model(
        load_model(default_model_dir), load_documents([DATA / "prescriptions/dev.jsonl"])
    )
    assert result.scores.micro.f1 >= 0.90
