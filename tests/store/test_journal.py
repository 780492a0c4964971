"""Issue 23, item 4: what the prediction log acknowledged survives kill -9 (durability
``journal``), or its loss is counted at the next start (``memory``). Each crash is a real
SIGKILL of a child process that holds a prediction log."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from medner.store.journal import claim_slots, read_segments
from medner.store.predictions import PredictionLog
from tests.store.test_predictions import _record

CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from tests.store.test_predictions import _record
    from medner.store.predictions import PredictionLog

    url, directory, durability, n, wait_written = sys.argv[1:6]
    if wait_written == "no":  # a database that has not answered yet when the kill comes
        PredictionLog._insert = lambda self, rows: time.sleep(3600)
    log = PredictionLog(url, directory=Path(directory), durability=durability,
                        flush_seconds=0.01)
    log.start()
    saved = [log.record(_record(i)) for i in range(int(n))]
    for s in saved:
        if s is not None:
            s.result(timeout=30)  # acknowledged: what the API waits for before it answers
    if wait_written == "yes":
        while log.written < int(n):
            time.sleep(0.01)
    print("acknowledged", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _crash(url: str, directory: Path, durability: str, n: int, written: bool = False) -> None:
    """A child process takes ``n`` records, then is killed with SIGKILL; with ``written``, only
    after the database holds them all (else while its first insert hangs)."""
    args = [url, str(directory), durability, str(n), "yes" if written else "no"]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.strip() == "acknowledged"


def _note_ids(url: str) -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = list(conn.execute(sa.text("SELECT note_id FROM predictions")).scalars())
    engine.dispose()
    return rows


def _restart(url: str, directory: Path, durability: str = "journal") -> PredictionLog:
    lost: list[int] = []
    log = PredictionLog(url, directory=directory, durability=durability, on_lost=lost.append)
    log.start()
    log.close()
    assert sum(lost) == log.lost
    return log


def test_the_journal_keeps_every_acknowledged_record_through_kill_9(
    db_url: str, tmp_path: Path
) -> None:
    _crash(db_url, tmp_path / "log", "journal", 300)
    assert _note_ids(db_url) == []  # the child died before its writer ran
    log = _restart(db_url, tmp_path / "log")
    assert log.replayed == 300 and log.lost == 0
    assert sorted(_note_ids(db_url), key=int) == [str(i) for i in range(300)]
    assert not list((tmp_path / "log").rglob("segment-*"))  # replayed, then removed


def test_without_the_journal_a_crash_loses_records_and_the_next_start_counts_them(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _crash(db_url, tmp_path / "log", "memory", 120)
    log = _restart(db_url, tmp_path / "log", durability="memory")
    assert _note_ids(db_url) == []
    assert log.lost == 120 and log.replayed == 0
    assert "120 acknowledged record(s) lost" in caplog.text
    again = _restart(db_url, tmp_path / "log", durability="memory")  # counted once, not again
    assert again.lost == 0


def test_a_clean_stop_loses_nothing_and_counts_no_loss(db_url: str, tmp_path: Path) -> None:
    for durability in ("memory", "journal"):
        log = PredictionLog(db_url, directory=tmp_path / durability, durability=durability)
        log.start()
        saved = [log.record(_record(i)) for i in range(50)]
        for s in saved:
            if s is not None:
                s.result(timeout=30)
        log.close()
        assert log.written == 50
        assert _restart(db_url, tmp_path / durability, durability).lost == 0
    assert len(_note_ids(db_url)) == 100


def test_replay_writes_each_record_once(db_url: str, tmp_path: Path) -> None:
    """Killed after the database has the records but before the journal segment is retired:
    the replay finds them there (by record id) and writes none twice."""
    _crash(db_url, tmp_path / "log", "journal", 80, written=True)
    assert len(_note_ids(db_url)) == 80
    slot, _ = claim_slots(tmp_path / "log")
    assert len(read_segments(slot)[0]) == 80  # the segment is still there
    slot.release()
    log = _restart(db_url, tmp_path / "log")
    assert log.replayed == 0
    assert sorted(_note_ids(db_url), key=int) == [str(i) for i in range(80)]


def test_a_line_cut_short_by_a_crash_is_skipped(db_url: str, tmp_path: Path) -> None:
    slot = tmp_path / "log" / "slot-0"
    slot.mkdir(parents=True)
    good = json.dumps({**_record(1), "created_at": "2026-12-02T10:00:00+00:00", "record_id": "a"})
    (slot / "segment-00000000.jsonl").write_text(good + "\n" + good[:40])
    log = _restart(db_url, tmp_path / "log")
    assert log.replayed == 1 and _note_ids(db_url) == ["1"]


def test_live_processes_hold_their_own_slots_and_a_dead_ones_is_taken_over(
    tmp_path: Path,
) -> None:
    first, orphans = claim_slots(tmp_path)
    second, more = claim_slots(tmp_path)  # another live process: a slot of its own
    assert (first.path.name, second.path.name) == ("slot-0", "slot-1") and not orphans + more
    first.release()  # the first process dies
    third, taken = claim_slots(tmp_path)
    assert third.path.name == "slot-0" and taken == []
    second.release()
    fifth, taken = claim_slots(tmp_path)
    assert fifth.path.name == "slot-1" and taken == []
    third.release()
    fifth.release()
    sixth, taken = claim_slots(tmp_path)
    assert sixth.path.name == "slot-0" and [s.path.name for s in taken] == ["slot-1"]
    for slot in (sixth, *taken):
        slot.release()
