"""Live KPIs from the review record (issue 20, item 1): a hand-built record gives the values
computed by hand, and live F1 over simulated validators equals ``medner evaluate``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from medner.cli.main import app
from medner.evaluation.evaluate import evaluate_model
from medner.inference import Note
from medner.models.crf import CRFModel
from medner.review import enqueue, import_notes, next_task, queue_engine, submit
from medner.review.kpis import live_kpis, outcomes
from medner.types import Document, Entity

TEXT = "aaaa bbbb cccc dddd eeee ffff"  # words at 0, 5, 10, 15, 20, 25 (4 characters each)


def span(start: int, end: int, label: str, confidence: float = 0.5) -> dict[str, object]:
    return {
        "start": start,
        "end": end,
        "text": TEXT[start:end],
        "label": label,
        "confidence": confidence,
    }


def e(start: int, end: int, label: str) -> Entity:
    return Entity(start, end, TEXT[start:end], label)


def test_outcomes_pair_exact_then_same_span_then_overlap() -> None:
    predicted = [e(0, 4, "DISEASE"), e(5, 9, "TREATMENT"), e(10, 14, "DISEASE"), e(15, 19, "X")]
    validated = [e(0, 4, "DISEASE"), e(5, 9, "DISEASE"), e(10, 12, "DISEASE"), e(25, 29, "T")]
    got = outcomes(predicted, validated)
    assert got == {
        ("accepted", "DISEASE"): 1,
        ("relabelled", "TREATMENT"): 1,
        ("resized", "DISEASE"): 1,
        ("rejected", "X"): 1,
        ("added", "T"): 1,
    }


def build_record(engine: sa.Engine) -> None:
    """Four notes reviewed by hand-chosen validators:

    1 (audit): predicted D aaaa, T bbbb, D cccc, T dddd; validated D aaaa (accepted), D bbbb
      (relabelled), D cc (resized), T ffff (added); dddd rejected. 30 s.
    2 (audit): predicted and validated D aaaa, T eeee (2 accepted). 50 s.
    3: nothing predicted; validated D bbbb (added). 100 s.
    4 (two validators): predicted D aaaa; v1 keeps it and adds T bbbb (20 s); v2 keeps only
      D aaaa (agreement F1 2/3).
    """
    version = "m1"
    first = [
        span(0, 4, "DISEASE", 0.1),
        span(5, 9, "TREATMENT"),
        span(10, 14, "DISEASE"),
        span(15, 19, "TREATMENT"),
    ]
    enqueue(engine, [("n1", TEXT, first)], version, audit_share=1.0, double_share=0.0)
    enqueue(
        engine,
        [("n2", TEXT, [span(0, 4, "DISEASE", 0.2), span(20, 24, "TREATMENT")])],
        version,
        audit_share=1.0,
        double_share=0.0,
    )
    enqueue(engine, [("n3", TEXT, [])], version, audit_share=0.0, double_share=0.0)
    enqueue(
        engine,
        [("n4", TEXT, [span(0, 4, "DISEASE", 0.9)])],
        version,
        audit_share=0.0,
        double_share=1.0,
    )
    # the queue order is priority: n1 (0.1), n2 (0.2), then n3 (random place), n4 (0.9); the
    # validators take what they are given, so each note's review is chosen by its note id
    day = datetime(2026, 11, 30, 9, tzinfo=UTC)
    reviews = {
        "n1": [
            span(0, 4, "DISEASE"),
            span(5, 9, "DISEASE"),
            span(10, 12, "DISEASE"),
            span(25, 29, "TREATMENT"),
        ],
        "n2": [span(0, 4, "DISEASE"), span(20, 24, "TREATMENT")],
        "n3": [span(5, 9, "DISEASE")],
        "n4": [span(0, 4, "DISEASE"), span(5, 9, "TREATMENT")],
    }
    seconds = {"n1": 30.0, "n2": 50.0, "n3": 100.0, "n4": 20.0}
    for i in range(4):
        task = next_task(engine, "v1", now=day + timedelta(minutes=i))
        assert task is not None and task.note_id is not None
        submit(
            engine,
            "v1",
            task.id,
            reviews[task.note_id],
            seconds_active=seconds[task.note_id],
            now=day + timedelta(minutes=i),
        )
    task = next_task(engine, "v2", now=day + timedelta(days=7))
    assert task is not None and task.note_id == "n4"
    submit(
        engine,
        "v2",
        task.id,
        [span(0, 4, "DISEASE")],
        seconds_active=40.0,
        now=day + timedelta(days=7),
    )


@pytest.fixture
def record(db_url: str) -> sa.Engine:
    engine = queue_engine(db_url)
    build_record(engine)
    yield engine
    engine.dispose()


def test_kpis_of_a_hand_built_record_equal_the_hand_computed_values(record: sa.Engine) -> None:
    summary = live_kpis(record, manual_seconds=180.0, bootstrap=200)
    k = summary.overall
    assert (k.notes, k.audit_notes, k.double_reviewed) == (4, 2, 1)
    assert k.counts == {"accepted": 4, "relabelled": 1, "resized": 1, "rejected": 1, "added": 3}
    assert k.fix_rate == pytest.approx(3 / 7)  # relabelled + resized + rejected of 7 predicted
    assert k.miss_rate == pytest.approx(3 / 9)  # added of 9 validated
    # live F1 on the audit notes 1 and 2 only: TP 3, FP 3, FN 3
    assert k.f1["micro"] == pytest.approx(0.5)
    lo, hi = k.f1_ci95["micro"]
    assert lo <= 0.5 <= hi
    assert k.seconds_per_note == pytest.approx(40.0)  # median of 30, 50, 100, 20
    assert k.hours_saved_per_1000 == pytest.approx(1000 * (180 - 40) / 3600)
    assert k.notes_per_validator_hour == pytest.approx(4 / (200 / 3600))
    assert k.agreement_f1 == pytest.approx(2 / 3)
    assert summary.backlog == 0


def test_kpis_by_label_validator_and_period(record: sa.Engine) -> None:
    by_label = {r.group: r for r in live_kpis(record, by="label", bootstrap=0).groups}
    # TREATMENT: predicted bbbb (now a disease: rejected as a treatment), dddd (rejected),
    # eeee (accepted); validated eeee, ffff (added), bbbb in note 4 (added)
    t = by_label["TREATMENT"]
    assert t.counts == {"accepted": 1, "relabelled": 0, "resized": 0, "rejected": 2, "added": 2}
    assert t.seconds_per_note is None
    by_validator = {r.group: r.notes for r in live_kpis(record, by="validator", bootstrap=0).groups}
    assert by_validator == {"v1": 4}  # v2's review of note 4 is its second: agreement only
    later = live_kpis(record, since=datetime(2026, 12, 8, tzinfo=UTC), bootstrap=0)
    assert later.overall.notes == 0 and later.overall.fix_rate is None
    first_two = live_kpis(record, until=datetime(2026, 11, 30, 9, 1, 30, tzinfo=UTC), bootstrap=0)
    assert first_two.overall.notes == 2
    weeks = [w.group for w in live_kpis(record, bootstrap=0).weeks]
    assert weeks == ["2026-W49"]


def test_live_f1_over_simulated_validators_equals_medner_evaluate(
    db_url: str, tiny_model: CRFModel, tiny_docs: list[Document], tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    tiny_model.save(model_dir)
    engine = queue_engine(db_url)
    gold = {d.id: d for d in tiny_docs}
    notes = [Note(d.id, d.text) for d in tiny_docs]
    import_notes(engine, tiny_model, model_dir, notes, audit_share=1.0, double_share=0.0)
    while (task := next_task(engine, "sim")) is not None:
        entities = [x.to_dict() for x in gold[str(task.note_id)].entities]
        submit(engine, "sim", task.id, entities)
    live = live_kpis(engine, bootstrap=0).overall
    offline = evaluate_model(tiny_model, tiny_docs).scores
    assert live.notes == len(tiny_docs)
    assert live.f1["micro"] == pytest.approx(offline.micro.f1)
    for label, prf in offline.per_label.items():
        assert live.f1[label] == pytest.approx(prf.f1)
    engine.dispose()


def test_kpis_cli_json_table_and_html(record: sa.Engine, db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    got = runner.invoke(
        app,
        ["kpis", "--database-url", db_url, "--format", "json", "--bootstrap", "0", "--by", "week"],
    )
    assert got.exit_code == 0, got.output
    payload = json.loads(got.stdout)
    assert payload["overall"]["fix_rate"] == pytest.approx(3 / 7, abs=1e-6)
    assert [g["group"] for g in payload["groups"]] == ["2026-W49"]
    table = runner.invoke(app, ["kpis", "--database-url", db_url, "--bootstrap", "0"])
    assert table.exit_code == 0 and "42.9%" in table.stdout
    page = tmp_path / "kpis.html"
    made = runner.invoke(
        app,
        ["kpis", "--database-url", db_url, "--format", "html", "-o", str(page), "--bootstrap", "0"],
    )
    assert made.exit_code == 0, made.output
    html = page.read_text(encoding="utf-8")
    assert "<svg" in html and "<script" not in html  # self-contained: nothing loaded
    assert "http" not in html.replace("http://www.w3.org", "")
    assert "aaaa" not in html  # numbers only: no note text in the report
    bad = runner.invoke(app, ["kpis", "--database-url", db_url, "--by", "city"])
    assert bad.exit_code == 2 and "--by must be one of" in bad.output
