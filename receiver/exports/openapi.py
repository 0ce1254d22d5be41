"""The OpenAPI 3.1 description of the JSON API, with one ``webhooks`` entry per catalog event.

:func:`build_openapi` is pure: it reads a :class:`~receiver.catalog.Catalog` and returns a new
JSON-ready dict. Catalog schemas are JSON Schema 2020-12 resources with ``$id``, ``$schema`` and
local ``#/$defs/...`` references; inside an OpenAPI document such a reference would resolve
against the schema's ``$id``, which many tools do not support. So each event schema is copied
(never changed in place) into ``components.schemas`` without ``$id``/``$schema``/``$anchor``, every
``$defs`` (and ``definitions``) entry, however deeply nested, becomes a component of its own named
``<component>__<def>``, and every local reference is rewritten to ``#/components/schemas/...``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote
from urllib.parse import unquote

from receiver.catalog.model import DRAFT_2020_12
from receiver.catalog.model import Catalog
from receiver.catalog.model import Event
from receiver.catalog.pointers import MISSING
from receiver.catalog.pointers import parse_pointer
from receiver.catalog.pointers import resolve_parts
from receiver.catalog.validation import VERDICTS
from receiver.signatures.common import STATUSES as SIGNATURE_STATUSES
from receiver.signatures.registry import SCHEME_NAMES

OPENAPI_VERSION = "3.1.0"
LICENSE = {"name": "MIT", "identifier": "MIT"}
COMPONENTS_PREFIX = "#/components/schemas/"
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
DOCUMENTED_TEXT = {
    "full": "The payload schema is fully documented by the provider.",
    "envelope-only": (
        "Only the envelope is documented by the provider; the event-specific part of the "
        "schema is left open."
    ),
    "undocumented": "The provider does not document this payload; the schema is a best guess.",
}

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
# keywords whose values are data, not subschemas: nothing inside them is rewritten
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples", "example"})
# keywords whose values map names to subschemas: their keys are names, never keywords
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})
_DEFS_KEYWORDS = ("$defs", "definitions")
_DROPPED_KEYWORDS = frozenset({"$id", "$schema", "$anchor", *_DEFS_KEYWORDS})
# characters kept as they are in a "#/..." fragment (RFC 3986 pchar minus "%", plus "/")
_FRAGMENT_SAFE = "/!$&'()*+,;=:@-._~"

Pointer = tuple[str, ...]


def build_openapi(
    catalog: Catalog, *, server_url: str | None = None, version: str = "0.1.0"
) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document for the API and every event of ``catalog``."""
    schemas = _api_schemas()
    webhooks: dict[str, Any] = {}
    used = set(schemas)
    for event in catalog.events():
        name = _unique(f"{_safe(event.provider_id)}__{_safe(event.id)}", used)
        schemas.update(hoist_schema(event.schema, name, used))
        key = _unique(f"{event.provider_id}.{event.id}", webhooks)
        webhooks[key] = {"post": _webhook_operation(event, name)}
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": DRAFT_2020_12,
        "info": {
            "title": "receiver",
            "version": version,
            "summary": "Self-hosted webhook receiver and test inspector",
            "description": _INFO_DESCRIPTION,
            "license": dict(LICENSE),
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url.rstrip("/") or "/"}]
    document["tags"] = copy.deepcopy(_TAGS)
    document["paths"] = _paths()
    document["webhooks"] = webhooks
    document["components"] = {
        "schemas": schemas,
        "parameters": _parameters(),
        "responses": _error_responses(),
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": (
                    "The private bin's token, returned once by POST /api/bins. Without it a "
                    "private bin answers 404, as a bin that does not exist."
                ),
            }
        },
    }
    return document


