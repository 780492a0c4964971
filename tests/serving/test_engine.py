"""The extraction processes of the API: they go when the API process is killed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil

from tests.serving.conftest import running_server


def _alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def test_extraction_processes_exit_when_the_api_process_is_killed(
    model_dir: Path, tmp_path: Path
) -> None:
    """Issue 23: each kill -9 of `medner serve` left its extraction process and the resource
    tracker running as orphans (this test fails without the parent watch in engine.py)."""
    children: list[int] = []
    try:
        with running_server(model_dir, tmp_path, api_keys="k:extract", extract_in="processes") as s:
            children = [c.pid for c in psutil.Process(s.process.pid).children(recursive=True)]
            assert children  # the extraction process (and multiprocessing's resource tracker)
            s.process.send_signal(signal.SIGKILL)  # no shutdown runs; the stop after is a no-op
            s.process.wait(timeout=30)
        deadline = time.monotonic() + 15
        while _alive(children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(children) == [], "extraction processes outlived the API process"
    finally:
        for pid in _alive(children):
            os.kill(pid, signal.SIGKILL)
