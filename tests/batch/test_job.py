"""`medner batch` on a local Spark: same entities as the engine, every note accounted for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medner.batch.job import BatchConfig, run_batch
from medner.errors import MednerError
from medner.models import load_model
from medner.models.base import model_version
from medner.models.crf import CRFModel
from tests.conftest import DATA

pytestmark = pytest.mark.spark


def read_dataset(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def entity_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        str(row["note_id"]),
        row["start"],
        row["end"],
        row["text"],
        row["label"],
        round(row["confidence"], 6),
    )


@pytest.fixture
def model_dir(tmp_path: Path, tiny_model: CRFModel) -> Path:
    tiny_model.save(tmp_path / "model")
    return tmp_path / "model"


def test_batch_entities_equal_engine_entities(spark: Any, tmp_path: Path, model_dir: Path) -> None:
    table = pq.read_table(DATA / "mtsamples/mtsamples.parquet").slice(0, 40)
    notes = tmp_path / "notes.parquet"
    pq.write_table(table, notes)
    out = tmp_path / "out"
    summary = run_batch(
        BatchConfig(model_dir, out, notes, id_column="note_id", text_column="transcription"),
        spark,
    )
    assert (summary.notes, summary.quarantined) == (40, 0)

    model = load_model(model_dir)
    expected = {
        (str(i), e.start, e.end, e.text, e.label, round(e.confidence, 6))
        for i, text in zip(
            table.column("note_id").to_pylist(),
            table.column("transcription").to_pylist(),
            strict=True,
        )
        for e in model.predict(text)
    }
    rows = read_dataset(out / "entities")
    assert expected and {entity_key(r) for r in rows} == expected
    assert len(rows) == len(expected) == summary.entities
    # metadata carried through, model version recorded
    assert {r["medical_specialty"] for r in rows} <= set(
        table.column("medical_specialty").to_pylist()
    )
    assert {r["model_version"] for r in rows} == {model_version(model_dir)}
    notes_rows = read_dataset(out / "notes")
    assert len(notes_rows) == 40 and {r["status"] for r in notes_rows} == {"ok"}
    assert sum(r["entities"] for r in notes_rows) == len(rows)
    assert all(
        r["entities"] == r["diseases"] + r["treatments"] + r["chemicals"] for r in notes_rows
    )


def test_every_note_accounted_for_with_quarantine(
    spark: Any, tmp_path: Path, model_dir: Path
) -> None:
    notes = tmp_path / "notes.jsonl"
    rows = [
        {"id": 1, "text": "We gave aspirin to patients with stroke ."},
        {"id": 2, "text": None},
        {"id": 3, "text": "   "},
        {"id": 4, "text": "Asthma " * 40},
        {"id": 5, "text": "broken \ufffd bytes"},
        {"id": 6, "text": "Asthma was treated with inhaled budesonide ."},
    ]
    notes.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    summary = run_batch(BatchConfig(model_dir, out, notes, max_chars=200), spark)
    quarantine = {r["note_id"]: r["reason"] for r in read_dataset(out / "quarantine")}
    assert quarantine == {
        2: "text is null",
        3: "text is empty",
        4: "text longer than 200 characters",
        5: "text is not valid UTF-8",
    }
    processed = {r["note_id"] for r in read_dataset(out / "notes")}
    assert processed == {1, 6}
    assert summary.notes == 6 == len(processed) + len(quarantine)
    assert {r["text"] for r in read_dataset(out / "entities")} == {
        "aspirin", "stroke", "Asthma", "inhaled budesonide"
    }  # fmt: skip


def test_rerun_replaces_never_duplicates(spark: Any, tmp_path: Path, model_dir: Path) -> None:
    notes = tmp_path / "notes.csv"
    notes.write_text(
        'id,text,city\n1,"Hypertension responds to lisinopril in most adults .",Pune\n'
        '2,"We gave aspirin to patients with stroke .",Delhi\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    config = BatchConfig(model_dir, out, notes)
    run_batch(config, spark)
    first = sorted(map(entity_key, read_dataset(out / "entities")))
    run_batch(config, spark)
    second = sorted(map(entity_key, read_dataset(out / "entities")))
    assert first == second and len(first) == 4
    assert len(read_dataset(out / "notes")) == 2
    assert {r["city"] for r in read_dataset(out / "entities")} == {"Pune", "Delhi"}


def test_database_table_input(spark: Any, tmp_path: Path, model_dir: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'notes.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE notes (note_id INTEGER, body TEXT)"))
        conn.execute(
            sa.text("INSERT INTO notes VALUES (1, 'We gave aspirin to patients with stroke .')")
        )
    engine.dispose()
    out = tmp_path / "out"
    config = BatchConfig(
        model_dir, out, db_url=url, table="notes", id_column="note_id", text_column="body"
    )
    assert run_batch(config, spark).entities == 2


def test_missing_column_is_a_clear_error(spark: Any, tmp_path: Path, model_dir: Path) -> None:
    notes = tmp_path / "n.parquet"
    pq.write_table(pa.table({"id": [1], "body": ["x"]}), notes)
    with pytest.raises(MednerError, match="no column 'text'"):
        run_batch(BatchConfig(model_dir, tmp_path / "out", notes), spark)


@pytest.mark.slow
def test_all_mtsamples_batch_equals_extract(
    spark: Any, tmp_path: Path, default_model_dir: Path
) -> None:
    """All 4,966 notes: the batch job and `medner extract` give exactly the same entities."""
    from medner.inference import extract_file, read_notes

    notes = DATA / "mtsamples/mtsamples.parquet"
    out = tmp_path / "out"
    run_batch(
        BatchConfig(
            default_model_dir, out, notes, id_column="note_id", text_column="transcription"
        ),
        spark,
    )
    extracted = tmp_path / "extract.jsonl"
    extract_file(
        load_model(default_model_dir),
        read_notes(notes, "note_id", "transcription"),
        extracted,
    )
    expected = {
        (str(rec["id"]), e["start"], e["end"], e["text"], e["label"], round(e["confidence"], 6))
        for rec in map(json.loads, extracted.read_text(encoding="utf-8").splitlines())
        for e in rec["entities"]
    }
    got = [entity_key(r) for r in read_dataset(out / "entities")]
    assert len(got) == len(set(got)) == len(expected)
    assert set(got) == expected
    assert len(read_dataset(out / "notes")) == 4966


def test_a_binary_text_column_is_quarantined_not_called_ok(
    spark: Any, tmp_path: Path, model_dir: Path
) -> None:
    """Issue 23: binary text (valid UTF-8 or not) came out "ok" with no entities."""
    notes = tmp_path / "binary.parquet"
    texts = [b"Asthma was treated .", b"\xff\xfe broken", None]
    pq.write_table(pa.table({"id": [1, 2, 3], "text": pa.array(texts, pa.binary())}), notes)
    out = tmp_path / "out"
    summary = run_batch(BatchConfig(model_dir, out, notes), spark)
    quarantine = {r["note_id"]: r["reason"] for r in read_dataset(out / "quarantine")}
    assert quarantine == {
        1: "text is not a string (binary column)",
        2: "text is not a string (binary column)",
        3: "text is null",
    }
    assert read_dataset(out / "notes") == []
    assert (summary.notes, summary.quarantined, summary.entities) == (3, 3, 0)


def test_notes_carry_their_profile_when_asked(spark: Any, tmp_path: Path, model_dir: Path) -> None:
    """Issue 21, item 1: `medner batch --profile`, the same numbers the API logs."""
    from medner.inference import entity_records
    from medner.inference.profile import note_profile

    table = pq.read_table(DATA / "mtsamples/mtsamples.parquet").slice(0, 12)
    notes = tmp_path / "notes.parquet"
    pq.write_table(table, notes)
    config = BatchConfig(
        model_dir, tmp_path / "out", notes, id_column="note_id", text_column="transcription",
        profile=True,
    )  # fmt: skip
    run_batch(config, spark)
    model = load_model(model_dir)
    texts = dict(
        zip(
            map(str, table.column("note_id").to_pylist()),
            table.column("transcription").to_pylist(),
            strict=True,
        )
    )
    rows = read_dataset(tmp_path / "out/notes")
    assert len(rows) == 12
    for row in rows:
        text = texts[str(row["note_id"])]
        expected = note_profile(
            text, entity_records(model, text, sentences=True), model.labels, None
        )
        assert json.loads(row["profile"]) == expected


def test_entities_carry_what_they_mean_when_asked(
    spark: Any, tmp_path: Path, default_model_dir: Path
) -> None:
    """Issue 24: `medner batch --meaning` writes each entity's position in its note, assertion,
    concept and the diseases it treats: what `medner extract --meaning` gives."""
    from medner.inference import entity_records

    lines = (DATA / "prescriptions/dev.jsonl").read_text(encoding="utf-8").splitlines()
    rows_in = [json.loads(line) for line in lines[:20]]
    notes = tmp_path / "notes.parquet"
    table = pa.table({"id": [r["id"] for r in rows_in], "text": [r["text"] for r in rows_in]})
    pq.write_table(table, notes)
    config = BatchConfig(default_model_dir, tmp_path / "out", notes, meaning=True)
    run_batch(config, spark)
    model = load_model(default_model_dir)
    fields = ("assertion", "concept", "links")
    expected = {}
    for r in rows_in:
        for i, e in enumerate(entity_records(model, r["text"], meaning=fields)):
            concept = e["concept"] and {k: e["concept"][k] for k in ("system", "code", "name")}
            expected[(r["id"], i)] = (e["start"], e["assertion"], concept, e.get("treats"))
    rows = read_dataset(tmp_path / "out/entities")
    got = {
        (r["note_id"], r["index"]): (r["start"], r["assertion"], r["concept"], r["treats"])
        for r in rows
    }
    assert got == expected and len(got) > 100
    assert {r["assertion"] for r in rows} >= {"present", "absent"}
