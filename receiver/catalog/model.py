"""The event catalog: providers, their event ids, JSON Schemas and example payloads.

The shipped catalog lives in ``fixtures/catalog/<provider>/`` (found by ``receiver.resources``):
a ``provider.json`` plus one ``<EVENT_ID>.schema.json`` / ``<EVENT_ID>.example.json`` pair per
documented event. Files whose
name starts with ``_`` are provider-level schemas, not events (``_envelope.schema.json`` checks a
payload whose event name the catalog does not list). Users add schemas of their own; those are
stored elsewhere and merged in with :meth:`Catalog.with_user_schemas`.

Catalog objects are treated as immutable: schemas and examples are never changed in place, a
changed user schema is a new :class:`Event` in a new :class:`Catalog`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from receiver.catalog.pointers import MISSING
from receiver.catalog.pointers import parse_pointer
from receiver.catalog.pointers import resolve_pointer
from receiver.resources import resource_dir

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
DOCUMENTED_LEVELS = ("full", "envelope-only", "undocumented")
ENVELOPE_FILE = "_envelope.schema.json"


class CatalogError(Exception):
    """A shipped catalog file is missing or malformed."""


class InvalidSchemaError(ValueError):
    """A user-supplied schema is not a usable JSON Schema (draft 2020-12) object."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, eq=False)
class Event:
    """One event id of a provider, with its schema and example payload."""

    provider_id: str
    id: str
    description: str
    schema: dict[str, Any]
    example: Any
    source: str
    documented: str
    user_defined: bool = False


@dataclass(frozen=True, eq=False)
class Provider:
    """A webhook provider: where its docs come from, how it signs, how to recognise it."""

    id: str
    name: str
    seed: str
    source: str
    signature: dict[str, Any]
    notes: list[str]
    events: dict[str, Event]
    detection: dict[str, Any] = field(default_factory=dict)
    delivery: dict[str, Any] = field(default_factory=dict)
    envelope: dict[str, Any] | None = None
    user_defined: bool = False


@dataclass(frozen=True)
class UserSchemaSpec:
    """A user-supplied schema for one provider event (as stored in the database)."""

    provider: str
    event: str
    schema: dict[str, Any]
    example: Any = None
    source: str = "user"
    description: str = ""


@dataclass(frozen=True, eq=False)
class Catalog:
    """Providers in display order, each with its events in display order."""

    providers: dict[str, Provider]

    def provider(self, provider_id: str) -> Provider | None:
        """Return the provider with this id, or None."""
        return self.providers.get(provider_id)

    def get(self, provider: str, event: str) -> Event | None:
        """Return the event ``event`` of ``provider``, or None when either is unknown."""
        found = self.providers.get(provider)
        return found.events.get(event) if found is not None else None

    def events(self) -> Iterator[Event]:
        """Yield every event of every provider, in catalog order."""
        for provider in self.providers.values():
            yield from provider.events.values()

    def with_user_schemas(self, items: Iterable[UserSchemaSpec]) -> Catalog:
        """Return a new catalog where user schemas add or replace events.

        A provider id the catalog does not know yet becomes a new user-defined provider with no
        signature scheme and no detection rules. Later items win over earlier ones.
        """
        providers = {pid: replace(p, events=dict(p.events)) for pid, p in self.providers.items()}
        for item in items:
            provider = providers.get(item.provider)
            if provider is None:
                provider = Provider(
                    id=item.provider,
                    name=item.provider,
                    seed="",
                    source="user",
                    signature={"scheme": "none", "headers": [], "status": "none", "note": ""},
                    notes=[],
                    events={},
                    user_defined=True,
                )
                providers[item.provider] = provider
            documented = item.schema.get("x-documented")
            provider.events[item.event] = Event(
                provider_id=item.provider,
                id=item.event,
                description=item.description or str(item.schema.get("description", "")),
                schema=item.schema,
                example=item.example,
                source=item.source,
                documented=documented if documented in DOCUMENTED_LEVELS else "full",
                user_defined=True,
            )
        return Catalog(providers=providers)


def check_user_schema(schema: Any) -> None:
    """Check that ``schema`` is a JSON object and a valid draft 2020-12 schema.

    :raise InvalidSchemaError: when it is not an object, declares another draft, fails the
        draft 2020-12 metaschema, or has a ``$ref`` that cannot be resolved inside the document.
    """
    if not isinstance(schema, dict):
        raise InvalidSchemaError("the schema must be a JSON object")
    declared = schema.get("$schema")
    if declared is not None and str(declared).rstrip("#") != DRAFT_2020_12:
        raise InvalidSchemaError(
            f"only JSON Schema draft 2020-12 is supported ($schema is {declared!r})"
        )
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.absolute_path)
        at = f" at '/{where}'" if where else ""
        raise InvalidSchemaError(
            f"not a valid JSON Schema (draft 2020-12){at}: {exc.message}"
        ) from None
    for ref in _iter_refs(schema):
        _check_ref(schema, ref)


