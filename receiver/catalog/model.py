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
import re
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema_rs

from receiver.catalog.pointers import MISSING
from receiver.catalog.pointers import parse_pointer
from receiver.catalog.pointers import resolve_pointer
from receiver.resources import resource_dir

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
# the drafts a user schema may name in "$schema", as their authors publish them
DRAFTS = {
    "http://json-schema.org/draft-04/schema": "draft-04",
    "http://json-schema.org/draft-06/schema": "draft-06",
    "http://json-schema.org/draft-07/schema": "draft-07",
    "https://json-schema.org/draft/2019-09/schema": "2019-09",
    DRAFT_2020_12: "2020-12",
}
# where an event's schema and example come from
ORIGINS = ("shipped", "user", "override")
DEFAULT_BUDGET_MS = 250
DOCUMENTED_LEVELS = ("full", "envelope-only", "undocumented")
ENVELOPE_FILE = "_envelope.schema.json"


class CatalogError(Exception):
    """A shipped catalog file is missing or malformed."""


class InvalidSchemaError(ValueError):
    """A user-supplied schema is not a usable JSON Schema object (drafts 4 to 2020-12)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, eq=False)
class Event:
    """One event id of a provider, with its schema and example payload.

    ``origin`` says whose the schema is: ``shipped`` (read-only catalog data), ``user`` (an
    event people added) or ``override`` (a user schema beside a shipped one, which ``shipped``
    keeps). ``example_origin`` is ``user`` when people chose the example (e.g. a promoted
    capture), else the schema's origin.
    """

    provider_id: str
    id: str
    description: str
    schema: dict[str, Any]
    example: Any
    source: str
    documented: str
    user_defined: bool = False
    origin: str = "shipped"
    example_origin: str = "shipped"
    shipped: Event | None = None
    # the request headers the provider's description requires of a delivery, with its example
    # values (an OpenAPI import's required header parameters)
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, eq=False)
class Provider:
    """A webhook provider: where its docs come from, how it signs, how to recognise it."""

    id: str
    name: str
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
    """A user-supplied schema for one provider event (as stored in the database).

    ``schema`` None is an example-only row over a shipped event.
    """

    provider: str
    event: str
    schema: dict[str, Any] | None
    example: Any = None
    source: str = "user"
    description: str = ""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class UserProviderSpec:
    """A provider people added: its display name and detection rules (see detection.py)."""

    id: str
    name: str = ""
    detection: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Catalog:
    """Providers in display order, each with its events in display order."""

    providers: dict[str, Provider]
    # how long one validation may take before its verdict is timed_out
    validation_budget_ms: int = DEFAULT_BUDGET_MS

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

    def with_user_schemas(
        self, items: Iterable[UserSchemaSpec], providers: Iterable[UserProviderSpec] = ()
    ) -> Catalog:
        """Return a new catalog with user providers, user events and overrides merged in.

        A user schema for a shipped event is an override: the shipped event stays reachable
        through ``Event.shipped``. An example-only item (schema None) replaces the example of
        the event it names and is skipped when there is no such event. A provider id the
        catalog does not know becomes a user-defined provider with no signature scheme; its
        detection rules come from ``providers``. Later items win over earlier ones.
        """
        merged = {pid: replace(p, events=dict(p.events)) for pid, p in self.providers.items()}
        rules = {spec.id: spec for spec in providers}
        examples: list[UserSchemaSpec] = []
        for item in items:
            if item.schema is None:
                examples.append(item)
                continue
            provider = merged.get(item.provider)
            if provider is None:
                provider = merged[item.provider] = _user_provider(item.provider, rules)
            before = provider.events.get(item.event)
            shipped = before.shipped if before is not None and before.user_defined else before
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
                origin="user" if shipped is None else "override",
                example_origin="user",
                shipped=shipped,
                headers=item.headers,
            )
        for spec in rules.values():
            if spec.id not in merged:
                merged[spec.id] = _user_provider(spec.id, rules)
        for item in examples:
            provider = merged.get(item.provider)
            event = provider.events.get(item.event) if provider is not None else None
            if provider is not None and event is not None:
                provider.events[item.event] = replace(
                    event, example=item.example, example_origin="user"
                )
        return replace(self, providers=merged)


def _user_provider(provider_id: str, rules: dict[str, UserProviderSpec]) -> Provider:
    spec = rules.get(provider_id)
    return Provider(
        id=provider_id,
        name=(spec.name if spec is not None and spec.name else provider_id),
        source="user",
        signature={"scheme": "none", "headers": [], "status": "none", "note": ""},
        notes=[],
        events={},
        detection=user_detection(spec.detection) if spec is not None else {},
        user_defined=True,
    )


def user_detection(rules: dict[str, Any]) -> dict[str, Any]:
    """A user provider's rules in the shipped rules' shape (see detection.py).

    ``{"event_header": NAME}`` names the event by a header's value, ``{"headers": [NAME, …]}``
    recognises the provider by a header only it sends, ``{"event_pointer": "/type"}`` names the
    event by the payload's value there.
    """
    detection: dict[str, Any] = {}
    headers = [h for h in rules.get("headers", ()) if isinstance(h, str)]
    event_header = rules.get("event_header")
    if isinstance(event_header, str) and event_header:
        detection["event_header"] = event_header
        headers.append(event_header)
    if headers:
        detection["headers"] = headers
    pointer = rules.get("event_pointer")
    if isinstance(pointer, str) and parse_pointer(pointer) is not None and pointer:
        detection["rules"] = [{"present": [pointer], "event_from": pointer}]
    return detection


# a user provider's detection rules: header names, how many, and the event pointer's length
DETECTION_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
DETECTION_HEADERS_MAX = 16
EVENT_POINTER_MAX = 200


def check_detection_rules(rules: Any) -> dict[str, Any]:
    """Check a user provider's detection rules; return them normalised.

    :raise InvalidSchemaError: unknown keys, names that are not HTTP header names, or a pointer
        that is not a JSON Pointer.
    """
    if not isinstance(rules, dict):
        raise InvalidSchemaError("detection must be an object")
    unknown = set(rules) - {"event_header", "headers", "event_pointer"}
    if unknown:
        raise InvalidSchemaError(
            f"unknown detection keys: {', '.join(sorted(unknown))} "
            "(allowed: event_header, headers, event_pointer)"
        )
    checked: dict[str, Any] = {}
    event_header = rules.get("event_header")
    if event_header is not None:
        if not isinstance(event_header, str) or not DETECTION_HEADER.fullmatch(event_header):
            raise InvalidSchemaError("event_header must be an HTTP header name")
        checked["event_header"] = event_header
    headers = rules.get("headers")
    if headers is not None:
        if (
            not isinstance(headers, list)
            or len(headers) > DETECTION_HEADERS_MAX
            or not all(isinstance(h, str) and DETECTION_HEADER.fullmatch(h) for h in headers)
        ):
            raise InvalidSchemaError(
                f"headers must be a list of at most {DETECTION_HEADERS_MAX} HTTP header names"
            )
        checked["headers"] = list(headers)
    pointer = rules.get("event_pointer")
    if pointer is not None:
        if not isinstance(pointer, str) or not pointer or parse_pointer(pointer) is None:
            raise InvalidSchemaError("event_pointer must be a JSON Pointer such as '/type'")
        if len(pointer) > EVENT_POINTER_MAX:
            raise InvalidSchemaError(f"event_pointer is at most {EVENT_POINTER_MAX} characters")
        checked["event_pointer"] = pointer
    return checked


def check_user_schema(schema: Any) -> None:
    """Check that ``schema`` is a JSON object and a valid JSON Schema of a supported draft.

    Drafts 4, 6, 7, 2019-09 and 2020-12 are accepted as they are published (``$schema`` names
    the draft; none means 2020-12).

    :raise InvalidSchemaError: when it is not an object, names another meta-schema, fails its
        draft's meta-schema, has a pattern the regex engine refuses, or has a ``$ref`` that
        cannot be resolved inside the document.
    """
    if not isinstance(schema, dict):
        raise InvalidSchemaError("the schema must be a JSON object")
    declared = schema.get("$schema")
    if declared is not None and draft_of(declared) is None:
        raise InvalidSchemaError(
            f"$schema {str(declared)[:100]!r} is not a supported draft; use one of "
            + ", ".join(DRAFTS)
        )
    try:
        jsonschema_rs.meta.validate(schema)
    except jsonschema_rs.ValidationError as exc:
        where = "/".join(str(part) for part in exc.instance_path)
        at = f" at '/{where}'" if where else ""
        message = exc.message.splitlines()[0][:200]
        raise InvalidSchemaError(f"not a valid JSON Schema{at}: {message}") from None
    for ref in _iter_refs(schema):
        _check_ref(schema, ref)
    try:
        jsonschema_rs.validator_for(schema, validate_formats=True, retriever=_no_retrieval)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
        first = str(exc).splitlines()[0][:200]
        raise InvalidSchemaError(f"the schema cannot be compiled: {first}") from None


def draft_uris() -> list[str]:
    """Every ``$schema`` value :func:`draft_of` accepts."""
    uris = [*DRAFTS, *("https://" + u.removeprefix("http://") for u in DRAFTS if "draft-0" in u)]
    return [u + end for u in uris for end in ("", "#")]


def draft_of(declared: Any) -> str | None:
    """The draft a ``$schema`` value names ("draft-07", "2020-12", …), or None."""
    if not isinstance(declared, str):
        return None
    uri = declared.rstrip("#")
    found = DRAFTS.get(uri)
    if found is None and uri.startswith("https://json-schema.org/draft-0"):
        found = DRAFTS.get("http://" + uri.removeprefix("https://"))
    return found


def _no_retrieval(uri: str) -> Any:
    raise ValueError(f"{uri} is outside the schema")


def expanded_weight(schema: Any, limit: int) -> int:
    """How many schema nodes a validator may visit for one payload node, roughly: the node
    count with every local ``$ref`` counted as the size of its target (a reference cycle counts
    once). Stops counting above ``limit``; a few shared ``$ref``s can make it exponential."""
    sizes: dict[str, int] = {}

    def size(node: Any, active: frozenset[str], depth: int) -> int:
        if depth > 200:
            return limit + 1
        if isinstance(node, list):
            total = 1
            for item in node:
                total += size(item, active, depth + 1)
                if total > limit:
                    break
            return total
        if not isinstance(node, dict):
            return 1
        total = 1
        for key, value in node.items():
            if key in _DATA_KEYWORDS:
                total += 1
            elif key == "$ref" and isinstance(value, str):
                if value not in active:
                    known = sizes.get(value)
                    if known is None:
                        target = resolve_pointer(schema, value[1:]) if value[:1] == "#" else None
                        known = 1 if target is MISSING or target is None else 0
                        if not known:
                            known = size(target, active | {value}, depth + 1)
                        sizes[value] = known
                    total += known
            else:
                total += size(value, active, depth + 1)
            if total > limit:
                break
        return min(total, limit + 1)

    return size(schema, frozenset(), 0)


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
    source = schema.get("x-source", {})
    return Event(
        provider_id=provider_id,
        id=event_id,
        description=schema.get("description", ""),
        schema=_without_provenance(schema),
        example=_read_json(example),
        source=source.get("section", "") if isinstance(source, dict) else str(source),
        documented=documented,
    )


def _without_provenance(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as the product serves it: ``x-source`` keeps only the section of the
    provider's documentation; which copy of it the catalog was written from, and our research
    notes (``seed``, ``see_also``), stay in the repository's files."""
    source = schema.get("x-source")
    if not isinstance(source, dict):
        return schema
    return {**schema, "x-source": {"section": source.get("section", "")}}


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
    own_id = str(schema.get("$id", schema.get("id", "")))
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
    if resolve_pointer(schema, unquote(fragment)) is MISSING:
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