def hoist_schema(schema: dict[str, Any], name: str, used: set[str]) -> dict[str, dict[str, Any]]:
    """Return ``schema`` and its ``$defs`` as components ``name``, ``name__<def>``, ...

    ``used`` holds the component names already taken; the new ones are added to it. The input is
    never changed: every component is a fresh copy.
    """
    used.add(name)
    locations: dict[Pointer, str] = {(): name}
    anchors: dict[str, Pointer] = {}
    for path, parent in _walk_defs(schema, (), anchors):
        for def_name in parent:
            target = (*path, def_name)
            owner = _owner(locations, path)
            locations[target] = _unique(f"{owner}__{_safe(def_name)}", used)
    own_id = schema.get("$id") if isinstance(schema.get("$id"), str) else None
    context = _RefContext(schema, locations, anchors, own_id)
    components: dict[str, dict[str, Any]] = {}
    for pointer, component in locations.items():
        node = resolve_parts(schema, pointer)
        if isinstance(node, bool):
            node = {} if node else {"not": {}}
        components[component] = context.copy_schema(node if isinstance(node, dict) else {})
    return components


class _RefContext:
    """Rewrites references of one catalog schema into ``#/components/schemas/...``."""

    def __init__(
        self,
        root: dict[str, Any],
        locations: dict[Pointer, str],
        anchors: dict[str, Pointer],
        own_id: str | None,
    ) -> None:
        self.root = root
        self.locations = locations
        self.anchors = anchors
        self.base = own_id.split("#", 1)[0] if own_id else None

    def copy_schema(self, node: Any) -> Any:
        """Return a copy of a subschema with dropped keywords removed and references rewritten."""
        if isinstance(node, list):
            return [self.copy_schema(item) for item in node]
        if not isinstance(node, dict):
            return copy.deepcopy(node)
        result: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED_KEYWORDS:
                continue
            if key == "$ref" and isinstance(value, str):
                result[key] = self.rewrite(value)
            elif key in _DATA_KEYWORDS or key.startswith("x-"):
                result[key] = copy.deepcopy(value)
            elif key in _SCHEMA_MAPS and isinstance(value, dict):
                result[key] = {name: self.copy_schema(sub) for name, sub in value.items()}
            else:
                result[key] = self.copy_schema(value)
        return result

    def rewrite(self, ref: str) -> str:
        """Return the component reference for a local ``ref``; other references unchanged."""
        fragment = self._local_fragment(ref)
        if fragment is None:
            return ref
        pointer = self._pointer(fragment)
        if pointer is None:
            return ref
        for length in range(len(pointer), -1, -1):
            component = self.locations.get(pointer[:length])
            if component is not None:
                rest = "".join("/" + _escape(token) for token in pointer[length:])
                return COMPONENTS_PREFIX + component + quote(rest, safe=_FRAGMENT_SAFE)
        return ref  # unreachable: the root is always a location

    def _local_fragment(self, ref: str) -> str | None:
        if ref.startswith("#"):
            return ref[1:]
        if self.base and (ref == self.base or ref.startswith(self.base + "#")):
            return ref[len(self.base) + 1 :]
        return None

    def _pointer(self, fragment: str) -> Pointer | None:
        if fragment and not fragment.startswith("/"):
            return self.anchors.get(fragment) or self.anchors.get(unquote(fragment))
        for candidate in (fragment, unquote(fragment)):
            parts = parse_pointer(candidate)
            if parts is not None and resolve_parts(self.root, parts) is not MISSING:
                return parts
        return parse_pointer(fragment)


def _walk_defs(
    node: Any, path: Pointer, anchors: dict[str, Pointer]
) -> Iterator[tuple[Pointer, dict[str, Any]]]:
    """Yield ``(path, defs)`` for every ``$defs``/``definitions`` map, outermost first.

    Also records every ``$anchor`` in ``anchors``. Definitions are yielded before the schemas
    inside them are walked, so a nested definition's owner is already named.
    """
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk_defs(item, (*path, str(index)), anchors)
        return
    if not isinstance(node, dict):
        return
    anchor = node.get("$anchor")
    if isinstance(anchor, str):
        anchors.setdefault(anchor, path)
    for key in _DEFS_KEYWORDS:
        if isinstance(node.get(key), dict):
            yield (*path, key), node[key]
    for key, value in node.items():
        if key in _DATA_KEYWORDS or key.startswith("x-"):
            continue
        if (key in _SCHEMA_MAPS or key in _DEFS_KEYWORDS) and isinstance(value, dict):
            for name, sub in value.items():
                yield from _walk_defs(sub, (*path, key, name), anchors)
        elif isinstance(value, dict | list):
            yield from _walk_defs(value, (*path, key), anchors)


