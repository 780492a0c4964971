"""Building the app from settings: keys, prediction log, and the uvicorn entry point."""

from __future__ import annotations

import os

from fastapi import FastAPI

from medner.serving.app import create_app
from medner.serving.auth import ApiKey, KeyStore, parse_env_keys, read_keys_file
from medner.serving.logs import configure_json_logging
from medner.serving.settings import ServeSettings
from medner.store.predictions import PredictionLog


def load_keys(settings: ServeSettings) -> list[ApiKey]:
    """Keys from ``MEDNER_API_KEYS`` and from the keys file (when it exists)."""
    keys = parse_env_keys(settings.api_keys) if settings.api_keys else []
    if settings.keys_file.is_file():
        keys += read_keys_file(settings.keys_file)
    return keys


def build_app(settings: ServeSettings | None = None) -> FastAPI:
    """The app for ``settings`` (default: from the environment)."""
    settings = settings or ServeSettings()
    # MLflow's HTTP client (models:/ models) waits 120 s a request and retries 7 times with
    # backoff by default: minutes against a tracking server that does not answer
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(settings.registry_timeout_seconds)
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "1"
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
    log = None
    if settings.prediction_log:
        log = PredictionLog(
            settings.database_url,
            buffer=settings.prediction_log_buffer,
            batch=settings.prediction_log_batch,
            flush_seconds=settings.prediction_log_flush_seconds,
            directory=settings.prediction_log_dir,
            durability=settings.prediction_log_durability,
        )
    return create_app(settings, KeyStore(load_keys(settings)), log)


def app_from_env() -> FastAPI:
    """uvicorn factory (``medner.serving.service:app_from_env``), used with several workers:
    each worker process sets up its own JSON logging and builds the app from the environment."""
    configure_json_logging()
    return build_app(ServeSettings())
