"""The API's prediction log in the store, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from medner.models.base import model_version
from medner.serving.service import build_app
from tests.serving.conftest import EXTRACT, make_settings


def _rows(url: str) -> list[sa.Row]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = list(conn.execute(sa.text("SELECT * FROM predictions ORDER BY id")))
    engine.dispose()
    return rows


def test_every_extraction_is_logged_without_text(
    db_url: str, model_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(model_dir, tmp_path, database_url=db_url)
    notes = [f"Asthma was treated with inhaled budesonide , case {i} ." for i in range(7)]
    with TestClient(build_app(settings)) as client:
        for i, text in enumerate(notes[:5]):
            r = client.post("/v1/extract", json={"text": text, "note_id": i}, headers=EXTRACT)
            assert r.status_code == 200
        batch = [{"text": t, "note_id": 5 + i} for i, t in enumerate(notes[5:])]
        assert client.post("/v1/extract/batch", json={"notes": batch}, headers=EXTRACT).is_success
        client.post("/v1/extract", json={"text": "x" * 5000}, headers=EXTRACT)  # 413: not logged
    rows = _rows(db_url)  # the app has shut down: the buffer was flushed
    assert len(rows) == 7
    version = model_version(model_dir)
    for i, row in enumerate(rows):
        assert row.note_id == str(i)
        assert row.text_sha256 == hashlib.sha256(notes[i].encode()).hexdigest()
        assert row.length == len(notes[i])
        assert row.model_version == version
        assert row.text is None
        assert row.key_id and row.key_id.startswith("k_")
        assert row.latency_ms >= 0 and row.created_at is not None
        entities = row.entities if isinstance(row.entities, list) else json.loads(row.entities)
        assert row.entity_count == len(entities)
        assert entities and all(set(e) == {"start", "end", "label", "confidence"} for e in entities)


def test_text_is_stored_only_when_asked(db_url: str, model_dir: Path, tmp_path: Path) -> None:
    settings = make_settings(model_dir, tmp_path, database_url=db_url, prediction_log_text=True)
    with TestClient(build_app(settings)) as client:
        client.post("/v1/extract", json={"text": "Gout flared ."}, headers=EXTRACT)
    assert [r.text for r in _rows(db_url)] == ["Gout flared ."]


def test_each_note_is_profiled_with_numbers_and_named_segments_only(
    db_url: str, model_dir: Path, tiny_docs: list, tmp_path: Path
) -> None:
    """Issue 21, item 1: the profile (numbers; the OOV share against the model's own
    vocabulary) and the segments the deployment names, nothing else from the request."""
    import shutil

    from medner.inference.profile import read_vocabulary
    from medner.models import load_model
    from medner.monitoring.profile import write_reference

    model = tmp_path / "profiled"
    shutil.copytree(model_dir, model)
    write_reference(load_model(model), model, [d.text for d in tiny_docs])
    settings = make_settings(model, tmp_path, database_url=db_url, segment_fields="clinic, city")
    text = "Zyxolitis was treated with inhaled budesonide ."
    meta = {"clinic": "c-7", "city": "Pune", "patient": "Zyxolitis Kumar"}
    with TestClient(build_app(settings)) as client:
        r = client.post("/v1/extract", json={"text": text, "metadata": meta}, headers=EXTRACT)
        assert r.status_code == 200
        client.post("/v1/extract", json={"text": "Gout ."}, headers=EXTRACT)
    first, second = _rows(db_url)
    profile = first.profile if isinstance(first.profile, dict) else json.loads(first.profile)
    segments = first.segments if isinstance(first.segments, dict) else json.loads(first.segments)
    assert segments == {"clinic": "c-7", "city": "Pune"}
    assert second.segments is None or json.loads(second.segments) is None
    assert profile["length_chars"] == len(text) and profile["length_words"] == 6
    vocabulary = read_vocabulary(model)
    assert vocabulary is not None and "zyxolitis" not in vocabulary and "was" in vocabulary
    unseen = [w for w in text.lower().split() if w != "." and w not in vocabulary]
    assert profile["oov_share"] == round(len(unseen) / 6, 6)
    assert all(isinstance(v, (int, float)) for v in profile.values())
    assert "Zyxolitis" not in json.dumps([profile, segments])