def _owner(locations: dict[Pointer, str], path: Pointer) -> str:
    """The name of the nearest hoisted schema that contains ``path``."""
    for length in range(len(path), -1, -1):
        found = locations.get(path[:length])
        if found is not None:
            return found
    return locations[()]


def _safe(text: str) -> str:
    """A component-name-safe version of ``text`` (``^[a-zA-Z0-9._-]+$``)."""
    return _UNSAFE_NAME.sub("_", text) or "_"


def _unique(name: str, used: set[str] | dict[str, Any]) -> str:
    """``name``, or ``name_2``, ``name_3``, ... when taken; a set is updated."""
    candidate, number = name, 1
    while candidate in used:
        number += 1
        candidate = f"{name}_{number}"
    if isinstance(used, set):
        used.add(candidate)
    return candidate


def _escape(token: str) -> str:
    """Escape one JSON Pointer token."""
    return token.replace("~", "~0").replace("/", "~1")


def _webhook_operation(event: Event, component: str) -> dict[str, Any]:
    """The ``post`` operation of one catalog event in ``webhooks``."""
    documented = DOCUMENTED_TEXT.get(event.documented, f"Documented: {event.documented}.")
    parts = [event.description.strip(), documented, f"Source: {event.source or 'unknown'}."]
    if event.user_defined:
        parts.append("This schema was added by a user of this receiver.")
    media: dict[str, Any] = {"schema": {"$ref": COMPONENTS_PREFIX + component}}
    if event.example is not None:
        kind = event.schema.get("x-example")
        summary = f"{kind.capitalize()} example" if isinstance(kind, str) else "Catalog example"
        media["examples"] = {"catalog": {"summary": summary, "value": copy.deepcopy(event.example)}}
    return {
        "operationId": f"webhook__{component}",
        "summary": _summary(event),
        "description": "\n\n".join(part for part in parts if part),
        "tags": [event.provider_id],
        "x-provider": event.provider_id,
        "x-event": event.id,
        "x-documented": event.documented,
        "requestBody": {"required": True, "content": {"application/json": media}},
        "responses": {
            "2XX": {"description": "Any 2xx answer acknowledges the delivery."},
        },
    }


def _summary(event: Event) -> str:
    """The first sentence of the event's description (its title, or its id, when empty)."""
    text = " ".join(event.description.split())
    if not text:
        title = event.schema.get("title")
        return str(title) if title else f"{event.provider_id} {event.id}"
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return first if len(first) <= 120 else first[:119].rstrip() + "…"


# --------------------------------------------------------------------------- the API itself

_INFO_DESCRIPTION = (
    "A self-hosted webhook receiver and test inspector. Create a bin, point a provider's webhook "
    "at its ingest URL (`/b/{bin_id}`, any method, not described here), and read what arrived "
    "through this JSON API. Every captured request is matched to a catalog event and validated "
    "against its JSON Schema.\n\n"
    'Errors are always JSON: `{"error": {"code": "...", "message": "..."}}`. Private '
    "bins need their token (`Authorization: Bearer`); without it they answer 404.\n\n"
    "The `webhooks` section lists every catalog event with its payload schema and example."
)

