"""A small trained model and app settings for the API tests; and a record of every note text
the API tests send and every log line they cause, checked at the end (test_zz_logs.py)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from medner.models.crf import CRFModel
from medner.serving.logs import JsonFormatter
from medner.serving.service import build_app
from medner.serving.settings import ServeSettings

KEYS = "ek:extract,ak:admin,both:extract+admin"
EXTRACT = {"Authorization": "Bearer ek"}
ADMIN = {"Authorization": "Bearer ak"}


SENT_TEXTS: set[str] = set()
LOG_LINES: list[str] = []
SERVER_LOGS: list[Path] = []  # stderr files of real servers started by the tests


class _Recorder(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        LOG_LINES.append(self.format(record))
        LOG_LINES.append(str(record.msg))


def _remember(kwargs: dict[str, Any]) -> None:
    payload = kwargs.get("json")
    if payload is None and isinstance(kwargs.get("content"), bytes):
        try:
            payload = json.loads(kwargs["content"])
        except ValueError:
            return
    notes = payload.get("notes", [payload]) if isinstance(payload, dict) else []
    for note in notes if isinstance(notes, list) else []:
        if isinstance(note, dict) and isinstance(note.get("text"), str):
            SENT_TEXTS.add(note["text"])


@pytest.fixture(scope="session", autouse=True)
def _record_texts_and_logs() -> Iterator[None]:
    handler = _Recorder(level=logging.DEBUG)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    original = TestClient.request

    def request(self: TestClient, *args: Any, **kwargs: Any) -> Any:
        _remember(kwargs)
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TestClient, "request", request)
        yield
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture(scope="session")
def model_dir(tiny_model: CRFModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api-model") / "model"
    tiny_model.save(path)
    return path


def quiet_retrain_params(tmp: Path) -> Path:
    """A retrain config whose runs stay under ``tmp`` and never train (a fuzzed or stray
    ``POST /v1/admin/retrain`` must not write into the repository)."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "retrain-params.yaml"
    path.write_text(
        f"retrain:\n  dataset: {tmp / 'reviewed'}\n  output: {tmp / 'retrain-runs'}\n"
        "  min_new: 1000000000\n  track: false\n"
    )
    return path


def make_settings(model_dir: Path, tmp_path: Path, **overrides: Any) -> ServeSettings:
    values: dict[str, Any] = {
        "retrain_params": quiet_retrain_params(tmp_path),
        "retrain_dir": tmp_path / "retrain-jobs",
        "model": str(model_dir),
        "api_keys": KEYS,
        "keys_file": tmp_path / "no-keys.json",
        "database_url": f"sqlite:///{tmp_path / 'predictions.db'}",
        "prediction_log_dir": tmp_path / "prediction-log",
        "prediction_log_flush_seconds": 0.05,
        "max_chars": 2_000,
        "max_batch": 4,
        "rate_limit_per_minute": 0,
        "extract_in": "threads",  # no process spawn per test; process mode has its own tests
    }
    values.update(overrides)
    return ServeSettings(**values)


@pytest.fixture
def client(model_dir: Path, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(build_app(make_settings(model_dir, tmp_path))) as c:
        yield c


@dataclass(slots=True)
class Server:
    """A `medner serve` subprocess: its URL, its stderr log, and (once stopped) its exit code."""

    base: str
    log: Path
    process: subprocess.Popen[bytes]


@contextmanager
def running_server(model_dir: Path, tmp: Path, **settings: str) -> Iterator[Server]:
    """`medner serve --model model_dir` on a free port with ``MEDNER_*`` ``settings``, ready
    before the body runs; stopped with SIGINT (a clean shutdown) after it. Its stderr goes to a
    file that the suite-wide log check reads."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {
        **os.environ,
        "MEDNER_KEYS_FILE": str(tmp / "none.json"),
        "MEDNER_DATABASE_URL": f"sqlite:///{tmp / 'predictions.db'}",
        "MEDNER_PREDICTION_LOG_DIR": str(tmp / "prediction-log"),
        "MEDNER_RETRAIN_PARAMS": str(quiet_retrain_params(tmp)),
        "MEDNER_RETRAIN_DIR": str(tmp / "retrain-jobs"),
        **{f"MEDNER_{k.upper()}": v for k, v in settings.items()},
    }
    command = [sys.executable, "-m", "medner", "serve", "--model", str(model_dir)]
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / "server.log"
    SERVER_LOGS.append(log)
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            stdout=stderr,  # stdout and stderr both land in the log that is checked
            stderr=stderr,
        )
        server = Server(f"http://127.0.0.1:{port}", log, process)
        try:
            for _ in range(150):
                try:
                    if httpx.get(f"{server.base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            else:
                pytest.fail("the server never became ready")
            yield server
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
