"""Each mock's OpenAPI 3.1 document, and the request checks made against it.

The documents are data in ``openapi/``: ``<provider>.json`` (the provider's routes and shapes)
and ``common.json`` (the simulator's own routes: tokens, events, settings, reset, deliveries),
merged per provider. Placeholders are filled from the code that enforces them, as in the main
API's document (``{"$fill": name}``; ``{{tenant}}`` and the like in prose). Request bodies are
checked with jsonschema-rs against the same document's schemas, so what the document promises and
what the mock refuses cannot drift apart (Schemathesis checks both in CI).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

from receiver.catalog.compiled import Compiled
from receiver.exports.openapi import fill_placeholders
from receiver.httpspec import TOKEN
from receiver.simulators import model
from receiver.simulators.model import MockError
from receiver.simulators.model import Simulator

FOLDER = "openapi"
COMMON = "common"
# how many deliveries a tenant keeps, and how many one trigger makes at most
DELIVERIES_KEPT = 1000
DELIVERIES_PER_TRIGGER = 100
DELIVERIES_LIMIT_MAX = 200
DELIVERIES_LIMIT_DEFAULT = 50
SECRET_MAX = 1024
# control characters other than tab: refused in header values (and so in Qovery's secret)
HEADER_VALUE_PATTERN = "^[^\\u0000-\\u0008\\u000a-\\u001f\\u007f]*$"
ERRORS_SHOWN = 3
MESSAGE_MAX = 300


@functools.cache
def _stored(name: str) -> dict[str, Any]:
    """A document part as stored, parsed once: read it, never change it."""
    source = resources.files(__package__ or "receiver.simulators").joinpath(FOLDER, f"{name}.json")
    parsed: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    return parsed


def code_values(simulator: Simulator, events: Sequence[str]) -> dict[str, Any]:
    """The values the documents take from the code, by placeholder name."""
    settings = {found.name: found.json_schema() for found in simulator.settings}
    return {
        "trigger_events": list(events),
        "settings": {
            "type": "object",
            "required": list(settings),
            "properties": settings,
        },
        "settings_change": {
            "type": "object",
            # an unknown setting is refused, not ignored
            "additionalProperties": False,
            "properties": {
                name: {key: value for key, value in schema.items() if key != "default"}
                for name, schema in settings.items()
            },
        },
        "text_max": model.TEXT_MAX,
        "url_max": model.URL_MAX,
        "events_max": model.EVENTS_MAX,
        "filters_max": model.FILTERS_MAX,
        "headers_max": model.HEADERS_MAX,
        "header_name_max": model.HEADER_NAME_MAX,
        "header_value_max": model.HEADER_VALUE_MAX,
        "header_name_pattern": f"^{TOKEN.pattern}$",
        "header_value_pattern": HEADER_VALUE_PATTERN,
        "custom_max": model.CUSTOM_MAX,
        "secret_max": SECRET_MAX,
        "overrides_max": model.OVERRIDES_MAX,
        "plain_id_pattern": f"^{model.PLAIN_ID.pattern}$",
        "uuid_pattern": f"^{model.UUID.pattern}$",
        "uuid4_pattern": f"^{model.UUID4.pattern}$",
        "deliveries_limit_max": DELIVERIES_LIMIT_MAX,
        "deliveries_limit_default": DELIVERIES_LIMIT_DEFAULT,
    }


def build_document(
    simulator: Simulator, events: Sequence[str], server_url: str | None = None
) -> dict[str, Any]:
    """The mock's OpenAPI document (a fresh copy): the provider's part and the simulator's own
    routes, with ``events`` (the provider's catalog events) and the code's values filled in.

    ``server_url`` is the mock's base, ``<receiver>/mock/<provider>``.
    """
    return copy.deepcopy(_filled(simulator, tuple(events), server_url))


@functools.lru_cache(maxsize=32)
def _filled(
    simulator: Simulator, events: tuple[str, ...], server_url: str | None
) -> dict[str, Any]:
    merged = _merge(_stored(simulator.id), _stored(COMMON))
    words = {
        "{{tenant}}": simulator.tenant_kind,
        "{{kept}}": str(DELIVERIES_KEPT),
        "{{per_trigger}}": str(DELIVERIES_PER_TRIGGER),
    }
    document: dict[str, Any] = _reword(
        fill_placeholders(merged, code_values(simulator, events)), words
    )
    if server_url:
        document = {**document, "servers": [{"url": server_url}]}
    return document


def _merge(provider: dict[str, Any], common: dict[str, Any]) -> dict[str, Any]:
    """The provider's document with the common paths, tags and components added.

    :raise ValueError: a name defined in both (a mistake in the data).
    """
    merged = copy.deepcopy(provider)
    merged["tags"] = [*merged.get("tags", []), *common["tags"]]
    for path, item in common["paths"].items():
        if path in merged["paths"]:
            raise ValueError(f"{path} is defined twice")
        merged["paths"][path] = item
    components = merged.setdefault("components", {})
    for section, entries in common["components"].items():
        target = components.setdefault(section, {})
        for name, value in entries.items():
            if name in target:
                raise ValueError(f"components.{section}.{name} is defined twice")
            target[name] = value
    return merged


def _reword(node: Any, words: dict[str, str]) -> Any:
    """``node`` with each ``{{word}}`` of its strings replaced."""
    if isinstance(node, dict):
        return {key: _reword(value, words) for key, value in node.items()}
    if isinstance(node, list):
        return [_reword(item, words) for item in node]
    if isinstance(node, str) and "{{" in node:
        for word, replacement in words.items():
            node = node.replace(word, replacement)
    return node


@functools.lru_cache(maxsize=32)
def _compiled(simulator: Simulator, events: tuple[str, ...]) -> Compiled:
    return Compiled(_filled(simulator, events, None))


def check_body(simulator: Simulator, events: Sequence[str], schema: str, value: Any) -> None:
    """Check a request body against the document's ``components.schemas[schema]``.

    :raise MockError: 400 naming where the body breaks the schema (up to three places).
    """
    validator = _compiled(simulator, tuple(events)).sub(f"/components/schemas/{schema}")
    if validator is None:
        raise ValueError(f"the {simulator.id} document has no usable schema {schema!r}")
    problems = []
    for error in validator.iter_errors(value):
        where = "".join(f"/{part}" for part in error.instance_path) or "the body"
        problems.append(f"{where}: {error.message[:MESSAGE_MAX]}")
        if len(problems) == ERRORS_SHOWN:
            break
    if problems:
        raise MockError(400, "invalid_request", "; ".join(problems))
