"""The prediction log: every extraction the API answers, recorded off the request path.

Requests put a record in a bounded in-memory buffer; one background thread writes the buffer
in batches (``executemany`` inserts) into the store's ``predictions`` table. When the buffer is
full the record is dropped and counted (``medner_prediction_log_dropped_total``), never
silently; on shutdown the buffer is flushed. A batch the database refuses is written again row
by row, so a bad row costs only itself.

What a crash costs is the operator's choice (``durability``, with the log's ``directory``):

- ``journal``: each record is appended to a journal on local disk and ``fsync``-ed (group
  commit) before the request is answered; at start, what a killed process left in the journal
  is replayed into the database. kill -9 loses no acknowledged record.
- ``memory``: the buffer only; a ledger counts records acknowledged and settled, and the next
  start reports what a crash lost (``medner_prediction_log_lost_total`` and an error line).

A record holds the note id, the SHA-256 of its text, its length, the entities, the model
version, the time and the latency. The note text itself is stored only when the API's
``prediction_log_text`` is set (the review queue needs it); it is off by default. The journal
holds the same record (so the same patient data) until it is in the database.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from medner.store.db import engine as make_engine
from medner.store.db import migrate
from medner.store.journal import (
    Journal,
    Ledger,
    Slot,
    claim_slots,
    read_segments,
    remove_segments,
)
from medner.store.tables import Prediction

logger = logging.getLogger(__name__)


# the column lengths of the predictions table (tables.py): longer values are cut to fit
LIMITS = {
    "record_id": 32,
    "request_id": 64,
    "key_id": 32,
    "note_id": 256,
    "text_sha256": 64,
    "model_version": 128,
}


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


Durability = Literal["journal", "memory"]


class PredictionLog:
    """A bounded buffer and the thread that writes it; with a ``directory``, the journal or
    the ledger that make a crash cost nothing, or a known number of records."""

    def __init__(
        self,
        url: str,
        buffer: int = 10_000,
        batch: int = 500,
        flush_seconds: float = 1.0,
        on_written: Callable[[int], None] | None = None,
        on_dropped: Callable[[int], None] | None = None,
        directory: Path | None = None,
        durability: Durability = "memory",
        fsync: bool = True,
        on_lost: Callable[[int], None] | None = None,
    ) -> None:
        self.url = url
        self.batch = batch
        self.flush_seconds = flush_seconds
        self.on_written = on_written or (lambda n: None)
        self.on_dropped = on_dropped or (lambda n: None)
        self.on_lost = on_lost or (lambda n: None)
        self.directory = directory
        self.durability: Durability = durability
        self.fsync = fsync
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=buffer)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self._slot: Slot | None = None
        self._journal: Journal | None = None
        self._ledger: Ledger | None = None
        self.written = 0
        self.dropped = 0
        self.deferred = 0  # journalled, but not in the buffer: written at the next start
        self.replayed = 0
        self.lost = 0  # what an earlier process's crash lost (memory durability)

    def start(self) -> None:
        migrate(self.url)
        self._engine = make_engine(self.url)
        if self.directory is not None:
            self._take_over()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def _take_over(self) -> None:
        """Claim a slot; replay what crashed processes left in theirs, count what they lost."""
        assert self.directory is not None
        own, orphans = claim_slots(self.directory)
        self._slot = own
        for slot in (own, *orphans):
            rows, torn = read_segments(slot)
            if rows:
                self.replayed += self._replay(rows)
            if torn:
                logger.warning(
                    "prediction journal: %d unfinished line(s) skipped in %s (never acknowledged)",
                    torn,
                    slot.path.name,
                )
            remove_segments(slot)
            ledger = Ledger(slot)
            if lost := ledger.unsettled():
                self.lost += lost
                self.on_lost(lost)
                logger.error(
                    "prediction log: %d acknowledged record(s) lost by an earlier process that "
                    "stopped without flushing (%s; durability 'memory')",
                    lost,
                    slot.path.name,
                )
            ledger.reset()
            if slot is own and self.durability == "memory":
                self._ledger = ledger
            else:
                ledger.close()
            if slot is not own:
                slot.release()
        if self.replayed:
            logger.info(
                "prediction journal: %d record(s) of an earlier process replayed", self.replayed
            )
        if self.durability == "journal":
            self._journal = Journal(own, self._deliver, fsync=self.fsync)
            self._journal.start()

    def _replay(self, rows: list[dict[str, Any]]) -> int:
        """Insert journalled records the database does not hold yet (by record id)."""
        assert self._engine is not None
        ids = [r["record_id"] for r in rows if r.get("record_id")]
        present: set[str | None] = set()
        with self._engine.connect() as conn:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                query = select(Prediction.record_id).where(Prediction.record_id.in_(chunk))
                present.update(conn.execute(query).scalars())
        missing = [r for r in rows if r.get("record_id") not in present]
        for i in range(0, len(missing), self.batch):
            self._write(missing[i : i + self.batch], replay=True)
        return len(missing)

    def record(self, row: dict[str, Any]) -> Future[None] | None:
        """Take one record; never blocks. With the journal, returns a future that is done once
        the record is on disk (the request is answered after it); else ``None``."""
        row = clean_record(row)
        row.setdefault("record_id", uuid.uuid4().hex)
        if self._journal is not None:
            return self._journal.append(row)
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self.dropped += 1
            self.on_dropped(1)
        else:
            if self._ledger is not None:
                self._ledger.acknowledge()
        return None

    def _deliver(self, row: dict[str, Any]) -> None:
        """A journalled record into the buffer; a full buffer leaves it in the journal only,
        for the next start to write."""
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self.deferred += 1

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
        values = [{k: v for k, v in row.items() if k != "_segment"} for row in rows]
        with self._engine.begin() as conn:
            conn.execute(insert(Prediction), values)

    def _write(self, rows: list[dict[str, Any]], replay: bool = False) -> None:
        """Insert a batch; if the batch fails, insert its rows one by one, so that a row the
        database refuses costs only itself (counted, and logged by request id, not content).
        A row that fails because the database cannot be reached stays in the journal."""
        settled: list[dict[str, Any]] = []
        try:
            self._insert(rows)
            settled = rows
            self.written += len(rows)
            self.on_written(len(rows))
        except Exception:  # a failed batch: find the bad rows, keep the rest
            written = 0
            for row in rows:
                try:
                    self._insert([row])
                except OperationalError as exc:
                    if self._journal is None or replay:
                        self._drop(row, exc)
                        settled.append(row)
                    else:  # the database is away, not the row bad: the journal keeps it
                        self.deferred += 1
                except Exception as exc:  # the writer must not die: count and go on
                    self._drop(row, exc)
                    settled.append(row)
                else:
                    written += 1
                    settled.append(row)
            self.written += written
            self.on_written(written)
        if replay:
            return
        if self._journal is not None:
            self._journal.retire(settled)
        if self._ledger is not None:
            self._ledger.settle(len(rows))

    def _drop(self, row: dict[str, Any], exc: Exception) -> None:
        self.dropped += 1
        self.on_dropped(1)
        logger.error(
            "prediction log: record of request %s dropped, insert failed: %s",
            str(row.get("request_id"))[:64],
            type(exc).__name__,
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            rows = self._drain(self.flush_seconds)
            if rows:
                self._write(rows)
        while rows := self._drain(0.0):  # flush what is left
            self._write(rows)

    def close(self) -> None:
        """Stop taking records, flush everything buffered and stop the writer."""
        if self._journal is not None:
            self._journal.close()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._journal is not None and (left := self._journal.finish()):
            logger.warning(
                "prediction journal: %d record(s) not yet in the database stay in the "
                "journal for the next start",
                left,
            )
        if self._ledger is not None:
            self._ledger.close()
        if self._slot is not None:
            self._slot.release()
        if self._engine is not None:
            self._engine.dispose()
