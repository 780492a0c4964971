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


# the column lengths of the predictions table (tables.py): longer values are cut to fit
LIMITS = {"request_id": 64, "key_id": 32, "note_id": 256, "text_sha256": 64, "model_version": 128}


def _clean_text(value: str) -> str:
    """What every database stores: no NUL (PostgreSQL refuses it in text) and no lone
    surrogate (not encodable as UTF-8), each replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return value


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def clean_record(row: dict[str, Any]) -> dict[str, Any]:
    """A record the database accepts whatever the request held: strings cleaned of NUL and
    lone surrogates (in the entities too), and bounded columns cut to their length."""
    out = {key: _clean(value) for key, value in row.items()}
    for key, limit in LIMITS.items():
        value = out.get(key)
        if isinstance(value, str) and len(value) > limit:
            out[key] = value[:limit]
    return out


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

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        assert self._engine is not None
        with self._engine.begin() as conn:
            conn.execute(insert(Prediction), rows)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        """Insert a batch; if the batch fails, insert its rows one by one, so that a row the
        database refuses costs only itself (counted, and logged by request id, not content)."""
        rows = [clean_record(row) for row in rows]
        try:
            self._insert(rows)
        except Exception:  # a failed batch: find the bad rows, keep the rest
            written = 0
            for row in rows:
                try:
                    self._insert([row])
                except Exception as exc:  # the writer must not die: count and go on
                    self.dropped += 1
                    self.on_dropped(1)
                    logger.error(
                        "prediction log: record of request %s dropped, insert failed: %s",
                        str(row.get("request_id"))[:64],
                        type(exc).__name__,
                    )
                else:
                    written += 1
            self.written += written
            self.on_written(written)
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
