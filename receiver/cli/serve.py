"""``receiver serve``: the production server, and ``receiver prune``."""

from __future__ import annotations

import os
from typing import Any

import click

from receiver.cli.context import with_app
from receiver.config import load_settings


@click.command("serve")
@click.option("--bind", metavar="HOST:PORT", help="Where to listen (default: RECEIVER_BIND).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Server processes (default: RECEIVER_WORKERS).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    help="Request threads per process (default: RECEIVER_THREADS).",
)
def serve_command(bind: str | None, workers: int | None, threads: int | None) -> None:
    """Serve receiver with its production server (gunicorn, receiver's settings and hooks).

    The tables are created or upgraded once, before the workers start.
    """
    from receiver.web.serving import serve

    try:
        settings = load_settings(os.environ)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    overrides: dict[str, Any] = {}
    if bind:
        overrides["bind"] = [bind]
    if workers:
        overrides["workers"] = workers
    if threads:
        overrides["threads"] = threads
    serve(settings, **overrides)


@click.command("prune")
@with_app
def prune_command() -> None:
    """Delete expired bins and everything captured in them."""
    from flask import current_app

    from receiver.bins import retention
    from receiver.storage.db import db
    from receiver.storage.migrate import prepare_database
    from receiver.storage.models import utcnow

    prepare_database(current_app)
    removed = retention.prune_expired(db.session, utcnow())
    db.session.commit()
    click.echo(f"pruned {removed} expired bin{'' if removed == 1 else 's'}")
