"""What the commands share: receiver's app, built only by the commands that need it, and the
catalog as a command reads it.

Flask, SQLAlchemy and Alembic are imported inside these functions, never when a command's module
is: a command that needs no server (``send`` on a machine with no database, ``listen``) starts
without them.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import click

from receiver.catalog.model import Catalog
from receiver.catalog.model import load_catalog

if TYPE_CHECKING:
    from flask import Flask
    from flask.cli import ScriptInfo

Result = TypeVar("Result")


def create_cli_app() -> Flask:
    """The app the commands run against (the environment's settings)."""
    from receiver import create_app

    return create_app()


def with_app(command: Callable[..., Result]) -> Callable[..., Result]:
    """Run a command inside an app context: the app the caller gave in the context's Flask
    ``ScriptInfo`` (a test's runner), else receiver's own, built when the command runs."""

    @click.pass_context
    @functools.wraps(command)
    def run(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Result:
        from flask import current_app

        if not current_app:
            ctx.with_resource(_app(ctx).app_context())
        return command(*args, **kwargs)

    return run


def _app(ctx: click.Context) -> Flask:
    from flask.cli import ScriptInfo

    info = _given_app(ctx)
    if info is None:
        info = ctx.obj = ScriptInfo(create_app=create_cli_app)
    return info.load_app()


def _given_app(ctx: click.Context) -> ScriptInfo | None:
    """The caller's Flask ``ScriptInfo`` (a test's runner gives one), found without importing
    Flask: when ``flask.cli`` was never imported, nobody can have made one."""
    flask_cli = sys.modules.get("flask.cli")
    found: ScriptInfo | None = ctx.find_object(flask_cli.ScriptInfo) if flask_cli else None
    return found


def command_catalog(ctx: click.Context) -> Catalog:
    """The catalog as the server sees it: the shipped events with this instance's user schemas,
    overrides and examples over them.

    A SQLite database is read with the standard library alone; no database at all means the
    shipped catalog, and nothing is created. Only a PostgreSQL database, a SQLite file whose
    tables are not up to date, or an app given by the caller (tests) load the server's stack
    (which also creates or upgrades the tables, as every command that uses them does).
    """
    import sqlite3

    if _given_app(ctx) is None:
        from receiver import config
        from receiver.catalog.user_rows import read_sqlite_file

        settings = config.load_settings(os.environ)
        url = config.database_url(
            settings["DATABASE_URL"], config.instance_path(settings["RECEIVER_INSTANCE_PATH"])
        )
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            if not Path(path).is_file():
                return load_catalog()
            try:
                schemas, providers = read_sqlite_file(path)
            except sqlite3.Error:
                pass
            else:
                return load_catalog().with_user_schemas(schemas, providers)
    return _server_catalog(ctx)


def _server_catalog(ctx: click.Context) -> Catalog:
    from receiver.storage.migrate import prepare_database
    from receiver.web.state import current_catalog

    app = _app(ctx)
    with app.app_context():
        prepare_database(app)
        return current_catalog()
