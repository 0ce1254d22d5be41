"""``receiver flask …`` (Flask's own commands: ``run``, ``shell``, ``routes``) and ``receiver db
…`` (Flask-Migrate's, which write and apply the schema migrations), both on receiver's app.
"""

from __future__ import annotations

import click
import flask_migrate.cli
from flask.cli import FlaskGroup
from flask.cli import ScriptInfo

from receiver.cli.context import create_cli_app

flask_group = FlaskGroup(
    name="flask",
    create_app=create_cli_app,
    add_version_option=False,
    help="Flask's own commands (run, shell, routes, db) on receiver's app.",
)


class _OnReceiversApp(click.Group):
    """A group whose commands load the app from the context's `ScriptInfo`, as Flask-Migrate's
    do: receiver's own app, unless the caller (a test) already gave one."""

    def invoke(self, ctx: click.Context) -> object:
        if not isinstance(ctx.obj, ScriptInfo):
            ctx.obj = ScriptInfo(create_app=create_cli_app)
        return super().invoke(ctx)


migrations = flask_migrate.cli.db
db_group = _OnReceiversApp(
    name="db",
    commands=migrations.commands,
    params=migrations.params,
    callback=migrations.callback,
    help="Create or upgrade the database's tables, or write a migration (Flask-Migrate): "
    "receiver db upgrade, receiver db migrate -m MESSAGE, receiver db current, …",
)
