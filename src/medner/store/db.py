"""Engines and migrations from one URL setting."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

DATABASE_URL_ENV = "MEDNER_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///runs/medner.db"
MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(url: str | None = None) -> str:
    """``url`` if given, else ``MEDNER_DATABASE_URL``, else the SQLite file under ``runs/``."""
    return url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def _sqlite_file(url: str) -> Path | None:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        return Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    return None


def _private_sqlite_file(url: str) -> None:
    """Create a SQLite file readable by its owner only (it holds patient-linked data)."""
    if (path := _sqlite_file(url)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def engine(url: str | None = None, **options: Any) -> Engine:
    """A SQLAlchemy engine for the database (a server's connections checked before use: a
    SQLite file has no connection to lose); ``options`` go to ``create_engine``."""
    url = database_url(url)
    _private_sqlite_file(url)
    return create_engine(url, pool_pre_ping=not url.startswith("sqlite"), **options)


def migrate(url: str | None = None) -> None:
    """Bring the database to the latest schema (Alembic ``upgrade head``); idempotent.

    A database made by an earlier medner (the prediction log of ``medner serve``, revision
    ``0001``) is upgraded in place: its rows stay.
    """
    from alembic import command
    from alembic.config import Config

    url = database_url(url)
    _private_sqlite_file(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")
