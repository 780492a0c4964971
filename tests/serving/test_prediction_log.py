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
        for e in entities:
            assert notes[i][e["start"] : e["end"]] == e["text"]


def test_text_is_stored_only_when_asked(db_url: str, model_dir: Path, tmp_path: Path) -> None:
    settings = make_settings(model_dir, tmp_path, database_url=db_url, prediction_log_text=True)
    with TestClient(build_app(settings)) as client:
        client.post("/v1/extract", json={"text": "Gout flared ."}, headers=EXTRACT)
    assert [r.text for r in _rows(db_url)] == ["Gout flared ."]
