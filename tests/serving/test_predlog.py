"""The prediction log on SQLite and on a real PostgreSQL server (started by .ci/run)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from medner.models.base import model_version
from medner.serving.predlog import PredictionLog
from medner.serving.service import build_app
from tests.serving.conftest import EXTRACT, make_settings

POSTGRES_ENV = "MEDNER_TEST_POSTGRES_URL"


def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set: .ci/run starts PostgreSQL and sets it")
        pytest.skip(f"{POSTGRES_ENV} not set (run .ci/run, which starts PostgreSQL)")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.db'}"
        return
    base = _postgres_url()
    schema = f"t_{uuid.uuid4().hex[:10]}"  # a fresh schema per test, dropped after
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


def _rows(url: str) -> list[sa.Row]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = list(conn.execute(sa.text("SELECT * FROM predictions ORDER BY id")))
    engine.dispose()
    return rows


def test_every_extraction_is_logged_without_text(
    db_url: str, model_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(model_dir, tmp_path, prediction_log_url=db_url)
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
    settings = make_settings(
        model_dir, tmp_path, prediction_log_url=db_url, prediction_log_text=True
    )
    with TestClient(build_app(settings)) as client:
        client.post("/v1/extract", json={"text": "Gout flared ."}, headers=EXTRACT)
    assert [r.text for r in _rows(db_url)] == ["Gout flared ."]


def test_a_full_buffer_drops_and_counts(tmp_path: Path) -> None:
    dropped: list[int] = []
    log = PredictionLog(f"sqlite:///{tmp_path / 'x.db'}", buffer=2, on_dropped=dropped.append)
    for _ in range(5):  # the writer is not started: nothing drains the buffer
        log.record({"note_id": None})
    assert log.dropped == 3 and sum(dropped) == 3


def test_failed_writes_are_counted_not_raised(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'y.db'}"
    log = PredictionLog(url, flush_seconds=0.01)
    log.start()
    log.record({"bad_column": 1})  # the insert fails
    log.close()
    assert log.dropped == 1 and log.written == 0


def test_migrations_create_the_schema(db_url: str) -> None:
    from medner.serving.predlog import migrate

    migrate(db_url)
    migrate(db_url)  # idempotent
    engine = sa.create_engine(db_url)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("predictions")}
    engine.dispose()
    assert {"note_id", "text_sha256", "length", "entities", "model_version", "latency_ms"} <= (
        columns
    )
