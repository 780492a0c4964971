"""A retraining run started by the API (``POST /v1/admin/retrain``): one at a time, in a
process of its own (``medner retrain``), so training never takes the API's cores or memory
down with it, and its status readable while it runs and after."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class AlreadyRunning(Exception):
    """A retraining run is already going."""


@dataclass
class RetrainJobs:
    """The API's retraining runs: ``start`` one, read ``status``."""

    params: Path
    folder: Path
    database_url: str | None = None
    _process: subprocess.Popen[bytes] | None = None
    _started: str | None = None
    _outcome: Path | None = None
    _log: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, min_new: int | None = None, dry_run: bool = False) -> dict[str, Any]:
        """Start ``medner retrain``; raises ``AlreadyRunning`` while one is going."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                raise AlreadyRunning(f"a retraining run started at {self._started} is going")
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            self.folder.mkdir(parents=True, exist_ok=True)
            self._outcome = self.folder / f"job-{stamp}.json"
            self._log = self.folder / f"job-{stamp}.log"
            argv = [sys.executable, "-m", "medner", "retrain", "--params", str(self.params)]
            argv += ["--output", str(self._outcome)]
            if self.database_url:
                argv += ["--database-url", self.database_url]
            if min_new is not None:
                argv += ["--min-new", str(min_new)]
            if dry_run:
                argv.append("--dry-run")
            with self._log.open("wb") as log:
                self._process = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            self._started = datetime.now(UTC).isoformat(timespec="seconds")
        return self.status()

    def status(self) -> dict[str, Any]:
        """``idle`` (never started), ``running``, ``finished`` (with the run's outcome) or
        ``failed`` (with the end of its log: steps and counts, never note text)."""
        with self._lock:
            if self._process is None:
                return {"state": "idle"}
            code = self._process.poll()
            status: dict[str, Any] = {"started": self._started, "pid": self._process.pid}
            if code is None:
                return {"state": "running", **status}
            status["exit_code"] = code
            if code == 0 and self._outcome is not None and self._outcome.is_file():
                outcome = json.loads(self._outcome.read_text(encoding="utf-8"))
                return {"state": "finished", **status, "outcome": outcome}
            if code == 0:  # a dry run writes no outcome
                return {"state": "finished", **status, "outcome": None, "log": self._tail()}
            return {"state": "failed", **status, "log": self._tail()}

    def _tail(self) -> str:
        if self._log is None or not self._log.is_file():
            return ""
        return self._log.read_text(encoding="utf-8", errors="replace")[-2000:]
