"""Issue 19: kill -9 of the server while validators submit; every review the server answered
"saved" is in the database after a restart (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx2 as httpx
import sqlalchemy as sa

from medner.inference import Note
from medner.models import load_model
from medner.review import import_notes, queue_engine
from tests.serving.conftest import running_server

KEYS = ",".join(f"r{i}:review" for i in range(6))


def test_every_saved_review_survives_kill_9(db_url: str, model_dir: Path, tmp_path: Path) -> None:
    engine = queue_engine(db_url)
    notes = [Note(f"n{i}", f"Asthma was treated with budesonide , case {i} .") for i in range(400)]
    import_notes(engine, load_model(model_dir), model_dir, notes, audit_share=0, double_share=0)
    engine.dispose()
    saved: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()
    with running_server(model_dir, tmp_path / "a", api_keys=KEYS, database_url=db_url) as server:

        def validator(key: str) -> None:
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=server.base, headers=headers, timeout=10) as client:
                while not stop.is_set():
                    try:
                        task = client.get("/v1/review/next")
                        if task.status_code != 200:
                            return
                        task_id = task.json()["task_id"]
                        r = client.post(f"/v1/review/tasks/{task_id}/submit", json={"entities": []})
                    except httpx.TransportError:
                        return  # the server is gone
                    if r.status_code == 200 and r.json().get("saved"):
                        with lock:
                            saved.append(task_id)

        threads = [threading.Thread(target=validator, args=(f"r{i}",)) for i in range(6)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        os.kill(server.process.pid, signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        server.process.wait(timeout=30)
    assert len(saved) >= 10, "the load never got going"
    with running_server(model_dir, tmp_path / "b", api_keys=KEYS, database_url=db_url):
        check = sa.create_engine(db_url)
        with check.connect() as conn:
            stored = set(conn.execute(sa.text("SELECT task_id FROM reviews")).scalars())
        check.dispose()
    assert set(saved) <= stored  # nothing answered "saved" was lost


def test_twenty_validators_over_http_never_share_a_task(
    db_url: str, model_dir: Path, tmp_path: Path
) -> None:
    """20 validators (threads, each with its own key) ask the real server for a task at once."""
    engine = queue_engine(db_url)
    notes = [Note(f"n{i}", f"Gout flared , case {i} .") for i in range(60)]
    import_notes(engine, load_model(model_dir), model_dir, notes, audit_share=0, double_share=0)
    engine.dispose()
    keys = ",".join(f"v{i}:review" for i in range(20))
    got: dict[int, int] = {}
    start = threading.Barrier(20)
    with running_server(model_dir, tmp_path, api_keys=keys, database_url=db_url) as server:

        def draw(i: int) -> None:
            with httpx.Client(base_url=server.base, timeout=30) as client:
                start.wait()
                r = client.get("/v1/review/next", headers={"Authorization": f"Bearer v{i}"})
                assert r.status_code == 200, r.text
                got[i] = r.json()["task_id"]

        threads = [threading.Thread(target=draw, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(got) == 20 and len(set(got.values())) == 20