def load_catalog(root: Path | None = None) -> Catalog:
    """Load the catalog under ``root`` (default: the shipped ``fixtures/catalog``, cached).

    :raise CatalogError: when a file is missing, is not JSON, or a schema is invalid.
    """
    if root is None:
        return _load_shipped_catalog()
    return _load(Path(root))


@functools.lru_cache(maxsize=1)
def _load_shipped_catalog() -> Catalog:
    return _load(resource_dir("catalog"))


def _load(root: Path) -> Catalog:
    if not root.is_dir():
        raise CatalogError(f"catalog directory not found: {root}")
    providers: dict[str, Provider] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        provider = _load_provider(folder)
        providers[provider.id] = provider
    return Catalog(providers=providers)


def _load_provider(folder: Path) -> Provider:
    meta = _read_json(folder / "provider.json")
    if meta.get("id") != folder.name:
        raise CatalogError(f"{folder / 'provider.json'}: id must be {folder.name!r}")
    events: dict[str, Event] = {}
    envelope = None
    for schema_path in sorted(folder.glob("*.schema.json")):
        name = schema_path.name.removesuffix(".schema.json")
        schema = _read_json(schema_path)
        try:
            check_user_schema(schema)
        except InvalidSchemaError as exc:
            raise CatalogError(f"{schema_path}: {exc.message}") from None
        if schema_path.name == ENVELOPE_FILE:
            envelope = schema
            continue
        if name.startswith("_"):
            continue
        events[name] = _make_event(folder.name, name, schema, folder / f"{name}.example.json")
    _check_detection(folder / "provider.json", meta.get("detection", {}))
    return Provider(
        id=meta["id"],
        name=meta["name"],
        seed=meta["seed"],
        source=meta["source"],
        signature=meta["signature"],
        notes=list(meta.get("documented_notes", [])),
        events=events,
        detection=meta.get("detection", {}),
        delivery=meta.get("delivery", {}),
        envelope=envelope,
    )


def _check_detection(path: Path, detection: dict[str, Any]) -> None:
    """Refuse detection rules whose pointers are not JSON Pointers."""
    for rule in detection.get("rules", ()):
        pointers = [*rule.get("present", ()), *rule.get("any_present", ()), *rule.get("equals", {})]
        if "event_from" in rule:
            pointers.append(rule["event_from"])
        if "events" not in rule and "event_from" not in rule:
            raise CatalogError(f"{path}: a detection rule needs 'events' or 'event_from'")
        for pointer in pointers:
            if parse_pointer(pointer) is None:
                raise CatalogError(f"{path}: {pointer!r} is not a JSON Pointer")


def _make_event(provider_id: str, event_id: str, schema: dict[str, Any], example: Path) -> Event:
    documented = schema.get("x-documented")
    if documented not in DOCUMENTED_LEVELS:
        raise CatalogError(
            f"{provider_id}/{event_id}: x-documented must be one of {DOCUMENTED_LEVELS}"
        )
    return Event(
        provider_id=provider_id,
        id=event_id,
        description=schema.get("description", ""),
        schema=schema,
        example=_read_json(example),
        source=_describe_source(schema.get("x-source", {})),
        documented=documented,
    )


def _describe_source(source: Any) -> str:
    if isinstance(source, str):
        return source
    text = f"{source.get('seed', '?')}: {source.get('section', '')}".rstrip(": ")
    if source.get("see_also"):
        text += f"; see also {source['see_also']}"
    return text


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"missing catalog file: {path}") from None
    except ValueError as exc:
        raise CatalogError(f"{path}: not valid JSON ({exc})") from None


# keywords whose values are data, not subschemas: a "$ref" key inside them is not a reference
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples", "example"})
# keywords whose values map names to subschemas: their keys are names, never keywords
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)


def _iter_refs(node: Any, in_map: bool = False) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if in_map:
                yield from _iter_refs(value)
            elif key == "$ref" and isinstance(value, str):
                yield value
            elif key not in _DATA_KEYWORDS:
                yield from _iter_refs(value, in_map=key in _SCHEMA_MAPS)
    elif isinstance(node, list):
        for value in node:
            yield from _iter_refs(value)


def _check_ref(schema: dict[str, Any], ref: str) -> None:
    own_id = str(schema.get("$id", ""))
    fragment = None
    if ref.startswith("#"):
        fragment = ref[1:]
    elif own_id and ref.startswith(own_id.split("#")[0] + "#"):
        fragment = ref.split("#", 1)[1]
    if fragment is None:
        raise InvalidSchemaError(
            f"$ref {ref!r} points outside the schema; only references within the document "
            "(such as '#/$defs/name') are supported"
        )
    if fragment and not fragment.startswith("/"):
        if not any(a == fragment for a in _iter_anchors(schema)):
            raise InvalidSchemaError(f"$ref {ref!r} names an anchor that is not defined")
        return
    if resolve_pointer(schema, fragment) is MISSING:
        raise InvalidSchemaError(f"$ref {ref!r} does not resolve inside the schema")


def _iter_anchors(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$anchor", "$dynamicAnchor") and isinstance(value, str):
                yield value
            else:
                yield from _iter_anchors(value)
    elif isinstance(node, list):
        for value in node:
            yield from _iter_anchors(value)
