"""Issue 21, items 1 and 2 (first part): the numeric profile of a note, the reference profile a
model carries, drift verdicts, and `medner monitor` on an empty window or without a reference."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from medner.cli.main import app
from medner.errors import MednerError
from medner.inference.profile import VOCABULARY_FILE, note_profile
from medner.models.crf import CRFModel
from medner.monitoring.drift import compare
from medner.monitoring.monitor import parse_since
from medner.monitoring.profile import PROFILE_FILE, read_reference, write_reference
from medner.store.db import engine as make_engine
from medner.store.db import migrate
from medner.store.tables import Prediction
from medner.types import Document


def test_a_profile_is_numbers_only() -> None:
    text = "Pt c/o fever x 3 days. K/C/O HTN. Rx: Tab. Dolo 650."
    entities = [{"start": 7, "end": 12, "label": "DISEASE"}, {"start": 43, "end": 51,
                "label": "TREATMENT"}]  # fmt: skip
    got = note_profile(text, entities, ["DISEASE", "TREATMENT"], frozenset({"pt", "fever"}))
    assert got["length_chars"] == len(text) and got["length_words"] == 15  # c/o: c, o
    assert got["oov_share"] == pytest.approx(13 / 15, abs=1e-6)
    assert got["digit_share"] == pytest.approx(4 / len(text), abs=1e-6)
    assert got["DISEASE_per_1k"] == pytest.approx(1000 / len(text), abs=1e-6)
    assert all(isinstance(v, float) for v in got.values())
    assert "oov_share" not in note_profile(text, entities, ["DISEASE"])  # no vocabulary


def test_a_model_carries_its_training_profile(tiny_model: CRFModel, tiny_docs: list[Document],
                                              tmp_path: Path) -> None:  # fmt: skip
    tiny_model.save(tmp_path / "m")
    with pytest.raises(MednerError, match="medner profile"):
        read_reference(tmp_path / "m")
    write_reference(tiny_model, tmp_path / "m", [d.text for d in tiny_docs])
    reference = read_reference(tmp_path / "m")
    assert reference["notes"] == len(tiny_docs)
    assert set(reference["features"]) >= {"length_chars", "oov_share", "DISEASE_per_1k"}
    assert "the" in (tmp_path / "m" / VOCABULARY_FILE).read_text().split()
    texts = " ".join(d.text for d in tiny_docs)
    assert "Radiotherapy" not in (tmp_path / "m" / PROFILE_FILE).read_text()  # no text
    assert "radiotherapy" not in (tmp_path / "m" / VOCABULARY_FILE).read_text()  # seen once
    assert texts


def _profiles(rng: random.Random, n: int, length: float) -> list[dict[str, float]]:
    return [
        {"length_chars": rng.gauss(length, length / 5), "digit_share": rng.random() * 0.05}
        for _ in range(n)
    ]


def test_drift_is_a_large_significant_change_and_nothing_else() -> None:
    rng = random.Random(5)
    reference = {"features": {k: [p[k] for p in _profiles(rng, 2000, 300)] for k in
                              ("length_chars", "digit_share")},
                 "confidence": [rng.betavariate(8, 2) for _ in range(3000)],
                 "label_counts": {"DISEASE": 600, "TREATMENT": 400}}  # fmt: skip
    mixed = [
        [{"label": "DISEASE" if rng.random() < 0.6 else "TREATMENT",
          "confidence": rng.betavariate(8, 2)}]
        for _ in range(300)
    ]  # fmt: skip
    same = compare(reference, _profiles(rng, 300, 300), mixed)
    assert same and not any(v.drift for v in same), same
    entities = [[{"label": "DISEASE", "confidence": rng.betavariate(8, 2)}] for _ in range(300)]
    longer = compare(reference, _profiles(rng, 300, 900), entities)
    moved = {v.feature for v in longer if v.drift}
    assert "length_chars" in moved and "digit_share" not in moved
    assert "label_shares" in moved  # only diseases in the window, 60 % in the reference
    assert compare(reference, _profiles(rng, 29, 900), entities[:29]) == []  # too few


def test_parse_since() -> None:
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-12-01", now) == datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(MednerError, match="24h, 7d"):
        parse_since("yesterday", now)


def test_monitor_says_what_it_cannot_judge(tiny_model: CRFModel, tiny_docs: list[Document],
                                           tmp_path: Path) -> None:  # fmt: skip
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    tiny_model.save(tmp_path / "m")
    no_ref = runner.invoke(app, ["monitor", "--model", str(tmp_path / "m"), "--database-url", url])
    assert no_ref.exit_code == 2 and "medner profile" in no_ref.output
    got = runner.invoke(
        app, ["profile", str(tmp_path / "m"), "--data", str(_jsonl(tiny_docs, tmp_path))]
    )
    assert got.exit_code == 0, got.output
    empty = runner.invoke(app, ["monitor", "--model", str(tmp_path / "m"), "--database-url", url,
                                "--format", "json"])  # fmt: skip
    assert empty.exit_code == 0, empty.output
    assert "too few for a verdict" in empty.output
    assert json.loads(empty.stdout)["drift"] is None


def test_monitor_flags_a_shifted_log_and_not_the_same_source(
    tiny_model: CRFModel, tiny_docs: list[Document], tmp_path: Path
) -> None:
    from medner.inference import entity_records

    url = f"sqlite:///{tmp_path / 'store.db'}"
    tiny_model.save(tmp_path / "m")
    texts = [d.text for d in tiny_docs] * 40
    write_reference(tiny_model, tmp_path / "m", texts)
    migrate(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    shifted = [t.upper() + " 12345 67890 " + t for t in texts[:60]]

    def log(batch: list[str], when: datetime) -> None:
        rows = []
        for i, text in enumerate(batch):
            found = entity_records(tiny_model, text)
            rows.append(
                {"created_at": when, "request_id": f"r{i}", "text_sha256": "0" * 64,
                 "length": len(text), "entities": found, "entity_count": len(found),
                 "model_version": "m", "latency_ms": 1.0,
                 "profile": note_profile(text, found, tiny_model.labels, None),
                 "segments": {"clinic": "a" if i % 2 else "b"}}
            )  # fmt: skip
        with engine.begin() as conn:
            conn.execute(sa.insert(Prediction), rows)

    log(texts[:60], now - timedelta(days=3))
    log(shifted, now - timedelta(hours=1))
    engine.dispose()
    runner = CliRunner()
    base = ["monitor", "--model", str(tmp_path / "m"), "--database-url", url, "--format", "json"]
    recent = runner.invoke(app, [*base, "--since", "24h", "--segment", "clinic"])
    assert recent.exit_code == 1, recent.output  # drift
    report = json.loads(recent.stdout)
    assert report["drift"] is True and report["notes"] == 60
    assert {"length_chars", "digit_share"} <= {
        f["feature"] for f in report["features"] if f["drift"]
    }
    assert set(report["segments"]) == {"a", "b"}
    older = runner.invoke(
        app, [*base, "--since", "4d", "--until", (now - timedelta(days=2)).isoformat()]
    )
    assert older.exit_code == 0, older.output
    assert json.loads(older.stdout)["drift"] is False
    page = tmp_path / "drift.html"
    html = runner.invoke(app, [*base[:-2], "--since", "24h", "--format", "html", "-o", str(page)])
    assert html.exit_code == 1 and "<svg" in page.read_text()
    assert "asthma" not in page.read_text().lower()  # numbers only


def _jsonl(docs: list[Document], tmp_path: Path) -> Path:
    from medner.data.writers import write_jsonl

    path = tmp_path / "train.jsonl"
    write_jsonl(docs, path)
    return path


def test_medner_extract_profiles_each_note_when_asked(
    tiny_model: CRFModel, tiny_docs: list[Document], tmp_path: Path
) -> None:
    tiny_model.save(tmp_path / "m")
    notes = tmp_path / "notes.jsonl"
    notes.write_text(
        "\n".join(json.dumps({"id": i, "text": d.text}) for i, d in enumerate(tiny_docs)) + "\n"
    )
    out = tmp_path / "out.jsonl"
    args = ["extract", "--model", str(tmp_path / "m"), "--input", str(notes), "--output", str(out)]
    assert CliRunner().invoke(app, [*args, "--no-progress"]).exit_code == 0
    assert all("profile" not in json.loads(line) for line in out.read_text().splitlines())
    assert CliRunner().invoke(app, [*args, "--no-progress", "--profile"]).exit_code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == len(tiny_docs)
    for line, doc in zip(lines, tiny_docs, strict=True):
        assert line["profile"]["length_chars"] == len(doc.text)
        assert "oov_share" not in line["profile"]  # a model without a vocabulary
