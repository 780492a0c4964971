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


def meaning_dataset(path: Path) -> Path:
    """Entities as `medner batch --meaning` writes them: a negated disease, a family one, two
    brands of one generic, and a treatment linked to one of two diseases in its sentence."""
    drug = {"system": "generic-drug", "code": "DB00316", "name": "paracetamol"}
    icd = {"system": "ICD-10-CM", "code": None, "name": "x"}
    rows = [
        # note 1: "C/o fever. No h/o DM. Dx: viral fever. Rx: Dolo 650, Pan 40"
        (1, 0, "fever", "DISEASE", 0, "present", icd, None),
        (1, 1, "DM", "DISEASE", 1, "absent", icd, None),
        (1, 2, "viral fever", "DISEASE", 2, "present", icd, None),
        (1, 3, "Dolo 650", "TREATMENT", 2, "present", drug, [2]),
        (1, 4, "Pan 40", "TREATMENT", 2, "present",
         {"system": "generic-drug", "code": "DB00213", "name": "pantoprazole"}, [2]),
        # note 2: "F/H/O DM. C/o fever, cough: Crocin for fever" (cough in the sentence, unlinked)
        (2, 0, "DM", "DISEASE", 0, "family", icd, None),
        (2, 1, "fever", "DISEASE", 1, "present", icd, None),
        (2, 2, "cough", "DISEASE", 1, "present", icd, None),
        (2, 3, "Crocin", "TREATMENT", 1, "present", drug, [1]),
        (2, 4, "fever", "DISEASE", 1, "present", icd, None),
    ]  # fmt: skip
    path.mkdir(parents=True)
    columns = ("note_id", "index", "text", "label", "sentence", "assertion", "concept", "treats")
    table = {c: [r[i] for r in rows] for i, c in enumerate(columns)}
    table |= {"start": [0] * len(rows), "end": [1] * len(rows), "confidence": [0.9] * len(rows)}
    pq.write_table(pa.table(table), path / "part-0.parquet")
    return path


def test_the_filters_count_what_mentions_mean(tmp_path: Path) -> None:
    out = tmp_path / "report"
    run_analytics(meaning_dataset(tmp_path / "entities"), out)
    diseases = {r["disease"]: r["notes"] for r in read_csv(out / "top_diseases.csv")}
    assert diseases == {"fever": "2", "viral fever": "1", "cough": "1"}  # no DM: absent, family
    treatments = {r["treatment"]: r["notes"] for r in read_csv(out / "top_treatments.csv")}
    assert treatments == {"paracetamol": "2", "pantoprazole": "1"}
    linked = {(r["disease"], r["treatment"]): r["links"]
              for r in read_csv(out / "disease_treatments_linked.csv")}  # fmt: skip
    assert linked == {
        ("viral fever", "paracetamol"): "1", ("viral fever", "pantoprazole"): "1",
        ("fever", "paracetamol"): "1",
    }  # fmt: skip
    removed = {r["filter"]: int(r["mentions"]) for r in read_csv(out / "filters.csv")}
    assert removed["disease mentions not present: absent"] == 1
    assert removed["disease mentions not present: family"] == 1
    assert removed["treatment mentions named by their generic"] == 3
    assert removed["distinct treatment names merged"] == 1  # 3 names, 2 generics
    # note 1: Dolo and Pan with fever-free sentence 2 → 0; note 2: Crocin with cough and the
    # first fever (linked to the second fever only) → 2
    assert removed["same-sentence disease-treatment pairs that are not links"] == 2
    unfiltered = {r["disease"] for r in read_csv(out / "top_diseases_all.csv")}
    assert "dm" in unfiltered
    page = (out / "report.html").read_text()
    assert "without the filters" in page and "with the filters" in page


def test_the_filters_need_what_the_batch_writes_with_meaning(tmp_path: Path) -> None:
    with pytest.raises(MednerError, match="--meaning"):
        run_analytics(entities_dataset(tmp_path / "entities"), tmp_path / "out", filters=True)
    tables = run_analytics(meaning_dataset(tmp_path / "m"), tmp_path / "out2", filters=False)
    assert "disease_treatments_sentence" in {t.name for t in tables}
