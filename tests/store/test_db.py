"""The store's database: migrations on SQLite and PostgreSQL, an existing database upgraded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from medner.store import DATABASE_URL_ENV, DEFAULT_DATABASE_URL, database_url, engine, migrate


def test_migrations_create_the_schema(db_url: str) -> None:
    migrate(db_url)
    migrate(db_url)  # idempotent
    engine = sa.create_engine(db_url)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("predictions")}
    engine.dispose()
    assert {"note_id", "text_sha256", "length", "entities", "model_version", "latency_ms"} <= (
        columns
    )


def test_an_existing_prediction_log_is_upgraded_in_place(tmp_path: Path) -> None:
    """A database made by the serving-era log (revision 0001 only) keeps its rows."""
    from alembic import command
    from alembic.config import Config

    from medner.store.db import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0001")
    db = sa.create_engine(url)
    with db.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO predictions (created_at, request_id, text_sha256, length, entities,"
                " entity_count, model_version, latency_ms) VALUES (:t, 'r', 'h', 3, '[]', 0,"
                " 'v1', 1.5)"
            ),
            {"t": datetime.now(UTC)},
        )
    migrate(url)
    with db.connect() as conn:
        rows = list(conn.execute(sa.text("SELECT request_id, model_version FROM predictions")))
        head = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    db.dispose()
    assert rows == [("r", "v1")]
    assert head == _head_revision()


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from medner.store.db import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_one_url_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    assert database_url() == DEFAULT_DATABASE_URL
    url = f"sqlite:///{tmp_path / 'sub' / 'm.db'}"
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    assert database_url() == url
    assert database_url("sqlite:///other.db") == "sqlite:///other.db"
    db = engine()  # the folder of a SQLite file is made
    assert (tmp_path / "sub").is_dir() and str(db.url) == url
    db.dispose()


def test_a_new_sqlite_file_is_private(tmp_path: Path) -> None:
    """Issue 23: the prediction log was created mode 0644 though it holds patient-linked data."""
    path = tmp_path / "db" / "medner.db"
    migrate(f"sqlite:///{path}")
    assert path.stat().st_mode & 0o777 == 0o600
