"""User schemas: stored in the database (shared by every worker), merged over the shipped catalog.

The merged catalog is cached per process and rebuilt only when the table changes; the change check
is one small query (row count and newest ``updated_at``) that the capture path can afford.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select

from receiver.catalog.model import Catalog
from receiver.catalog.model import InvalidSchemaError
from receiver.catalog.model import UserSchemaSpec
from receiver.catalog.model import check_user_schema
from receiver.catalog.model import load_catalog
from receiver.catalog.validation import validate_against
from receiver.storage.db import AnySession
from receiver.storage.models import UserSchema
from receiver.storage.models import utcnow

# provider and event ids, as long as their columns
PROVIDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
DESCRIPTION_MAX = 2000


class UserSchemaError(ValueError):
    """A user schema that cannot be stored; the message says why."""


def version_query() -> Any:
    """The cheap change check: how many user schemas, and when the newest changed."""
    return select(func.count(UserSchema.id), func.max(UserSchema.updated_at))


def save_user_schema(
    session: AnySession, provider: str, event: str, document: Any, now: datetime | None = None
) -> UserSchema:
    """Add or replace the schema of ``provider``/``event`` from a PUT body.

    The body is either a schema or ``{"schema": …, "example"?: …, "description"?: …}``.

    :raise UserSchemaError: bad ids, not a valid draft 2020-12 schema, or an example that does
        not validate against the schema.
    """
    for name, value, pattern, longest in (
        ("provider", provider, PROVIDER_ID, 64),
        ("event", event, EVENT_ID, 128),
    ):
        if not pattern.fullmatch(value):
            raise UserSchemaError(f"{name} ids are 1-{longest} letters, digits, '.', '_' or '-'")
    if not isinstance(document, dict):
        raise UserSchemaError("the body must be a JSON object: a schema, or {schema, example}")
    if "schema" in document and isinstance(document["schema"], dict):
        schema, example = document["schema"], document.get("example")
        description = document.get("description") or ""
    else:
        schema, example, description = document, None, ""
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        raise UserSchemaError(f"description is text of at most {DESCRIPTION_MAX} characters")
    try:
        check_user_schema(schema)
    except InvalidSchemaError as error:
        raise UserSchemaError(error.message) from None
    if example is not None:
        errors, _ = validate_against(schema, example)
        if errors:
            first = errors[0]
            raise UserSchemaError(
                f"the example does not match the schema at '{first.path}': {first.message}"
            )
    stored = session.execute(
        select(UserSchema).where(UserSchema.provider == provider, UserSchema.event == event)
    ).scalar_one_or_none()
    if stored is None:
        stored = UserSchema(provider=provider, event=event)
        session.add(stored)
    stored.schema = schema
    stored.example = example
    stored.description = description
    stored.source = "user (PUT /api/catalog)"
    stored.updated_at = now or utcnow()
    session.flush()
    return stored


class CatalogCache:
    """The shipped catalog merged with the user schemas, rebuilt when the table changes."""

    def __init__(self, base: Catalog | None = None) -> None:
        self.base = base or load_catalog()
        self._lock = threading.Lock()
        self._version: tuple[Any, ...] | None = None
        self._merged = self.base

    def current(self, session: AnySession, version: tuple[Any, ...] | None = None) -> Catalog:
        """The merged catalog; ``version`` may be passed when the caller already read it."""
        if version is None:
            version = tuple(session.execute(version_query()).one())
        if version == self._version:
            return self._merged
        with self._lock:
            if version != self._version:
                specs = [
                    UserSchemaSpec(
                        provider=row.provider,
                        event=row.event,
                        schema=row.schema,
                        example=row.example,
                        source=row.source,
                        description=row.description,
                    )
                    for row in session.execute(select(UserSchema).order_by(UserSchema.id)).scalars()
                    if row.schema is not None
                ]
                self._merged = self.base.with_user_schemas(specs) if specs else self.base
                self._version = version
        return self._merged
