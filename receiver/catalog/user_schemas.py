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
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy import select

from receiver.catalog import importing
from receiver.catalog.importing import ImportPlan
from receiver.catalog.model import DEFAULT_BUDGET_MS
from receiver.catalog.model import Catalog
from receiver.catalog.model import InvalidSchemaError
from receiver.catalog.model import check_detection_rules
from receiver.catalog.model import check_user_schema
from receiver.catalog.model import load_catalog
from receiver.catalog.user_rows import PROVIDER_ROWS
from receiver.catalog.user_rows import SCHEMA_ROWS
from receiver.catalog.user_rows import user_specs
from receiver.catalog.validation import BudgetExceeded
from receiver.catalog.validation import validate_against
from receiver.httpspec import TOKEN
from receiver.storage.db import AnySession
from receiver.storage.models import CatalogMarker
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
    """The cheap change check: the user catalog's change marker, which triggers on the user
    schema and provider tables move on every write (one row, read by its key)."""
    return select(CatalogMarker.version).where(CatalogMarker.id == 1)


def check_ids(provider: str, event: str | None = None) -> None:
    """:raise UserSchemaError: an id that is not 1-64 (event: 1-128) letters, digits, '.',
    '_' or '-'."""
    checks = [("provider", provider, PROVIDER_ID, 64)]
    if event is not None:
        checks.append(("event", event, EVENT_ID, 128))
    for name, value, pattern, longest in checks:
        if not pattern.fullmatch(value):
            raise UserSchemaError(f"{name} ids are 1-{longest} letters, digits, '.', '_' or '-'")


@dataclass(frozen=True)
class SchemaDocument:
    """A PUT body, split: the schema, its example, description and documented headers."""

    schema: dict[str, Any]
    example: Any = None
    description: str = ""
    headers: list[list[str]] = field(default_factory=list)


def parse_document(document: Any) -> SchemaDocument:
    """Split a PUT body: either a schema, or ``{"schema": …, "example"?: …, "description"?: …,
    "headers"?: [[name, value], …]}`` (the request headers a delivery of the event carries).

    :raise UserSchemaError: not an object, a description too long, headers that are not pairs
        of an HTTP header name and a value without control characters.
    """
    if not isinstance(document, dict):
        raise UserSchemaError("the body must be a JSON object: a schema, or {schema, example}")
    if not ("schema" in document and isinstance(document["schema"], dict)):
        return SchemaDocument(document)
    description = document.get("description") or ""
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        raise UserSchemaError(f"description is text of at most {DESCRIPTION_MAX} characters")
    return SchemaDocument(
        document["schema"],
        document.get("example"),
        description,
        _checked_headers(document.get("headers") or []),
    )


def _checked_headers(headers: Any) -> list[list[str]]:
    if not isinstance(headers, list) or len(headers) > importing.MAX_HEADERS:
        raise UserSchemaError(
            f"headers is a list of at most {importing.MAX_HEADERS} [name, value] pairs"
        )
    checked = []
    for pair in headers:
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not all(isinstance(part, str) for part in pair)
            or not TOKEN.fullmatch(pair[0])
            or len(pair[0]) > importing.HEADER_NAME_MAX
            or len(pair[1]) > importing.HEADER_VALUE_MAX
            or _CONTROL.search(pair[1])
        ):
            raise UserSchemaError(
                "each header is [name, value]: an HTTP header name of at most "
                f"{importing.HEADER_NAME_MAX} characters and a value of at most "
                f"{importing.HEADER_VALUE_MAX} without control characters"
            )
        checked.append([pair[0], pair[1]])
    return checked


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


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
    parsed = parse_document(document)
    try:
        check_user_schema(parsed.schema)
    except InvalidSchemaError as error:
        raise UserSchemaError(error.message) from None
    if parsed.example is not None:
        check_example(parsed.schema, parsed.example)
    stored = _row(session, provider, event)
    if stored is None:
        stored = UserSchema(provider=provider, event=event)
        session.add(stored)
    stored.schema = parsed.schema
    stored.example = parsed.example
    stored.description = parsed.description
    stored.headers = parsed.headers or None
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

    def cached(self, version: tuple[Any, ...]) -> Catalog | None:
        """The merged catalog when it was built for ``version``, else None (no database call)."""
        return self._merged if version == self._version else None

    def current(self, session: AnySession, version: tuple[Any, ...] | None = None) -> Catalog:
        """The merged catalog; ``version`` may be passed when the caller already read it."""
        if version is None:
            version = tuple(session.execute(version_query()).one())
        if version == self._version:
            return self._merged
        with self._lock:
            if version != self._version:
                connection = session.connection()
                specs, providers = user_specs(
                    connection.exec_driver_sql(SCHEMA_ROWS).all(),
                    connection.exec_driver_sql(PROVIDER_ROWS).all(),
                    json_as_text=connection.dialect.name == "sqlite",
                )
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
    ``{provider, imported, examples_dropped, renamed, skipped, detection}``.

    A webhook whose schema is not usable is skipped with its reason. An event whose example
    does not match its schema is imported without it: it is in ``imported`` and, with the
    reason, in ``examples_dropped`` (never in ``skipped``). A webhook whose name is not an event
    id is in ``renamed`` with the id it got. A header rule the document names becomes the
    provider's detection when the provider has none yet.
    """
    check_ids(provider)
    imported: list[str] = []
    dropped: list[dict[str, str]] = []
    renamed: list[dict[str, str]] = []
    skipped = list(plan.skipped)
    title = f"OpenAPI import: {plan.title}" if plan.title else "OpenAPI import"
    for event in plan.events:
        webhook = event.webhook or event.event
        source = title if webhook == event.event else f"{title}, webhook {webhook[:200]}"
        document = {
            "schema": event.schema,
            "example": event.example,
            "description": event.description,
            "headers": [list(pair) for pair in event.headers],
        }
        try:
            try:
                save_user_schema(session, provider, event.event, document, source=source)
            except UserSchemaError as error:
                if event.example is None or not str(error).startswith("the example"):
                    raise
                document["example"] = None
                save_user_schema(session, provider, event.event, document, source=source)
                dropped.append({"event": event.event, "reason": str(error)})
        except UserSchemaError as error:
            skipped.append({"webhook": webhook[:200], "reason": str(error)})
            continue
        imported.append(event.event)
        if webhook != event.event:
            renamed.append({"webhook": webhook[:200], "event": event.event})
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
    return {
        "provider": provider,
        "imported": imported,
        "examples_dropped": dropped,
        "renamed": renamed,
        "skipped": skipped,
        "detection": detection,
    }
