"""``receiver catalog import FILE --provider ID``: a provider's catalog from its OpenAPI 3.1
description, as ``POST /api/catalog/import`` does, into this instance's database::

    receiver catalog import api.github.com.json --provider github

One user schema per entry of the document's ``webhooks``; the webhooks it cannot use are
listed with the reason, as are the events imported without their example (it does not match
their schema) and the webhooks whose names were not event ids (with the id they got). Exit
status: 0 when at least one event was imported, 1 when none was, 2 for a file that is not an
OpenAPI 3.1 document with webhooks (nothing is stored).
"""

from __future__ import annotations

import time
from typing import BinaryIO

import click

from receiver.catalog import importing
from receiver.cli.context import with_app


@click.group("catalog")
def catalog_group() -> None:
    """Work with the catalog of provider events."""


@catalog_group.command("import")
@click.argument("document", type=click.File("rb"))
@click.option("--provider", required=True, help="The provider id the events are stored under.")
@with_app
def import_command(document: BinaryIO, provider: str) -> None:
    """Import every webhook of an OpenAPI 3.1 DOCUMENT (JSON or YAML; - for stdin) as a user
    schema of PROVIDER."""
    from flask import current_app

    from receiver.catalog.user_schemas import UserSchemaError
    from receiver.catalog.user_schemas import store_import
    from receiver.storage.db import db
    from receiver.storage.migrate import prepare_database
    from receiver.web.state import current_catalog

    started = time.perf_counter()
    data = document.read(importing.MAX_DOCUMENT_BYTES + 1)
    try:
        plan = importing.plan_import(importing.parse_document(data))
    except importing.OpenAPIImportError as error:
        raise click.UsageError(str(error)) from None
    prepare_database(current_app)
    try:
        report = store_import(db.session, current_catalog(), provider, plan)
    except UserSchemaError as error:
        db.session.rollback()
        raise click.UsageError(str(error)) from None
    db.session.commit()
    for skipped in report["skipped"]:
        click.echo(f"skipped {skipped['webhook']}: {skipped['reason']}")
    for renamed in report["renamed"]:
        click.echo(f"imported {renamed['webhook']} as {renamed['event']}")
    for dropped in report["examples_dropped"]:
        click.echo(f"imported {dropped['event']}, example dropped: {dropped['reason']}")
    imported = len(report["imported"])
    rule = (report["detection"] or {}).get("event_header")
    detected = f"; events are detected by the header {rule}" if rule else ""
    seconds = time.perf_counter() - started
    click.echo(f"imported {imported} event(s) of {provider} in {seconds:.1f} s{detected}")
    if not imported:
        raise click.exceptions.Exit(1)