_TAGS = [
    {"name": "bins", "description": "Create, read, change and delete bins."},
    {"name": "requests", "description": "Captured requests of a bin."},
    {"name": "replays", "description": "Re-send a captured request to a URL."},
    {"name": "catalog", "description": "Providers, events, their schemas and examples."},
    {"name": "validation", "description": "Check a payload against the catalog."},
    {"name": "meta", "description": "This document."},
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": COMPONENTS_PREFIX + name}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or null."""
    return {"anyOf": [schema, {"type": "null"}]}


def _str(**extra: Any) -> dict[str, Any]:
    return {"type": "string", **extra}


def _int(**extra: Any) -> dict[str, Any]:
    return {"type": "integer", **extra}


def _timestamp(description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "format": "date-time",
        "description": f"{description} (UTC, microseconds, e.g. 2024-01-31T12:00:00.000000Z)",
    }


def _object(
    properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    shape: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        shape["required"] = list(required)
    shape.update(extra)
    return shape


def _api_schemas() -> dict[str, Any]:
    """The component schemas of the API's own shapes."""
    header_pair = {
        "type": "array",
        "prefixItems": [_str(description="name"), _str(description="value")],
        "minItems": 2,
        "maxItems": 2,
        "items": False,
    }
    scheme = {"type": "string", "enum": list(SCHEME_NAMES)}
    documented = {"type": "string", "enum": list(DOCUMENTED_TEXT)}
    issue = _object(
        {
            "path": _str(description="JSON Pointer into the payload ('' is the whole payload)"),
            "message": _str(),
            "keyword": _str(description="the schema keyword that was broken"),
        },
        ("path", "message", "keyword"),
    )
    return {
        "Error": _object(
            {
                "error": _object(
                    {
                        "code": _str(description="machine-readable, e.g. not_found"),
                        "message": _str(description="what went wrong, in words"),
                    },
                    ("code", "message"),
                )
            },
            ("error",),
        ),
        "HeaderPair": header_pair,
        "HeaderList": {
            "type": "array",
            "items": _ref("HeaderPair"),
            "description": "Header [name, value] pairs in order, duplicates kept.",
        },
        "BinCreate": _object(
            {
                "id": _str(
                    pattern="^[a-z0-9-]{3,64}$",
                    description="a readable id of your choice; random (128+ bits) when absent",
                ),
                "label": _str(maxLength=200),
                "private": {"type": "boolean", "default": False},
                "provider": _nullable(_str(description="expected catalog provider id")),
                "event": _nullable(_str(description="expected catalog event id")),
            },
            additionalProperties=False,
        ),
        "BinResponse": _object(
            {
                "status": _int(minimum=200, maximum=599),
                "headers": _ref("HeaderList"),
                "body": _nullable(_str(maxLength=65536)),
                "delay_ms": _int(minimum=0),
            },
            description="The custom answer the ingest URL gives.",
        ),
        "BinSettings": _object(
            {
                "label": _nullable(_str(maxLength=200)),
                "private": {"type": "boolean"},
                "provider": _nullable(_str(maxLength=128)),
                "event": _nullable(_str(maxLength=128)),
                "strict_validation": {"type": "boolean"},
                "response": _object(
                    {
                        "status": _int(minimum=200, maximum=599),
                        "headers": {
                            "anyOf": [
                                _ref("HeaderList"),
                                {"type": "object", "additionalProperties": _str()},
                            ]
                        },
                        "body": _nullable(_str(maxLength=65536)),
                        "delay_ms": _int(minimum=0),
                    },
                    additionalProperties=False,
                ),
                "signature": _nullable(
                    _object(
                        {
                            "scheme": _nullable(scheme),
                            "secret": _nullable(_str(minLength=1, maxLength=512)),
                            "header": _nullable(
                                _str(description="header name, for hmac-sha256 only")
                            ),
                        },
                        additionalProperties=False,
                    )
                ),
                "forward_url": _nullable(_str(format="uri", pattern="^https?://", maxLength=2000)),
            },
            description="A PATCH body: any subset of the settings.",
            additionalProperties=False,
        ),
        "Bin": _object(
            {
                "id": _str(),
                "label": _str(),
                "private": {"type": "boolean"},
                "created_at": _timestamp("when the bin was created"),
                "expires_at": _timestamp("when the bin expires unless it receives a request"),
                "last_request_at": _nullable(_timestamp("when the last request arrived")),
                "request_count": _int(minimum=0),
                "ingest_url": _str(format="uri"),
                "inspect_url": _str(format="uri"),
                "provider": _nullable(_str()),
                "event": _nullable(_str()),
                "strict_validation": {"type": "boolean"},
                "response": _ref("BinResponse"),
                "signature": _object(
                    {
                        "scheme": _nullable(scheme),
                        "secret": _nullable(_str()),
                        "header": _nullable(_str()),
                        "secret_set": {"type": "boolean"},
                    },
                    ("scheme",),
                ),
                "forward_url": _nullable(_str()),
                "token": _str(
                    description="only in the answer to POST /api/bins, for a private bin"
                ),
            },
            (
                "id",
                "label",
                "private",
                "created_at",
                "expires_at",
                "request_count",
                "ingest_url",
                "inspect_url",
                "provider",
                "event",
                "response",
                "signature",
                "forward_url",
            ),
        ),
        "ValidationIssue": issue,
        "ValidationResult": _object(
            {
                "status": {"type": "string", "enum": list(VERDICTS)},
                "provider": _nullable(_str()),
                "event": _nullable(_str()),
                "candidates": {"type": "array", "items": _str()},
                "errors": {"type": "array", "items": _ref("ValidationIssue")},
                "warnings": {"type": "array", "items": _ref("ValidationIssue")},
            },
            ("status", "provider", "event", "candidates", "errors", "warnings"),
        ),
        "SignatureResult": _object(
            {
                "status": {"type": "string", "enum": list(SIGNATURE_STATUSES)},
                "scheme": _nullable(_str()),
                "reason": _nullable(_str()),
            },
            ("status", "scheme", "reason"),
        ),
        "DetectedEvent": _object(
            {
                "provider": _nullable(_str()),
                "event": _nullable(_str()),
                "candidates": {"type": "array", "items": _str()},
            },
            ("provider", "event", "candidates"),
        ),
        "CapturedRequestSummary": _object(
            {
                "id": _int(),
                "bin_id": _str(),
                "received_at": _timestamp("when the request arrived"),
                "method": _str(),
                "path": _str(description="the sub-path below the bin, '/' when none"),
                "query_string": _str(description="the raw query without '?'"),
                "headers": _ref("HeaderList"),
                "content_type": _nullable(_str()),
                "size": _int(minimum=0),
                "remote_addr": _nullable(_str()),
                "event": _ref("DetectedEvent"),
                "validation": _ref("ValidationResult"),
                "signature": _ref("SignatureResult"),
            },
            (
                "id",
                "bin_id",
                "received_at",
                "method",
                "path",
                "query_string",
                "headers",
                "content_type",
                "size",
                "remote_addr",
                "event",
                "validation",
                "signature",
            ),
        ),
        "CapturedRequest": {
            "allOf": [
                _ref("CapturedRequestSummary"),
                _object(
                    {
                        "body_text": _nullable(_str(description="null when not UTF-8")),
                        "body_base64": _str(contentEncoding="base64"),
                    },
                    ("body_text", "body_base64"),
                ),
            ]
        },
        "RequestPage": _object(
            {
                "requests": {"type": "array", "items": _ref("CapturedRequestSummary")},
                "next": _nullable(_int(description="pass back as 'before'; null on the last page")),
            },
            ("requests", "next"),
        ),
        "ReplayCreate": _object(
            {
                "url": _str(format="uri", description="where to send the request"),
                "method": _str(description="default: the captured method"),
                "headers": {
                    "anyOf": [
                        _ref("HeaderList"),
                        {"type": "object", "additionalProperties": _str()},
                    ],
                    "description": "default: the captured headers",
                },
                "body": _str(description="a text body instead of the captured one"),
                "body_base64": _str(
                    contentEncoding="base64",
                    description="a binary body instead of the captured one",
                ),
                "append_path": {
                    "type": "boolean",
                    "default": True,
                    "description": "append the captured sub-path and query to url",
                },
                "resign": {
                    "anyOf": [
                        {"type": "boolean"},
                        _object(
                            {
                                "scheme": {"type": "string", "enum": list(SCHEME_NAMES)},
                                "secret": _str(),
                                "header": _nullable(_str()),
                            }
                        ),
                    ],
                    "description": (
                        "sign again for the final body and URL (the bin's scheme and secret, "
                        "or the ones given); the old signature headers are dropped"
                    ),
                },
            },
            ("url",),
        ),
        "Replay": _object(
            {
                "id": _int(),
                "url": _str(),
                "method": _str(),
                "status_code": _nullable(_int()),
                "response_headers": _ref("HeaderList"),
                "response_body": _nullable(_str(description="the response body (an excerpt)")),
                "elapsed_ms": _nullable({"type": "number", "minimum": 0}),
                "error": _nullable(_str(description="null on success, else what went wrong")),
                "created_at": _timestamp("when the replay was sent"),
            },
            (
                "id",
                "url",
                "method",
                "status_code",
                "response_headers",
                "response_body",
                "elapsed_ms",
                "error",
                "created_at",
            ),
        ),
        "ReplayList": _object(
            {"replays": {"type": "array", "items": _ref("Replay")}}, ("replays",)
        ),
        "SendEvent": _object({"provider": _str(), "event": _str()}, ("provider", "event")),
        "Catalog": _object(
            {
                "providers": {
                    "type": "array",
                    "items": _object(
                        {
                            "id": _str(),
                            "name": _str(),
                            "user_defined": {"type": "boolean"},
                            "signature": {
                                "type": "object",
                                "description": "how the provider signs (scheme, headers, notes)",
                            },
                            "events": {
                                "type": "array",
                                "items": _object(
                                    {
                                        "id": _str(),
                                        "description": _str(),
                                        "documented": documented,
                                        "user_defined": {"type": "boolean"},
                                    },
                                    ("id", "description", "documented"),
                                ),
                            },
                        },
                        ("id", "name", "events"),
                    ),
                }
            },
            ("providers",),
        ),
        "CatalogEvent": _object(
            {
                "provider": _str(),
                "event": _str(),
                "description": _str(),
                "documented": documented,
                "user_defined": {"type": "boolean"},
                "schema": {"type": "object", "description": "JSON Schema draft 2020-12"},
                "example": {"description": "the documented example payload (any JSON)"},
                "source": _str(description="where the schema comes from"),
            },
            ("schema", "example", "source"),
        ),
        "CatalogEventPut": {
            "anyOf": [
                _object(
                    {
                        "schema": {"type": "object", "description": "JSON Schema draft 2020-12"},
                        "example": {"description": "an example payload (any JSON)"},
                        "description": _str(),
                    },
                    ("schema",),
                ),
                {"type": "object", "description": "a bare JSON Schema (draft 2020-12)"},
            ]
        },
    }


def _parameters() -> dict[str, Any]:
    """Reusable path and query parameters."""

    def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema, **_d(description)}

    def path(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": schema, **_d(description)}

    return {
        "bin_id": path("bin_id", _str(), "the bin's id"),
        "request_id": path("request_id", _int(minimum=0), "the captured request's id"),
        "provider": path("provider", _str(), "a catalog provider id, e.g. appery"),
        "event": path("event", _str(), "an event id of the provider, e.g. PROJECT_BUILD_IOS_FAIL"),
        "limit": query(
            "limit", _int(minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT), "page size"
        ),
        "before": query("before", _int(minimum=0), "requests older than this id (use 'next')"),
        "after": query("after", _int(minimum=0), "requests newer than this id"),
        "method": query("method", _str(), "HTTP method, e.g. POST"),
        "event_filter": query("event", _str(maxLength=128), "detected event id"),
        "validation": query("validation", _str(enum=list(VERDICTS)), "validation status"),
        "q": query("q", _str(maxLength=200), "text in path, query, headers or body"),
        "validate_provider": query("provider", _str(), "validate as this provider"),
        "validate_event": query("event", _str(), "validate as this event"),
    }


def _d(description: str) -> dict[str, str]:
    return {"description": description}


_ERRORS = {
    "400": ("BadRequest", "The request is malformed (bad JSON, unknown field, bad value)."),
    "404": (
        "NotFound",
        "No such bin, request, provider or event (or a private bin without its token).",
    ),
    "409": ("Conflict", "The chosen bin id is taken."),
    "413": ("PayloadTooLarge", "The body is over the limit."),
    "415": ("UnsupportedMediaType", "The body must be sent as application/json."),
    "422": ("Unprocessable", "Well-formed, but the request cannot be carried out."),
}


def _error_responses() -> dict[str, Any]:
    """The standard error responses, each with the Error shape."""
    return {
        name: {
            "description": description,
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        for name, description in _ERRORS.values()
    }


def _json(schema_name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema_name)}},
    }


