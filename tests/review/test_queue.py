"""The review queue (issue 19, items 1, 4, 5): import, leases under concurrency, the append-only
record, validation of submitted entities, export and purge. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from medner.cli.main import app
from medner.inference import Note
from medner.models.crf import CRFModel
from medner.review import (
    ReviewError,
    export_reviews,
    import_notes,
    next_task,
    purge_text,
    queue_engine,
    submit,
)

TEXTS = [
    "Asthma was treated with inhaled budesonide .",
    "Gout flared after diuretics .",
    "No complaints today .",
    "Pneumonia was treated with antibiotics .",
]


@pytest.fixture
def queue(db_url: str, tiny_model: CRFModel, tmp_path: Path) -> sa.Engine:
    model_dir = tmp_path / "model"
    tiny_model.save(model_dir)
    engine = queue_engine(db_url)
    notes = [Note(f"n{i}", TEXTS[i % len(TEXTS)] + f" {i}") for i in range(40)]
    summary = import_notes(engine, tiny_model, model_dir, notes, audit_share=0.1, double_share=0.1)
    assert summary.imported == 40
    yield engine
    engine.dispose()


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_import_keeps_text_predictions_version_and_orders_uncertain_first(
    queue: sa.Engine,
) -> None:
    with queue.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT priority, predictions, audit, reviews_needed, text FROM review_tasks")
        ).all()
    assert len(rows) == 40 and all(r.text for r in rows)
    assert any(r.audit for r in rows) and any(r.reviews_needed == 2 for r in rows)
    first = next_task(queue, "v1")
    assert first is not None
    lowest = min(r.priority for r in rows)
    with queue.connect() as conn:
        chosen = conn.execute(
            sa.text("SELECT priority FROM review_tasks WHERE id = :i"), {"i": first.id}
        ).scalar_one()
    assert chosen == lowest  # most uncertain (or a randomly placed audit/empty note) first
    assert next_task(queue, "v1") == first  # the same validator resumes its lease


def test_twenty_validators_at_once_never_share_a_task(queue: sa.Engine) -> None:
    got: dict[str, int | None] = {}
    start = threading.Barrier(20)

    def draw(name: str) -> None:
        start.wait()
        task = next_task(queue, name)
        got[name] = task.id if task else None

    threads = [threading.Thread(target=draw, args=(f"v{i}",)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for i in got.values() if i is not None]
    assert len(ids) == 20
    with queue.connect() as conn:
        needed = dict(conn.execute(sa.text("SELECT id, reviews_needed FROM review_tasks")).all())
    for task_id in set(ids):
        assert ids.count(task_id) <= needed[task_id]  # two only for a double-review task


def test_an_expired_lease_returns_its_task(queue: sa.Engine) -> None:
    now = datetime.now(UTC)
    leased = next_task(queue, "a", lease_seconds=60, now=now)
    assert leased is not None
    other = next_task(queue, "b", now=now)
    assert (other is not None and other.id != leased.id) or leased.id == other.id
    later = now + timedelta(seconds=120)
    again = next_task(queue, "c", now=later)
    assert again is not None and again.id == leased.id  # a's lease ran out


def test_submit_records_events_and_the_validated_set_and_refuses_bad_entities(
    queue: sa.Engine,
) -> None:
    task = next_task(queue, "v1")
    assert task is not None
    text = task.text
    end = text.index(" ")
    for bad, field in [
        ([{"start": 0, "end": len(text) + 5, "label": "DISEASE"}], "entities.0.start"),
        ([{"start": 0, "end": end, "label": "SYMPTOM"}], "entities.0.label"),
        (
            [
                {"start": 0, "end": end, "label": "DISEASE"},
                {"start": 1, "end": 3, "label": "DISEASE"},
            ],
            "entities",
        ),
    ]:
        with pytest.raises(ReviewError) as info:
            submit(queue, "v1", task.id, bad)
        assert info.value.field == field
    assert _count(queue, "reviews") == 0 and _count(queue, "review_events") == 0
    actions = [
        {"action": "accept", "before": task.predictions[0] if task.predictions else None},
        {"action": "add", "after": {"start": 0, "end": end, "label": "DISEASE"}},
    ]
    submit(queue, "v1", task.id, [{"start": 0, "end": end, "label": "DISEASE"}], actions, 12.5)
    with queue.connect() as conn:
        events = conn.execute(
            sa.text("SELECT action, reviewer, model_version FROM review_events ORDER BY id")
        ).all()
        review = conn.execute(sa.text("SELECT entities, seconds_active FROM reviews")).one()
    assert [e.action for e in events] == ["accept", "add", "submit"]
    assert {e.model_version for e in events} == {task.model_version}
    entities = review.entities if isinstance(review.entities, list) else json.loads(review.entities)
    assert entities == [{"start": 0, "end": end, "text": text[:end], "label": "DISEASE"}]
    with pytest.raises(ReviewError, match="already submitted"):
        submit(queue, "v1", task.id, [])
    with pytest.raises(ReviewError, match="not handed to"):
        submit(queue, "v2", task.id, [])


def test_export_is_deterministic_incremental_and_has_a_manifest(
    queue: sa.Engine, tmp_path: Path
) -> None:
    start = datetime.now(UTC)
    for name in ("a", "b", "c"):
        task = next_task(queue, name)
        assert task is not None
        submit(queue, name, task.id, [], now=start + timedelta(minutes=1))
    out = tmp_path / "validated.jsonl"
    first = export_reviews(queue, out)
    again = tmp_path / "again.jsonl"
    export_reviews(queue, again)
    assert out.read_bytes() == again.read_bytes() and first.notes == 3
    manifest = json.loads((tmp_path / "validated.jsonl.manifest.json").read_text())
    assert manifest["notes"] == 3 and manifest["model_versions"]
    assert (
        export_reviews(queue, tmp_path / "later.jsonl", since=start + timedelta(hours=1)).notes == 0
    )
    for line in out.read_text().splitlines():
        record = json.loads(line)
        assert set(record) == {"id", "text", "entities"}


def test_purge_removes_text_past_retention(queue: sa.Engine) -> None:
    assert purge_text(queue, 30) == 0
    assert purge_text(queue, 30, now=datetime.now(UTC) + timedelta(days=31)) == 40
    with queue.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM review_tasks WHERE text IS NOT NULL")
            ).scalar_one()
            == 0
        )
    assert next_task(queue, "v9") is None  # nothing left to review without its text


def test_the_cli_imports_a_file_with_a_bad_row_and_exports(
    tiny_model: CRFModel, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    tiny_model.save(model_dir)
    notes = tmp_path / "notes.csv"
    notes.write_text(
        'id,text\n1,Asthma was treated .\n2,"unterminated\n3,Gout flared .\n', encoding="utf-8"
    )
    url = f"sqlite:///{tmp_path / 'review.db'}"
    runner = CliRunner()
    result = runner.invoke(
        app, ["review", "import", "-m", str(model_dir), "-i", str(notes), "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    assert "notes.csv" in result.output and "skipped" in result.output
    engine = queue_engine(url)
    assert _count(engine, "review_tasks") >= 1
    engine.dispose()
    exported = runner.invoke(
        app, ["review", "export", "-o", str(tmp_path / "out.jsonl"), "--database-url", url]
    )
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "out.jsonl.manifest.json").is_file()


def test_a_skipped_task_goes_to_someone_else_and_progress_counts(queue: sa.Engine) -> None:
    from medner.review import progress, skip_task

    task = next_task(queue, "a")
    assert task is not None
    skip_task(queue, "a", task.id)
    again = next_task(queue, "a")
    assert again is not None and again.id != task.id  # not handed back to whoever skipped it
    other = next_task(queue, "b")
    assert other is not None and other.id == task.id  # the queue gives it to the next one
    with pytest.raises(ReviewError, match="not leased"):
        skip_task(queue, "a", task.id)
    before = progress(queue, "b")
    submit(queue, "b", other.id, [])
    after = progress(queue, "b")
    assert after["done_today"] == before["done_today"] + 1
    with queue.connect() as conn:
        needed = conn.execute(
            sa.text("SELECT reviews_needed FROM review_tasks WHERE id = :i"), {"i": other.id}
        ).scalar_one()
    assert after["left"] == before["left"] - (1 if needed == 1 else 0)


def test_reprioritize_reranks_only_the_notes_still_waiting(
    queue: sa.Engine, tiny_docs: list, tmp_path: Path
) -> None:
    """Issue 20: after a promotion the waiting notes get the new model's predictions and
    place; reviewed and leased notes keep theirs, audit notes their random place."""
    from medner.review import reprioritize
    from tests.conftest import train_tiny

    first = next_task(queue, "v1")
    assert first is not None
    submit(queue, "v1", first.id, [])
    held = next_task(queue, "v2")
    assert held is not None
    newer = train_tiny(tiny_docs[:3])
    newer.save(tmp_path / "newer")
    with queue.connect() as conn:
        before = {r.id: r for r in conn.execute(sa.text("SELECT * FROM review_tasks"))}
    n = reprioritize(queue, newer, tmp_path / "newer")
    with queue.connect() as conn:
        after = {r.id: r for r in conn.execute(sa.text("SELECT * FROM review_tasks"))}
    assert n == len(before) - 2
    from medner.models.base import model_version

    version = model_version(tmp_path / "newer")
    for task_id, row in after.items():
        if task_id in (first.id, held.id):
            assert row.model_version == before[task_id].model_version
            continue
        assert row.model_version == version
        if row.audit:
            assert row.priority == before[task_id].priority
    assert reprioritize(queue, newer, tmp_path / "newer") == 0  # already ranked by it
