"""The prediction-log writer: a bounded buffer, failed writes counted, a bad row costing only
itself, values cleaned of what a database refuses (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from medner.store.predictions import PredictionLog, clean_record


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


def _record(i: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "created_at": datetime.now(UTC),
        "request_id": f"r{i}",
        "key_id": "k_1",
        "note_id": str(i),
        "text_sha256": "0" * 64,
        "length": 3,
        "entities": [],
        "entity_count": 0,
        "model_version": "v1",
        "latency_ms": 1.0,
        "text": None,
    }
    row.update(changes)
    return row


def test_a_bad_row_costs_only_itself(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 23: a row the database refuses no longer takes its whole batch with it."""
    log = PredictionLog(db_url, batch=500, flush_seconds=0.2)
    log.start()
    for i in range(50):  # one batch: the writer waits up to 0.2 s, then drains everything
        log.record(_record(i, text_sha256=None) if i == 17 else _record(i))
    log.close()
    assert (log.written, log.dropped) == (49, 1)
    assert "record of request r17 dropped" in caplog.text
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        ids = {r[0] for r in conn.execute(sa.text("SELECT note_id FROM predictions"))}
    engine.dispose()
    assert ids == {str(i) for i in range(50)} - {"17"}


def test_what_the_database_refuses_is_cleaned_before_insert(db_url: str) -> None:
    """NUL, lone surrogates and over-long ids (PostgreSQL refused each; SQLite the surrogate)."""
    log = PredictionLog(db_url, flush_seconds=0.05)
    log.start()
    entity = {"start": 0, "end": 3, "text": "a\x00\ud800", "label": "DISEASE", "confidence": 1.0}
    log.record(
        _record(
            1,
            request_id="x" * 100,
            note_id="n\x00\ud800" + "y" * 300,
            entities=[entity],
            entity_count=1,
            text="Asthma\x00 \udc00",
        )
    )
    log.close()
    assert (log.written, log.dropped) == (1, 0)
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT request_id, note_id, text FROM predictions")).one()
    engine.dispose()
    assert row.request_id == "x" * 64
    assert row.note_id.startswith("n\ufffd\ufffdy") and len(row.note_id) == 256
    assert row.text == "Asthma\ufffd \ufffd"


def test_clean_record_leaves_good_values_alone() -> None:
    row = _record(3, note_id="rx-1042 ?", text="K/C/O HTN? Rx: Tab. Dolo 650")
    assert clean_record(row) == row
