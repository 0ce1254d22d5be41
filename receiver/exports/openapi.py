"""The OpenAPI 3.1 description of the JSON API, with one ``webhooks`` entry per catalog event.

The API part is data: ``openapi/api.json`` beside this module (shipped in the wheel as package
data). :func:`build_openapi` parses it once, copies it, and fills each ``{"$fill": "<name>"}``
placeholder with the value the code enforces (:func:`code_values`), so that every list (schemes,
statuses, verdicts) and every limit has one source, and a setting such as the response delay cap
is the running app's. The ``webhooks`` section is built here, from the catalog.

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
import functools
import json
import re
from collections.abc import Iterator
from collections.abc import Mapping
from importlib import resources
from typing import Any
from typing import get_args
from urllib.parse import quote
from urllib.parse import unquote

from receiver.bins import lifecycle
from receiver.bins.responses import FORBIDDEN_RESPONSE_HEADERS
from receiver.bins.tokens import ROLES
from receiver.capture import listeners
from receiver.capture import listing
from receiver.capture.compare import BodyKind
from receiver.capture.compare import ChangeKind
from receiver.capture.request import MAX_METHOD_LENGTH
from receiver.catalog import importing
from receiver.catalog import user_schemas
from receiver.catalog.model import DETECTION_HEADER
from receiver.catalog.model import DETECTION_HEADERS_MAX
from receiver.catalog.model import DOCUMENTED_LEVELS
from receiver.catalog.model import EVENT_POINTER_MAX
from receiver.catalog.model import ORIGINS
from receiver.catalog.model import Catalog
from receiver.catalog.model import Event
from receiver.catalog.model import draft_uris
from receiver.catalog.pointers import MISSING
from receiver.catalog.pointers import parse_pointer
from receiver.catalog.pointers import resolve_parts
from receiver.catalog.validation import VERDICTS
from receiver.delivery import recordings
from receiver.delivery import scenarios
from receiver.httpspec import TOKEN
from receiver.signatures.common import STATUSES as SIGNATURE_STATUSES
from receiver.signatures.registry import SCHEME_NAMES
from receiver.version import package_version

COMPONENTS_PREFIX = "#/components/schemas/"
# the API part of the document, relative to this package
API_DOCUMENT = ("openapi", "api.json")
# a placeholder in api.json: {"$fill": "<name of a code value>"}
FILL = "$fill"
# what ``httpspec.url_problem`` accepts as a request's target, in printable ASCII: http or https
# in any case; a host name (letters, digits, '-', '_'; the last label starts with a letter), an
# IPv4 address in dotted decimal, or an IPv6 address in brackets (RFC 3986's IPv6address); a
# port from 1 to 65535; no credentials
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"(?:{_OCTET}\.){{3}}{_OCTET}"
_H16 = "[0-9A-Fa-f]{1,4}"
_LS32 = rf"(?:{_H16}:{_H16}|{_IPV4})"
_IPV6 = "|".join(
    (
        rf"(?:{_H16}:){{6}}{_LS32}",
        rf"::(?:{_H16}:){{5}}{_LS32}",
        rf"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
        rf"(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}",
        rf"(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}",
        rf"(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
        rf"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
        rf"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}",
        rf"(?:(?:{_H16}:){{0,6}}{_H16})?::",
    )
)
_HOST_NAME = r"(?:[A-Za-z0-9_-]+\.)*[A-Za-z][A-Za-z0-9_-]*"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
HTTP_URL_PATTERN = (
    rf"^[Hh][Tt][Tt][Pp][Ss]?://(?:{_HOST_NAME}|{_IPV4}|\[(?:{_IPV6})\])"
    rf"(?::{_PORT})?(?:[/?#][!-~]*)?$"
)
# what Python's str.strip() removes, as the inside of an ECMA-262 class: the code trims filters
# with it, and ECMA's \s is another set (it leaves out U+001C to U+001F and U+0085)
PYTHON_SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
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
    catalog: Catalog,
    *,
    max_delay_ms: int,
    server_url: str | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document for the API and every event of ``catalog``.

    ``max_delay_ms`` is the app's ``RECEIVER_MAX_RESPONSE_DELAY_MS``, the largest custom response
    delay a bin accepts; ``version`` is receiver's own unless one is given.
    """
    api = fill_placeholders(api_document(), code_values(max_delay_ms=max_delay_ms))
    schemas: dict[str, Any] = api["components"]["schemas"]
    webhooks: dict[str, Any] = {}
    used = set(schemas)
    for event in catalog.events():
        name = _unique(f"{_safe(event.provider_id)}__{_safe(event.id)}", used)
        schemas.update(hoist_schema(event.schema, name, used))
        key = _unique(f"{event.provider_id}.{event.id}", webhooks)
        webhooks[key] = {"post": _webhook_operation(event, name)}
    document: dict[str, Any] = {
        "openapi": api["openapi"],
        "jsonSchemaDialect": api["jsonSchemaDialect"],
        "info": {**api["info"], "version": version or package_version()},
    }
    if server_url:
        document["servers"] = [{"url": server_url.rstrip("/") or "/"}]
    document["tags"] = api["tags"]
    document["paths"] = api["paths"]
    document["webhooks"] = webhooks
    document["components"] = api["components"]
    return document


