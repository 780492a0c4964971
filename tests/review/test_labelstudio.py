"""Label Studio interchange: tasks out with predictions, annotations back as reviews."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from medner.errors import DataFormatError
from medner.inference import Note
from medner.models.crf import CRFModel
from medner.review import import_notes, queue_engine
from medner.review.labelstudio import export_tasks, import_annotations


def test_tasks_go_out_and_annotations_come_back_as_reviews(
    db_url: str, tiny_model: CRFModel, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    tiny_model.save(model_dir)
    engine = queue_engine(db_url)
    notes = [
        Note("a", "Asthma was treated with inhaled budesonide ."),
        Note("b", "😀 Gout flared ."),
    ]
    import_notes(engine, tiny_model, model_dir, notes, audit_share=0, double_share=0)
    out = tmp_path / "ls.json"
    assert export_tasks(engine, out) == 2
    tasks = json.loads(out.read_text())
    first = tasks[0]
    assert first["data"]["medner_task_id"] and first["predictions"][0]["result"]
    region = first["predictions"][0]["result"][0]["value"]
    assert first["data"]["text"][region["start"] : region["end"]] == region["text"]
    # what a Label Studio export looks like after annotation: the first task accepted as is,
    # the second annotated by a frontend that counted UTF-16 units ("😀" is two of them)
    emoji_text = tasks[1]["data"]["text"]
    tasks[0]["annotations"] = [
        {"completed_by": 7, "lead_time": 3.5, "result": first["predictions"][0]["result"]}
    ]
    tasks[1]["annotations"] = [
        {
            "completed_by": 7,
            "result": [
                {
                    "type": "labels",
                    "value": {"start": 3, "end": 7, "text": "Gout", "labels": ["DISEASE"]},
                },
                {"type": "labels", "value": {"start": 0, "end": 90, "labels": ["DISEASE"]}},
            ],
        }
    ]
    tasks.append(
        {
            "data": {"text": "Hypertension responds to lisinopril ."},
            "annotations": [
                {
                    "completed_by": 8,
                    "result": [
                        {"type": "labels", "value": {"start": 0, "end": 12, "labels": ["DISEASE"]}}
                    ],
                }
            ],
        }
    )
    annotated = tmp_path / "export.json"
    annotated.write_text(json.dumps(tasks))
    summary = import_annotations(engine, annotated)
    assert (summary.reviews, summary.new_tasks) == (3, 1)
    assert len(summary.problems) == 1 and "region 1" in summary.problems[0]
    again = import_annotations(engine, annotated)  # importing twice changes nothing
    assert (again.reviews, again.new_tasks) == (0, 0)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT t.text, r.entities, r.reviewer FROM reviews r"
                " JOIN review_tasks t ON t.id = r.task_id"
            )
        ).all()
    engine.dispose()
    by_text = {
        r.text: (json.loads(r.entities) if isinstance(r.entities, str) else r.entities)
        for r in rows
    }
    assert by_text[emoji_text] == [{"start": 2, "end": 6, "text": "Gout", "label": "DISEASE"}]
    assert {r.reviewer for r in rows} == {"labelstudio:7", "labelstudio:8"}


def test_a_file_that_is_not_a_label_studio_export_is_a_clear_error(
    db_url: str, tmp_path: Path
) -> None:
    engine = queue_engine(db_url)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataFormatError, match=r"bad\.json"):
        import_annotations(engine, bad)
    engine.dispose()
