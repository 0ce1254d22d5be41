"""The ``receiver`` command (also ``python -m receiver``): receiver's own commands, nothing else.

Each command is one row of `COMMANDS`: its name, where it lives (``module:attribute``) and the
line ``receiver --help`` shows. A command's module is imported only when that command runs or
shows its own help, so ``receiver --help`` imports no command at all, and the commands that need
no server (``send`` without a database, ``listen``) start without Flask, SQLAlchemy or Alembic.
A command module keeps its heavy imports inside the functions that need them;
tests/web/test_cli.py checks what ``--help``, ``send`` and ``listen`` import.

Flask's own commands (``run``, ``shell``, ``routes``) are ``receiver flask …``; Flask-Migrate's
are ``receiver db …`` (and ``receiver flask db …``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import click

from receiver.version import package_version


@dataclass(frozen=True)
class CommandEntry:
    """Where a command lives and what ``receiver --help`` says of it."""

    target: str
    summary: str


COMMANDS: dict[str, CommandEntry] = {
    "serve": CommandEntry(
        "receiver.cli.serve:serve_command", "Serve receiver with its production server."
    ),
    "send": CommandEntry(
        "receiver.cli.send:send_command", "Send catalog examples or recordings to a URL."
    ),
    "listen": CommandEntry(
        "receiver.cli.listen:listen_command", "Deliver a bin's captures to a URL on this machine."
    ),
    "scenario": CommandEntry(
        "receiver.cli.scenario:scenario_command", "Replay a bin's captures with their timing."
    ),
    "catalog": CommandEntry(
        "receiver.cli.catalog:catalog_group", "Import provider events into the catalog."
    ),
    "prune": CommandEntry("receiver.cli.serve:prune_command", "Delete expired bins."),
    "forward-worker": CommandEntry(
        "receiver.cli.forwarding:forward_worker_command",
        "Forward captures to their bins' forward URLs.",
    ),
    "db": CommandEntry(
        "receiver.cli.framework:db_group", "Create or upgrade the database (Flask-Migrate)."
    ),
    "simulate": CommandEntry(
        "receiver.cli.simulate:simulate_command", "Stand in for a provider: trigger its events."
    ),
    "mcp": CommandEntry(
        "receiver.cli.mcp:mcp_command", "A Model Context Protocol server for coding agents."
    ),
    "flask": CommandEntry(
        "receiver.cli.framework:flask_group", "Flask's own commands: run, shell, routes."
    ),
}


class ReceiverGroup(click.Group):
    """A group whose commands are the rows of `COMMANDS`, imported when they are used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, _, attribute = entry.target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        command.short_help = command.short_help or entry.summary
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table alone: listing imports no command."""
        rows = [(name, entry.summary) for name, entry in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"receiver {package_version()}")
        ctx.exit()


@click.group("receiver", cls=ReceiverGroup)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
def main() -> None:
    """receiver: a self-hosted webhook receiver and test inspector.

    Run `receiver COMMAND --help` for a command's options.
    """