def _operation(
    operation_id: str,
    summary: str,
    tag: str,
    responses: dict[str, Any],
    *,
    errors: tuple[int, ...] = (),
    params: tuple[str, ...] = (),
    body: dict[str, Any] | None = None,
    private: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    """One operation with its standard error responses and parameter references."""
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if description:
        operation["description"] = description
    if params:
        operation["parameters"] = [{"$ref": f"#/components/parameters/{p}"} for p in params]
    if body is not None:
        operation["requestBody"] = body
    all_responses = dict(responses)
    for status in errors:
        all_responses[str(status)] = {"$ref": f"#/components/responses/{_ERRORS[str(status)][0]}"}
    operation["responses"] = all_responses
    if private:
        operation["security"] = [{}, {"bearer": []}]
    return operation


def _json_body(schema_name: str, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _ref(schema_name)}}}


_NO_CONTENT = {"204": {"description": "Deleted."}}


def _paths() -> dict[str, Any]:
    """The ``paths`` object of the JSON API."""
    bin_params = ("bin_id",)
    req_params = ("bin_id", "request_id")
    return {
        "/api/bins": {
            "post": _operation(
                "bin_create",
                "Create a bin",
                "bins",
                {
                    "201": {
                        **_json("Bin", "The new bin; a private bin's token is in 'token'."),
                        "headers": {"Location": {"schema": _str(), **_d("the bin's API URL")}},
                    }
                },
                errors=(400, 409, 415),
                body=_json_body("BinCreate", required=False),
            )
        },
        "/api/bins/{bin_id}": {
            "parameters": [{"$ref": "#/components/parameters/bin_id"}],
            "get": _operation(
                "bin_get",
                "Read a bin",
                "bins",
                {"200": _json("Bin", "The bin.")},
                errors=(404,),
                private=True,
            ),
            "patch": _operation(
                "bin_update",
                "Change a bin's settings",
                "bins",
                {"200": _json("Bin", "The bin, changed.")},
                errors=(400, 404, 415),
                body=_json_body("BinSettings"),
                private=True,
            ),
            "delete": _operation(
                "bin_delete",
                "Delete a bin and all its requests",
                "bins",
                _NO_CONTENT,
                errors=(404,),
                private=True,
            ),
        },
        "/api/bins/{bin_id}/requests": {
            "parameters": [{"$ref": "#/components/parameters/bin_id"}],
            "get": _operation(
                "request_list",
                "List captured requests, newest first",
                "requests",
                {"200": _json("RequestPage", "One page; pass 'next' back as 'before'.")},
                errors=(400, 404),
                params=("limit", "before", "after", "method", "event_filter", "validation", "q"),
                private=True,
            ),
            "delete": _operation(
                "request_clear",
                "Delete every captured request of a bin",
                "requests",
                {
                    "200": {
                        "description": "How many requests were deleted.",
                        "content": {
                            "application/json": {
                                "schema": _object({"deleted": _int(minimum=0)}, ("deleted",))
                            }
                        },
                    }
                },
                errors=(404,),
                private=True,
            ),
        },
        "/api/bins/{bin_id}/requests/{request_id}": {
            "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in req_params],
            "get": _operation(
                "request_get",
                "Read a captured request with its body",
                "requests",
                {"200": _json("CapturedRequest", "The request.")},
                errors=(404,),
                private=True,
            ),
            "delete": _operation(
                "request_delete",
                "Delete a captured request",
                "requests",
                _NO_CONTENT,
                errors=(404,),
                private=True,
            ),
        },
        "/api/bins/{bin_id}/requests/{request_id}/raw": {
            "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in req_params],
            "get": _operation(
                "request_raw",
                "Download the exact body bytes",
                "requests",
                {
                    "200": {
                        "description": "The body as received, with its original content type.",
                        "content": {"*/*": {"schema": _str(format="binary")}},
                    }
                },
                errors=(404,),
                private=True,
            ),
        },
        "/api/bins/{bin_id}/requests/{request_id}/replay": {
            "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in req_params],
            "post": _operation(
                "replay_create",
                "Replay a captured request to a URL",
                "replays",
                {"201": _json("Replay", "The replay record (also when the target failed).")},
                errors=(400, 404, 413, 415),
                body=_json_body("ReplayCreate"),
                private=True,
                description=(
                    "A refused or timed-out target is still a 201 record; 'error' says what "
                    "went wrong."
                ),
            ),
        },
        "/api/bins/{bin_id}/requests/{request_id}/replays": {
            "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in req_params],
            "get": _operation(
                "replay_list",
                "List the replays of a captured request",
                "replays",
                {"200": _json("ReplayList", "The replays, newest first.")},
                errors=(404,),
                private=True,
            ),
        },
        "/api/bins/{bin_id}/export.har": {
            "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in bin_params],
            "get": _operation(
                "bin_export_har",
                "Export the bin's requests as HAR 1.2",
                "requests",
                {
                    "200": {
                        "description": "A HAR 1.2 archive; each entry also has a curl command.",
                        "content": {
                            "application/json": {
                                "schema": _object({"log": {"type": "object"}}, ("log",))
                            }
                        },
                    }
                },
                errors=(404,),
                private=True,
            ),
        },
        "/api/bins/{bin_id}/send": {
            "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in bin_params],
            "post": _operation(
                "bin_send",
                "Deliver a catalog example into the bin",
                "bins",
                {"201": _json("CapturedRequest", "The request as captured.")},
                errors=(400, 404, 415),
                body=_json_body("SendEvent"),
                private=True,
            ),
        },
        "/api/catalog": {
            "get": _operation(
                "catalog_list",
                "List providers and their events",
                "catalog",
                {"200": _json("Catalog", "The catalog.")},
            )
        },
        "/api/catalog/{provider}/{event}": {
            "parameters": [
                {"$ref": "#/components/parameters/provider"},
                {"$ref": "#/components/parameters/event"},
            ],
            "get": _operation(
                "catalog_event_get",
                "Read an event's schema and example",
                "catalog",
                {"200": _json("CatalogEvent", "The event.")},
                errors=(404,),
            ),
            "put": _operation(
                "catalog_event_put",
                "Add or replace a user schema",
                "catalog",
                {
                    "200": _json("CatalogEvent", "An event that existed was replaced."),
                    "201": _json("CatalogEvent", "The user schema was added."),
                },
                errors=(400,),
                body=_json_body("CatalogEventPut"),
            ),
        },
        "/api/validate": {
            "post": _operation(
                "payload_validate",
                "Validate a payload against the catalog",
                "validation",
                {"200": _json("ValidationResult", "The verdict, whatever it is.")},
                errors=(400, 404, 413),
                params=("validate_provider", "validate_event"),
                body={
                    "required": False,
                    "description": "The payload (any content type); nothing is stored.",
                    "content": {"*/*": {"schema": {}}},
                },
            )
        },
        "/api/openapi.json": {
            "get": _operation(
                "openapi_get",
                "This OpenAPI document",
                "meta",
                {
                    "200": {
                        "description": "OpenAPI 3.1 with a webhooks entry per catalog event.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            )
        },
    }
