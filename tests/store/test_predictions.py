"""The prediction-log writer: a bounded buffer, failed writes counted."""

from __future__ import annotations

from pathlib import Path

from medner.store.predictions import PredictionLog


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
