"""The prediction log: every extraction the API answers, recorded off the request path.

Requests put a record in a bounded in-memory buffer and return; one background thread writes
the buffer in batches (``executemany`` inserts) into the store's ``predictions`` table. When the
buffer is full the record is dropped and counted (``medner_prediction_log_dropped_total``),
never silently; on shutdown the buffer is flushed.

A record holds the note id, the SHA-256 of its text, its length, the entities, the model
version, the time and the latency. The note text itself is stored only when the API's
``prediction_log_text`` is set (the review queue needs it); it is off by default.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from medner.store.db import engine as make_engine
from medner.store.db import migrate
from medner.store.tables import Prediction

logger = logging.getLogger(__name__)


class PredictionLog:
    """A bounded buffer and the thread that writes it."""

    def __init__(
        self,
        url: str,
        buffer: int = 10_000,
        batch: int = 500,
        flush_seconds: float = 1.0,
        on_written: Callable[[int], None] | None = None,
        on_dropped: Callable[[int], None] | None = None,
    ) -> None:
        self.url = url
        self.batch = batch
        self.flush_seconds = flush_seconds
        self.on_written = on_written or (lambda n: None)
        self.on_dropped = on_dropped or (lambda n: None)
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=buffer)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self.written = 0
        self.dropped = 0

    def start(self) -> None:
        migrate(self.url)
        self._engine = make_engine(self.url)
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def record(self, row: dict[str, Any]) -> None:
        """Queue one record; never blocks (a full buffer drops and counts it)."""
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self.dropped += 1
            self.on_dropped(1)

    def _drain(self, wait: float) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        try:
            rows.append(self._queue.get(timeout=wait))
        except queue.Empty:
            return rows
        while len(rows) < self.batch:
            try:
                rows.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return rows

    def _write(self, rows: list[dict[str, Any]]) -> None:
        assert self._engine is not None
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(Prediction), rows)
        except Exception as exc:  # a failed write must not kill the writer: count and go on
            self.dropped += len(rows)
            self.on_dropped(len(rows))
            logger.error(
                "prediction log: %d records dropped, write failed: %s",
                len(rows),
                type(exc).__name__,
            )
            return
        self.written += len(rows)
        self.on_written(len(rows))

    def _run(self) -> None:
        while not self._stop.is_set():
            rows = self._drain(self.flush_seconds)
            if rows:
                self._write(rows)
        while rows := self._drain(0.0):  # flush what is left
            self._write(rows)

    def close(self) -> None:
        """Flush everything buffered and stop the writer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._engine is not None:
            self._engine.dispose()
