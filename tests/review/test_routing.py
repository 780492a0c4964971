"""Routing by confidence (issue 20, item 3): the threshold meets the precision target on the
audit share, every note holding an entity under it goes to validators, and the KPIs say how
many notes skipped review and what precision they got."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from medner.review import enqueue, next_task, queue_engine, submit
from medner.review.kpis import live_kpis
from medner.review.routing import choose_threshold, current_threshold

TEXT = "aaaa bbbb cccc dddd"


def span(start: int, end: int, confidence: float) -> dict[str, object]:
    return {"start": start, "end": end, "text": TEXT[start:end], "label": "DISEASE",
            "confidence": confidence}  # fmt: skip


def test_the_threshold_is_the_lowest_confidence_meeting_the_precision() -> None:
    obs = [(0.99, True)] * 60 + [(0.9, True)] * 30 + [(0.9, False)] * 2 + [(0.5, False)] * 20
    assert choose_threshold(obs, 0.95) == 0.9  # 90 of 92 right at or above 0.9
    assert choose_threshold(obs, 0.999) == 0.99
    assert choose_threshold(obs, 0.95, min_entities=200) is None  # too few to judge
    with pytest.raises(ValueError):
        choose_threshold(obs, 0.0)


def test_routing_sends_every_note_with_an_entity_under_the_threshold(db_url: str) -> None:
    engine = queue_engine(db_url)
    notes = []
    for i in range(40):
        low = 0.5 if i % 3 == 0 else 0.97
        records = [span(0, 4, 0.99), span(5, 9, low)] if i % 5 else []
        notes.append((f"n{i}", TEXT, records))
    enqueue(engine, notes, "m1", audit_share=0.2, double_share=0.0, threshold=0.95)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT note_id, predictions, audit, auto_accept, closed_at FROM review_tasks")
        ).all()
    handed = set()
    while (task := next_task(engine, "v")) is not None:
        handed.add(task.note_id)
        submit(engine, "v", task.id, [])
    for row in rows:
        raw = row.predictions
        predictions = json.loads(raw) if isinstance(raw, str) else raw
        under = any(p["confidence"] < 0.95 for p in predictions)
        assert row.auto_accept == (not under)
        if under or row.audit:
            assert row.note_id in handed  # reviewed
        else:
            assert row.closed_at is not None and row.note_id not in handed  # skipped
    assert any(not r.auto_accept for r in rows) and any(r.auto_accept and not r.audit for r in rows)
    engine.dispose()


def test_the_kpis_report_the_notes_that_skipped_review_and_their_precision(db_url: str) -> None:
    engine = queue_engine(db_url)
    when = datetime(2026, 11, 30, tzinfo=UTC)
    # audit notes that would have been auto-accepted (both entities >= 0.9): one wrong entity
    enqueue(engine, [("a1", TEXT, [span(0, 4, 0.99), span(5, 9, 0.95)])], "m1",
            audit_share=1.0, double_share=0.0, threshold=0.9)  # fmt: skip
    enqueue(engine, [("a2", TEXT, [span(0, 4, 0.99), span(10, 14, 0.92)])], "m1",
            audit_share=1.0, double_share=0.0, threshold=0.9)  # fmt: skip
    enqueue(engine, [("s1", TEXT, [span(0, 4, 0.99)])] * 2, "m1", audit_share=0.0,
            double_share=0.0, threshold=0.9)  # fmt: skip
    validated = {"a1": [span(0, 4, 1)], "a2": [span(0, 4, 1), span(10, 14, 1)]}
    while (task := next_task(engine, "v", now=when)) is not None:
        submit(engine, "v", task.id, validated[str(task.note_id)], now=when)
    routing = live_kpis(engine, bootstrap=0).routing
    assert routing is not None
    assert (routing.notes, routing.skipped) == (4, 2)
    assert routing.audit_entities == 4 and routing.precision == pytest.approx(3 / 4)
    assert current_threshold(engine, 0.7, min_entities=4) == 0.92
    engine.dispose()
