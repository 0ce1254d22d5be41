"""User schemas and providers: stored in the database (shared by every worker), merged over the
shipped catalog.

Shipped schemas are read-only data. A user schema for a shipped event is an override stored
beside it; deleting the override brings the shipped schema back. A row with no schema holds only
a user example (a promoted capture) over a shipped event. User providers carry a name and
detection rules.

The merged catalog is cached per process and rebuilt only when the tables change; the change
check is one small query (row counts and newest ``updated_at``) that the capture path can afford.
"""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select

from receiver.catalog.importing import ImportPlan
from receiver.catalog.model import DEFAULT_BUDGET_MS
from receiver.catalog.model import Catalog
from receiver.catalog.model import InvalidSchemaError
from receiver.catalog.model import UserProviderSpec
from receiver.catalog.model import UserSchemaSpec
from receiver.catalog.model import check_detection_rules
from receiver.catalog.model import check_user_schema
from receiver.catalog.model import load_catalog
from receiver.catalog.validation import BudgetExceeded
from receiver.catalog.validation import validate_against
from receiver.storage.db import AnySession
from receiver.storage.models import UserProvider
from receiver.storage.models import UserSchema
from receiver.storage.models import utcnow

# provider and event ids, as long as their columns
PROVIDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
DESCRIPTION_MAX = 2000
NAME_MAX = 200


class UserSchemaError(ValueError):
    """A user schema that cannot be stored; the message says why."""


class ReadOnlyError(UserSchemaError):
    """The request would change shipped catalog data, which is read-only."""


def version_query() -> Any:
    """The cheap change check: how many user schemas and providers, and when each changed."""
    providers = select(func.count(UserProvider.id)).scalar_subquery()
    providers_changed = select(func.max(UserProvider.updated_at)).scalar_subquery()
    return select(
        func.count(UserSchema.id), func.max(UserSchema.updated_at), providers, providers_changed
    )


def check_ids(provider: str, event: str | None = None) -> None:
    """:raise UserSchemaError: an id that is not 1-64 (event: 1-128) letters, digits, '.',
    '_' or '-'."""
    checks = [("provider", provider, PROVIDER_ID, 64)]
    if event is not None:
        checks.append(("event", event, EVENT_ID, 128))
    for name, value, pattern, longest in checks:
        if not pattern.fullmatch(value):
            raise UserSchemaError(f"{name} ids are 1-{longest} letters, digits, '.', '_' or '-'")


def parse_document(document: dict[str, Any]) -> tuple[dict[str, Any], Any, str]:
    """Split a PUT body into (schema, example, description).

    The body is either a schema or ``{"schema": {…}, "example"?: …, "description"?: …}`` (an
    API body checked against the document's ``CatalogEventPut`` schema, or an import's).
    """
    if isinstance(document.get("schema"), dict):
        return document["schema"], document.get("example"), document.get("description") or ""
    return document, None, ""


def save_user_schema(
    session: AnySession,
    provider: str,
    event: str,
    document: dict[str, Any],
    now: datetime | None = None,
    *,
    source: str = "user (PUT /api/catalog)",
) -> UserSchema:
    """Add or replace the user schema of ``provider``/``event`` from a PUT body (over a shipped
    event, an override beside it: the shipped schema itself never changes).

    :raise UserSchemaError: bad ids, not a valid JSON Schema, or an example that does not
        validate against the schema.
    """
    check_ids(provider, event)
    schema, example, description = parse_document(document)
    try:
        check_user_schema(schema)
    except InvalidSchemaError as error:
        raise UserSchemaError(error.message) from None
    if example is not None:
        check_example(schema, example)
    stored = _row(session, provider, event)
    if stored is None:
        stored = UserSchema(provider=provider, event=event)
        session.add(stored)
    stored.schema = schema
    stored.example = example
    stored.description = description
    stored.source = source
    stored.updated_at = now or utcnow()
    session.flush()
    return stored


def check_example(schema: dict[str, Any], example: Any) -> None:
    """:raise UserSchemaError: the example does not validate against the schema."""
    try:
        errors, _ = validate_against(schema, example, isolate=False)
    except BudgetExceeded:
        raise UserSchemaError("the example took too long to check against the schema") from None
    if errors:
        first = errors[0]
        raise UserSchemaError(
            f"the example does not match the schema at '{first.path}': {first.message}"
        )


def save_user_example(
    session: AnySession, catalog: Catalog, provider: str, event: str, example: Any
) -> UserSchema:
    """Make ``example`` the example of a catalog event (a user example, revertible).

    Over a user schema it replaces that row's example; over a shipped event it is a row with no
    schema of its own. The example need not match the schema: a capture promoted to be the
    example shows what the provider really sends.

    :raise UserSchemaError: the event is not in the catalog.
    """
    found = catalog.get(provider, event)
    if found is None:
        raise UserSchemaError(f"no event {event!r} for provider {provider!r} in the catalog")
    stored = _row(session, provider, event)
    if stored is None:
        stored = UserSchema(provider=provider, event=event, schema=None, description="")
        stored.source = "user example"
        session.add(stored)
    stored.example = example
    stored.updated_at = utcnow()
    session.flush()
    return stored


