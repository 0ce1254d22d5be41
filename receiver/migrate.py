"""Schema changes through Flask-Migrate (Alembic); scripts live in receiver/migrations."""

from __future__ import annotations

from pathlib import Path

import flask_migrate
from flask import Flask

from .db import db

MIGRATIONS = str(Path(__file__).resolve().parent / "migrations")
migrate = flask_migrate.Migrate(directory=MIGRATIONS, render_as_batch=True, compare_type=True)


def init_app(app: Flask) -> None:
    """Make ``flask db …`` work with the package's migrations folder."""
    migrate.init_app(app, db)


def upgrade_database(app: Flask) -> None:
    """Create the tables or bring them to the newest revision."""
    quiet = not app.config.get("RECEIVER_MIGRATION_LOGS", False)
    with app.app_context():
        previous = app.config.get("RECEIVER_MIGRATION_LOGS")
        app.config["RECEIVER_MIGRATION_LOGS"] = not quiet
        try:
            flask_migrate.upgrade(directory=MIGRATIONS)
        finally:
            app.config["RECEIVER_MIGRATION_LOGS"] = previous