@functools.cache
def api_document() -> dict[str, Any]:
    """The API part as stored in ``openapi/api.json``, parsed once: read it, never change it."""
    source = resources.files(__package__ or "receiver.exports").joinpath(*API_DOCUMENT)
    return json.loads(source.read_text(encoding="utf-8"))


def code_values(*, max_delay_ms: int) -> dict[str, Any]:
    """The values ``api.json`` takes from the code that enforces them, by placeholder name."""
    return {
        "signature_schemes": list(SCHEME_NAMES),
        "signature_statuses": list(SIGNATURE_STATUSES),
        "bin_roles": list(ROLES),
        "compare_change_kinds": list(get_args(ChangeKind)),
        "compare_body_kinds": list(get_args(BodyKind)),
        "verdicts": list(VERDICTS),
        "documented_levels": list(DOCUMENTED_LEVELS),
        "draft_uris": draft_uris(),
        "origins": list(ORIGINS),
        "token_pattern": _whole(TOKEN.pattern),
        "server_set_header_pattern": _whole(
            "|".join(_caseless(name) for name in sorted(FORBIDDEN_RESPONSE_HEADERS))
        ),
        "http_url_pattern": HTTP_URL_PATTERN,
        "bin_id_pattern": _whole(lifecycle.READABLE_ID.pattern),
        "label_max": lifecycle.LABEL_MAX,
        "provider_max": lifecycle.PROVIDER_MAX,
        "event_max": lifecycle.EVENT_MAX,
        "secret_max": lifecycle.SECRET_MAX,
        "signature_header_max": lifecycle.SIGNATURE_HEADER_MAX,
        "previous_secrets_max": lifecycle.PREVIOUS_SECRETS_MAX,
        "forward_url_max": lifecycle.FORWARD_URL_MAX,
        "response_body_max": lifecycle.RESPONSE_BODY_MAX,
        "response_headers_max": lifecycle.RESPONSE_HEADERS_MAX,
        "script_steps_max": lifecycle.SCRIPT_STEPS_MAX,
        "response_script_text": (
            "the answers the next captures get, one step each, then the bin's own response "
            f"again; at most {lifecycle.SCRIPT_BYTES_MAX // 1024} KiB of JSON in all"
        ),
        "max_delay_ms": max_delay_ms,
        "list_limit_max": listing.MAX_LIMIT,
        "list_limit_default": listing.DEFAULT_LIMIT,
        # parse_filter trims the filters, refuses an empty one, and upper-cases the method
        "search_text_pattern": _trimmed(listing.MAX_QUERY_TEXT),
        "event_filter_pattern": _trimmed(listing.MAX_EVENT_TEXT),
        "method_length_max": MAX_METHOD_LENGTH,
        "method_filter_pattern": (
            rf"^[{PYTHON_SPACE}]*{_token_class()}{{1,{MAX_METHOD_LENGTH}}}[{PYTHON_SPACE}]*$"
        ),
        "provider_id_pattern": _whole(user_schemas.PROVIDER_ID.pattern),
        "event_id_pattern": _whole(user_schemas.EVENT_ID.pattern),
        "description_max": user_schemas.DESCRIPTION_MAX,
        "documented_headers_max": importing.MAX_HEADERS,
        "documented_header_name_max": importing.HEADER_NAME_MAX,
        "documented_header_value_max": importing.HEADER_VALUE_MAX,
        "provider_name_max": user_schemas.NAME_MAX,
        "detection_header_pattern": _whole(DETECTION_HEADER.pattern),
        "detection_headers_max": DETECTION_HEADERS_MAX,
        "event_pointer_max": EVENT_POINTER_MAX,
        "scenario_url_max": scenarios.URL_MAX,
        # the feed's event filters are trimmed; an empty one is refused
        "feed_event_pattern": _trimmed(listeners.EVENT_MAX),
        "feed_events_max": listeners.MAX_EVENTS,
        "path_prefix_max": listeners.PATH_PREFIX_MAX,
        # an empty name means the default one
        "recording_name_pattern": f"^(?:{recordings.NAME_PATTERN.pattern})?$",
        "recording_format": recordings.FORMAT_VERSION,
    }


