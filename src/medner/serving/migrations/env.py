"""Alembic environment of the prediction log (run by medner.serving.predlog.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from medner.serving.predlog import Base

url = context.config.get_main_option("sqlalchemy.url")
assert url is not None
engine = create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
