"""What makes the prediction log survive a crash: a journal on local disk, or a ledger that
counts what a crash lost.

Each process that writes a prediction log claims a **slot**, a directory under the log's
directory (``slot-0``, ``slot-1``, ...) held by an exclusive ``flock`` on its ``lock`` file for
the life of the process. The kernel drops the lock when the process dies, however it dies, so
the next process to start finds the slot free and takes over what the dead one left there.

- :class:`Journal` (durability ``journal``): records are appended to a segment file and
  ``fsync``-ed in groups (one write and one ``fsync`` for every record that arrived meanwhile)
  *before* the API answers. The database writer retires a segment once all its records are in
  the database; at start, what an earlier process left is replayed into the database (records
  already there, by ``record_id``, are skipped). A line cut short by a crash was never
  acknowledged (its ``fsync`` had not returned) and is skipped.
- :class:`Ledger` (durability ``memory``): two counters in a memory-mapped file, records
  acknowledged and records settled (written or dropped). A process killed with records still
  in its buffer leaves the difference behind; the next start reports it as lost.
"""

from __future__ import annotations

import fcntl
import json
import logging
import mmap
import os
import queue
import struct
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

SEGMENT_BYTES = 8 * 1024 * 1024
_COUNTERS = struct.Struct("<QQ")  # acknowledged, settled


@dataclass
class Slot:
    """A slot directory and the open file that holds its lock."""

    path: Path
    lock: IO[bytes]

    def release(self) -> None:
        self.lock.close()  # closing drops the flock


def _try_claim(path: Path) -> Slot | None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = (path / "lock").open("ab")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return Slot(path, lock)