def delete_user_schema(session: AnySession, catalog: Catalog, provider: str, event: str) -> bool:
    """Remove the user schema, override or user example of an event; the shipped one returns.

    Returns False when there is nothing of the user's to remove.

    :raise ReadOnlyError: the event is shipped and has no user override or example.
    """
    stored = _row(session, provider, event)
    if stored is None:
        if catalog.get(provider, event) is not None:
            raise ReadOnlyError(
                f"{provider}/{event} is a shipped schema: it is read-only and has no user "
                "override to remove"
            )
        return False
    session.delete(stored)
    session.flush()
    return True


def save_user_provider(
    session: AnySession,
    catalog: Catalog,
    provider: str,
    document: dict[str, Any],
    now: datetime | None = None,
) -> UserProvider:
    """Add or change a user provider from ``{name?, detection?}`` (an API body checked against
    the document's ``ProviderPut`` schema, or an import's).

    :raise ReadOnlyError: ``provider`` is a shipped provider.
    :raise UserSchemaError: a bad id or detection rule.
    """
    check_ids(provider)
    shipped = catalog.provider(provider)
    if shipped is not None and not shipped.user_defined:
        raise ReadOnlyError(f"{provider} is a shipped provider: its detection rules are read-only")
    name = document.get("name")
    detection = document.get("detection")
    try:
        detection = check_detection_rules({} if detection is None else detection)
    except InvalidSchemaError as error:
        raise UserSchemaError(error.message) from None
    stored = session.get(UserProvider, provider)
    if stored is None:
        stored = UserProvider(id=provider, name="", detection={})
        session.add(stored)
    if name is not None:
        stored.name = name
    if "detection" in document:
        stored.detection = detection
    stored.updated_at = now or utcnow()
    session.flush()
    return stored


def delete_user_provider(session: AnySession, catalog: Catalog, provider: str) -> int:
    """Remove a user provider with all its user schemas; return how many schemas went.

    :raise ReadOnlyError: ``provider`` is a shipped provider.
    """
    shipped = catalog.provider(provider)
    if shipped is not None and not shipped.user_defined:
        raise ReadOnlyError(f"{provider} is a shipped provider: it cannot be deleted")
    removed = session.execute(delete(UserSchema).where(UserSchema.provider == provider))
    stored = session.get(UserProvider, provider)
    if stored is not None:
        session.delete(stored)
    session.flush()
    return int(getattr(removed, "rowcount", 0) or 0)


def _row(session: AnySession, provider: str, event: str) -> UserSchema | None:
    return session.execute(
        select(UserSchema).where(UserSchema.provider == provider, UserSchema.event == event)
    ).scalar_one_or_none()


class CatalogCache:
    """The shipped catalog merged with the user schemas, rebuilt when the tables change."""

    def __init__(self, base: Catalog | None = None, budget_ms: int = DEFAULT_BUDGET_MS) -> None:
        self.base = replace(base or load_catalog(), validation_budget_ms=budget_ms)
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
                ]
                providers = [
                    UserProviderSpec(id=row.id, name=row.name, detection=row.detection or {})
                    for row in session.execute(select(UserProvider).order_by(UserProvider.id))
                    .scalars()
                    .all()
                ]
                if specs or providers:
                    self._merged = self.base.with_user_schemas(specs, providers)
                else:
                    self._merged = self.base
                self._version = version
        return self._merged


def store_import(
    session: AnySession, catalog: Catalog, provider: str, plan: ImportPlan
) -> dict[str, Any]:
    """Store the events of an OpenAPI import as user schemas of ``provider``; return the report
    ``{provider, imported, skipped, detection}``.

    A webhook whose schema is not usable is skipped with its reason; an example that does not
    match its schema is dropped (and said so), the schema kept. A header rule the document
    names becomes the provider's detection when the provider has none yet.
    """
    check_ids(provider)
    imported: list[str] = []
    skipped = list(plan.skipped)
    source = f"OpenAPI import: {plan.title}" if plan.title else "OpenAPI import"
    for event in plan.events:
        document = {"schema": event.schema, "example": event.example}
        document["description"] = event.description
        try:
            try:
                save_user_schema(session, provider, event.event, document, source=source)
            except UserSchemaError as error:
                if event.example is None or not str(error).startswith("the example"):
                    raise
                document["example"] = None
                save_user_schema(session, provider, event.event, document, source=source)
                skipped.append({"webhook": event.event, "reason": f"example dropped: {error}"})
        except UserSchemaError as error:
            skipped.append({"webhook": event.event, "reason": str(error)})
            continue
        imported.append(event.event)
    detection: dict[str, Any] | None = None
    known = catalog.provider(provider)
    if known is None or known.user_defined:
        stored = session.get(UserProvider, provider)
        if stored is None or not stored.detection:
            document = {"name": (stored.name if stored and stored.name else plan.title[:NAME_MAX])}
            if plan.event_header:
                document["detection"] = {"event_header": plan.event_header}
            save_user_provider(session, catalog, provider, document)
        stored = session.get(UserProvider, provider)
        detection = stored.detection if stored is not None else None
    return {"provider": provider, "imported": imported, "skipped": skipped, "detection": detection}
