"""Schema changes through Flask-Migrate (Alembic); scripts live in receiver/storage/migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_migrate
from flask import Flask

from receiver.storage.db import db

MIGRATIONS = str(Path(__file__).resolve().parent / "migrations")
# the text search tables (and SQLite's FTS5 shadow tables, and its list of deleted captures
# still to take out of the index) are made by hand, not from models
SEARCH_TABLES = ("request_search", "search_gone")


def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """What autogenerate compares: everything but the text search tables."""
    return not (type_ == "table" and (name or "").startswith(SEARCH_TABLES))


migrate = flask_migrate.Migrate(
    directory=MIGRATIONS, render_as_batch=True, compare_type=True, include_name=include_name
)


def init_app(app: Flask) -> None:
    """Make ``receiver db …`` work with the package's migrations folder."""
    migrate.init_app(app, db)


def upgrade_database(app: Flask) -> None:
    """Create the tables or bring them to the newest revision."""
    with app.app_context():
        # alembic configures logging only for `receiver db …`, not inside a running app
        app.config["RECEIVER_MIGRATION_LOGS"] = False
        try:
            flask_migrate.upgrade(directory=MIGRATIONS)
        finally:
            app.config.pop("RECEIVER_MIGRATION_LOGS")


def prepare_database(app: Flask) -> None:
    """Create or upgrade the tables, unless ``RECEIVER_AUTO_MIGRATE`` is off.

    Called by the entry points that serve the app or need its tables, never by ``create_app``.
    """
    if app.config["RECEIVER_AUTO_MIGRATE"]:
        upgrade_database(app)