def claim_slots(directory: Path) -> tuple[Slot, list[Slot]]:
    """This process's slot, and the slots of processes that are gone (to take over, then
    release). Slots held by live processes are left alone."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    own: Slot | None = None
    orphans: list[Slot] = []
    for path in sorted(directory.glob("slot-*")):
        if (slot := _try_claim(path)) is None:
            continue
        if own is None:
            own = slot
        else:
            orphans.append(slot)
    n = 0
    while own is None:
        own = _try_claim(directory / f"slot-{n}")
        n += 1
    return own, orphans


class Ledger:
    """Acknowledged and settled record counts of one slot, in a memory-mapped file: the kernel
    keeps what was written to the mapping when the process is killed."""

    def __init__(self, slot: Slot) -> None:
        path = slot.path / "ledger"
        with path.open("a+b") as f:
            if f.seek(0, os.SEEK_END) < _COUNTERS.size:
                f.write(b"\0" * (_COUNTERS.size - f.tell()))
            f.flush()
            self._map = mmap.mmap(f.fileno(), _COUNTERS.size)
        self.acknowledged, self.settled = _COUNTERS.unpack_from(self._map)

    def unsettled(self) -> int:
        """Records an earlier process acknowledged and never settled (lost in a crash)."""
        return max(0, int(self.acknowledged) - int(self.settled))

    def reset(self) -> None:
        self.acknowledged = self.settled = 0
        _COUNTERS.pack_into(self._map, 0, 0, 0)

    def acknowledge(self, n: int = 1) -> None:
        self.acknowledged += n
        struct.pack_into("<Q", self._map, 0, self.acknowledged)

    def settle(self, n: int) -> None:
        self.settled += n
        struct.pack_into("<Q", self._map, 8, self.settled)

    def close(self) -> None:
        with suppress(ValueError, BufferError):
            self._map.close()


def _encode(row: dict[str, Any]) -> bytes:
    def default(value: object) -> str:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"cannot journal {type(value).__name__}")

    return json.dumps(row, default=default, separators=(",", ":")).encode() + b"\n"


def _decode(line: bytes) -> dict[str, Any]:
    row: dict[str, Any] = json.loads(line)
    if isinstance(row.get("created_at"), str):
        row["created_at"] = datetime.fromisoformat(row["created_at"])
    return row


def read_segments(slot: Slot) -> tuple[list[dict[str, Any]], int]:
    """The records journalled in a slot, oldest first, and the number of lines skipped (cut
    short by a crash before their ``fsync`` returned)."""
    rows: list[dict[str, Any]] = []
    torn = 0
    for path in sorted(slot.path.glob("segment-*.jsonl")):
        for line in path.read_bytes().splitlines():
            try:
                rows.append(_decode(line))
            except ValueError:
                torn += 1
    return rows, torn


def remove_segments(slot: Slot) -> None:
    for path in slot.path.glob("segment-*.jsonl"):
        path.unlink(missing_ok=True)


@dataclass
class _Pending:
    line: bytes
    row: dict[str, Any]
    done: Future[None] = field(default_factory=Future)


class Journal:
    """Append-only segments in one slot, written by one thread with group commit.

    ``append`` returns a future that is done once the record is on disk (``fsync`` returned);
    the record then goes to ``deliver`` (the database writer's buffer), tagged with its segment
    so that ``retire`` can delete a segment whose records are all in the database.
    """

    def __init__(
        self,
        slot: Slot,
        deliver: Any,
        fsync: bool = True,
        segment_bytes: int = SEGMENT_BYTES,
    ) -> None:
        self.slot = slot
        self.deliver = deliver
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._lock = threading.Lock()
        self._outstanding: dict[int, int] = {}  # segment number -> records not yet retired
        self._segment = 0
        self._file: IO[bytes] | None = None
        self._thread: threading.Thread | None = None

    def _path(self, n: int) -> Path:
        return self.slot.path / f"segment-{n:08d}.jsonl"

    def _open(self) -> None:
        fd = os.open(self._path(self._segment), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        self._file = os.fdopen(fd, "ab", buffering=0)
        self._outstanding.setdefault(self._segment, 0)

    def start(self) -> None:
        existing = [int(p.stem.split("-")[1]) for p in self.slot.path.glob("segment-*.jsonl")]
        self._segment = max(existing, default=-1) + 1
        self._open()
        self._thread = threading.Thread(target=self._run, name="prediction-journal", daemon=True)
        self._thread.start()

    def append(self, row: dict[str, Any]) -> Future[None]:
        pending = _Pending(_encode(row), row)
        self._queue.put(pending)
        return pending.done

    def _batches(self) -> Iterator[list[_Pending]]:
        while (first := self._queue.get()) is not None:
            batch = [first]
            while len(batch) < 4096:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    yield batch
                    return
                batch.append(item)
            yield batch

    def _run(self) -> None:
        for batch in self._batches():
            assert self._file is not None
            try:
                self._file.write(b"".join(p.line for p in batch))
                if self.fsync:
                    os.fsync(self._file.fileno())
            except OSError as exc:  # the requests waiting on it answer 503
                logger.error("prediction journal: write failed: %s", type(exc).__name__)
                for p in batch:
                    p.done.set_exception(exc)
                continue
            with self._lock:
                segment = self._segment
                self._outstanding[segment] += len(batch)
            for p in batch:
                p.row["_segment"] = segment
                self.deliver(p.row)
                p.done.set_result(None)
            if self._file.tell() >= self.segment_bytes:
                self._rotate()

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        with self._lock:
            self._segment += 1
            self._open()
            self._drop_retired()

    def _drop_retired(self) -> None:
        for n, count in list(self._outstanding.items()):
            if count == 0 and n != self._segment:
                self._path(n).unlink(missing_ok=True)
                del self._outstanding[n]

    def retire(self, rows: list[dict[str, Any]]) -> None:
        """These records are settled in the database (written, or refused for good)."""
        with self._lock:
            for row in rows:
                n = row.get("_segment")
                if n in self._outstanding:
                    self._outstanding[n] -= 1
            self._drop_retired()

    def close(self) -> None:
        """Stop appending: every record appended so far is on disk and delivered."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._file is not None:
            self._file.close()

    def finish(self) -> int:
        """After the database writer has flushed: remove the segments if every record is
        retired; returns the records still only in the journal (replayed at the next start)."""
        with self._lock:
            left = sum(self._outstanding.values())
            if left == 0:
                remove_segments(self.slot)
        return left
