"""Command-line tools: ``flask prune`` and the database helpers from Flask-Migrate."""

from __future__ import annotations

import click
from flask import Flask

from . import bins
from .db import db
from .models import utcnow


@click.command("prune")
def prune_command() -> None:
    """Delete expired bins and everything captured in them."""
    removed = bins.prune_expired(db.session, utcnow())
    db.session.commit()
    click.echo(f"pruned {removed} expired bin{'' if removed == 1 else 's'}")


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(prune_command)
