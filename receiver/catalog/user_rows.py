"""The user schemas and providers as the database keeps them, read by two plain SQL statements.

One reader for the server's catalog cache (through its SQLAlchemy session) and for the commands
that run without the server stack: ``receiver send`` reads this instance's SQLite file with the
standard library's ``sqlite3``, so that sending a user schema's example costs no SQLAlchemy.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from receiver.catalog.model import UserProviderSpec
from receiver.catalog.model import UserSchemaSpec

SCHEMA_ROWS = (
    "SELECT provider, event, schema, example, source, description, headers "
    "FROM user_schema ORDER BY id"
)
PROVIDER_ROWS = "SELECT id, name, detection FROM user_provider ORDER BY id"


def user_specs(
    schema_rows: Iterable[Sequence[Any]],
    provider_rows: Iterable[Sequence[Any]],
    *,
    json_as_text: bool,
) -> tuple[list[UserSchemaSpec], list[UserProviderSpec]]:
    """The specs of the rows the two statements return.

    ``json_as_text``: the driver returns JSON columns as their text (SQLite), not as values
    (psycopg).
    """

    def value(raw: Any) -> Any:
        return json.loads(raw) if json_as_text and isinstance(raw, str | bytes) else raw

    schemas = [
        UserSchemaSpec(
            provider=provider,
            event=event,
            schema=value(schema),
            example=value(example),
            source=source,
            description=description or "",
            headers=tuple((str(n), str(v)) for n, v in value(headers) or ()),
        )
        for provider, event, schema, example, source, description, headers in schema_rows
    ]
    providers = [
        UserProviderSpec(id=row_id, name=name or "", detection=value(detection) or {})
        for row_id, name, detection in provider_rows
    ]
    return schemas, providers


def read_sqlite_file(path: str) -> tuple[list[UserSchemaSpec], list[UserProviderSpec]]:
    """The user schemas and providers of a SQLite file, read with ``sqlite3`` (never created).

    :raise sqlite3.Error: the file does not exist, or its tables are not (yet) the ones these
        statements read: the caller migrates it the usual way.
    """
    connection = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=10)
    try:
        schemas = connection.execute(SCHEMA_ROWS).fetchall()
        providers = connection.execute(PROVIDER_ROWS).fetchall()
    finally:
        connection.close()
    return user_specs(schemas, providers, json_as_text=True)
