"""Structured JSON logs: one object a line. Messages that are dicts are merged into the object.

What is logged about a request is decided in ``medner.serving.app``: ids, route, status, latency
and entity counts, never the note text.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if isinstance(record.msg, dict):
            payload.update(record.msg)
        else:
            payload["message"] = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            payload["error"] = record.exc_info[0].__name__
        return json.dumps(payload, default=str)


LOG_LEVEL_ENV = "MEDNER_LOG_LEVEL"
# libraries whose INFO lines are start-up chatter ("Context impl SQLiteImpl", "Started server
# process"): logged from WARNING up unless MEDNER_LOG_LEVEL=debug
LIBRARIES = (
    "alembic",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "mlflow",
    "httpx",
    "httpcore",
    "py.warnings",
)
# the loggers MLflow gives a handler of its own when it is imported first
MLFLOW_OWNED = ("mlflow", "sqlalchemy.engine", "alembic", "huey")


def configure_json_logging(level: str | None = None) -> None:
    """Send every logger (uvicorn's too) to stderr as JSON lines: medner's from ``level``
    (default ``MEDNER_LOG_LEVEL``, else ``info``), the libraries' from WARNING (all of them
    from DEBUG when the level is ``debug``)."""
    name = (level or os.environ.get(LOG_LEVEL_ENV) or "info").upper()
    numeric = logging.getLevelNamesMapping().get(name)
    if numeric is None:
        raise ValueError(f"{LOG_LEVEL_ENV}={name.lower()}: use debug, info, warning or error")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for library in LIBRARIES:
        logger = logging.getLogger(library)
        logger.setLevel(
            logging.DEBUG if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
        )
    # MLflow (imported later, for a models:/ model) would give its loggers a plain-text
    # handler of their own; without it they reach the JSON handler like every other library.
    # Its progress bars are plain text on stderr too: off.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for library in ("uvicorn", "uvicorn.error", "uvicorn.access", *MLFLOW_OWNED):
        logging.getLogger(library).handlers[:] = []
        logging.getLogger(library).propagate = True
    logging.captureWarnings(True)  # warnings.warn lines become JSON too (logger py.warnings)
