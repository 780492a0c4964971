"""The extraction processes of the API: they go when the API process is killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import psutil
import pytest


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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {
        **os.environ,
        "MEDNER_API_KEYS": "k:extract",
        "MEDNER_KEYS_FILE": str(tmp_path / "none.json"),
        "MEDNER_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "MEDNER_PORT": str(port),
        "MEDNER_EXTRACT_IN": "processes",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "medner", "serve", "--model", str(model_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children: list[int] = []
    try:
        for _ in range(150):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("the server never became ready")
        children = [c.pid for c in psutil.Process(server.pid).children(recursive=True)]
        assert children  # the extraction process (and multiprocessing's resource tracker)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        deadline = time.monotonic() + 15
        while _alive(children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(children) == [], "extraction processes outlived the API process"
    finally:
        if server.poll() is None:
            server.kill()
        for pid in _alive(children):
            os.kill(pid, signal.SIGKILL)