def _trimmed(longest: int) -> str:
    """Text that is 1 to ``longest`` characters once ``str.strip()`` has removed its surrounding
    white space, without a NUL (no database takes one in a text parameter)."""
    space, visible = f"[{PYTHON_SPACE}]", rf"[^{PYTHON_SPACE}\x00]"
    inner = rf"{visible}|{visible}[^\x00]{{0,{longest - 2}}}{visible}"
    return rf"^{space}*(?:{inner}){space}*$"


def _whole(pattern: str) -> str:
    """``pattern`` anchored at both ends (the code matches it with ``fullmatch``)."""
    return f"^(?:{pattern})$" if "|" in pattern else f"^{pattern}$"


def _caseless(name: str) -> str:
    """A pattern matching the header ``name`` in any case, without flags (JSON Schema has none)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else _literal(c) for c in name)


def _literal(char: str) -> str:
    """``char`` for a pattern, escaped only when special (ECMA-262 u mode refuses "\\-")."""
    return "\\" + char if char in r".^$*+?()[]{}|\/" else char


def _token_class() -> str:
    """The character class of an HTTP token, taken from ``TOKEN`` (``[...]+``)."""
    if not TOKEN.pattern.endswith("]+"):
        raise ValueError(f"TOKEN is no longer a repeated class: {TOKEN.pattern!r}")
    return TOKEN.pattern.removesuffix("+")


def fill_placeholders(node: Any, values: Mapping[str, Any]) -> Any:
    """A deep copy of ``node`` with every ``{"$fill": name}`` replaced by ``values[name]``.

    :raise KeyError: a placeholder names no value (a mistake in ``api.json``).
    """
    if isinstance(node, dict):
        if len(node) == 1 and FILL in node:
            if node[FILL] not in values:
                raise KeyError(f"api.json asks for an unknown code value {node[FILL]!r}")
            return copy.deepcopy(values[node[FILL]])
        return {key: fill_placeholders(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [fill_placeholders(item, values) for item in node]
    return node


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
    source = event.source or "unknown"
    if event.source and not event.user_defined:
        source = f'the provider\'s documentation, section "{event.source}"'
    parts = [event.description.strip(), documented, f"Source: {source}."]
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
