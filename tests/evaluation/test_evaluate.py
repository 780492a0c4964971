from __future__ import annotations

import json
from pathlib import Path

from medner.evaluation.evaluate import evaluate_model, write_error_report
from medner.models.crf import CRFModel
from medner.types import Document, Entity


def test_evaluate_model_on_training_docs_is_perfect(
    tiny_model: CRFModel, tiny_docs: list[Document]
) -> None:
    result = evaluate_model(tiny_model, tiny_docs)
    assert result.scores.micro.f1 == 1.0
    out = result.to_dict()
    assert out["sentences"] == len(tiny_docs) and out["token_weighted_f1"] == 1.0


def test_error_report_kinds(tmp_path: Path) -> None:
    text = "aspirin for unstable angina and gout"
    doc = Document(
        "n1",
        text,
        [
            Entity(0, 7, "aspirin", "TREATMENT"),
            Entity(12, 27, "unstable angina", "DISEASE"),
            Entity(32, 36, "gout", "DISEASE"),
        ],
    )
    pred = [
        Entity(0, 7, "aspirin", "DISEASE"),  # label error
        Entity(21, 27, "angina", "DISEASE"),  # boundary error
        Entity(8, 11, "for", "DISEASE"),  # spurious
    ]  # gout missed
    path = tmp_path / "errors.jsonl"
    assert write_error_report([doc], [pred], path) == 6
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    kinds = sorted((r["type"], r["kind"], r["entity"]["text"]) for r in rows)
    assert kinds == [
        ("fn", "boundary", "unstable angina"),
        ("fn", "label", "aspirin"),
        ("fn", "missed", "gout"),
        ("fp", "boundary", "angina"),
        ("fp", "label", "aspirin"),
        ("fp", "spurious", "for"),
    ]
    missed = next(r for r in rows if r["kind"] == "missed")
    assert "[[gout]]" in missed["context"] and missed["counterpart"] is None
