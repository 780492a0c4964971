"""The one database of medner: predictions now; reviews, accounts and events as they come.

``MEDNER_DATABASE_URL`` (a SQLAlchemy URL) names it: a SQLite file by default
(``sqlite:///runs/medner.db``), PostgreSQL in production with the same code. The schema is
managed by Alembic (``medner/store/migrations``); :func:`migrate` brings a database to the latest
revision, an existing one included. Serving, the CLI, review and monitoring reach the database
only through this package.
"""

from medner.store.db import DATABASE_URL_ENV, DEFAULT_DATABASE_URL, database_url, engine, migrate

__all__ = ["DATABASE_URL_ENV", "DEFAULT_DATABASE_URL", "database_url", "engine", "migrate"]
