"""The ``receiver`` command: the app's Flask CLI group (``python -m receiver`` too).

Every ``flask --app app X`` command is also ``receiver X``: ``serve``, ``send``, ``prune``,
``forward-worker``, ``scenario``, ``listen``, ``catalog import``, ``simulate``, Flask-Migrate's
``db`` and Flask's own ``run``, ``shell`` and ``routes``.
One module per command family; each command is listed once, in ``COMMANDS``.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from receiver.cli.catalog import catalog_group
from receiver.cli.forwarding import forward_worker_command
from receiver.cli.listen import listen_command
from receiver.cli.scenario import scenario_command
from receiver.cli.send import send_command
from receiver.cli.serve import prune_command
from receiver.cli.serve import serve_command
from receiver.cli.simulate import simulate_command

COMMANDS = (
    serve_command,
    prune_command,
    send_command,
    forward_worker_command,
    scenario_command,
    listen_command,
    catalog_group,
    simulate_command,
)


def init_app(app: Flask) -> None:
    """Register the commands on the app's CLI group (``flask --app app …``)."""
    for command in COMMANDS:
        app.cli.add_command(command)


def create_cli_app() -> Flask:
    """The app the ``receiver`` group runs its commands against."""
    from receiver import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=create_cli_app, add_version_option=False)
def main() -> None:
    """receiver: a self-hosted webhook receiver and test inspector."""


# serve needs no app in the process that starts gunicorn, nor listen (a client of any server):
# they are found before the app is loaded
main.add_command(serve_command)
main.add_command(listen_command)
