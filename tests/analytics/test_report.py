from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medner.analytics.report import run_analytics
from medner.errors import MednerError


def entities_dataset(path: Path) -> Path:
    rows = [
        # note 1: diabetes + metformin in sentence 0; insulin in sentence 1
        (1, "diabetes", "DISEASE", 0, "Endocrinology"),
        (1, "Metformin", "TREATMENT", 0, "Endocrinology"),
        (1, "insulin", "TREATMENT", 1, "Endocrinology"),
        # note 2: diabetes + metformin in one sentence
        (2, "Diabetes", "DISEASE", 3, "General"),
        (2, "metformin", "TREATMENT", 3, "General"),
        # note 3: asthma alone
        (3, "asthma", "DISEASE", 0, "General"),
    ]
    path.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "note_id": [r[0] for r in rows],
                "start": [0] * len(rows),
                "end": [1] * len(rows),
                "text": [r[1] for r in rows],
                "label": [r[2] for r in rows],
                "confidence": [0.9] * len(rows),
                "sentence": [r[3] for r in rows],
                "medical_specialty": [r[4] for r in rows],
            }
        ),
        path / "part-0.parquet",
    )
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_dictionary_counts_by_sentence_and_by_note(tmp_path: Path) -> None:
    out = tmp_path / "report"
    run_analytics(entities_dataset(tmp_path / "entities"), out)
    sentence = read_csv(out / "disease_treatments_sentence.csv")
    assert sentence == [
        {"disease": "diabetes", "treatment": "metformin", "mentions": "2", "notes": "2"}
    ]
    note = {
        (r["disease"], r["treatment"]): r["notes"]
        for r in read_csv(out / "disease_treatments_note.csv")
    }
    assert note == {("diabetes", "metformin"): "2", ("diabetes", "insulin"): "1"}
    top = json.loads((out / "top_diseases.json").read_text())
    assert top[0] == {"disease": "diabetes", "notes": 2, "mentions": 2}
    by_specialty = read_csv(out / "top_by_medical_specialty.csv")
    assert {"group": "General", "label": "DISEASE", "term": "asthma", "notes": "1"} in by_specialty
    page = (out / "report.html").read_text()
    assert page.count("<svg") == 3 and "diabetes → metformin" in page
    # the page's own title, not the last chart's (a loop variable once shadowed it)
    assert "<title>medner analytics</title>" in page and "<h1>medner analytics</h1>" in page
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")


def test_missing_entities_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MednerError, match="run `medner batch` first"):
        run_analytics(tmp_path / "nothing", tmp_path / "out")
