"""Any provider's catalog from its OpenAPI 3.1 description: one user schema per ``webhooks`` entry.

For each webhook (a Path Item, or a ``$ref`` to ``components/pathItems``) the first operation
with a request body gives the event: its JSON request body schema, bundled into a standalone
JSON Schema (every ``#/components/schemas/…`` it reaches, transitively, copied into ``$defs``
and its references rewritten, so cycles stay references), its example (``example``, or the
first of ``examples``), its description, and its required header parameters with their example
values (so that the event's sample carries them). The event id is the webhook's name; a name
that is not an id (Adyen names its webhooks ``/AUTHORISATION``) gives one derived from it
(``AUTHORISATION``), and the name stays in the event's source.

A document names a header rule when every webhook declares the same required header parameter
whose name ends in ``-Event`` (GitHub's ``X-GitHub-Event``): the import sets it as the
provider's ``event_header`` unless the provider already has detection rules.

Everything about the document is hostile and bounded: its size, YAML aliases (billion laughs),
the number of nodes walked, the number of webhooks. YAML is read with the safe loader, through
libyaml (PyYAML's C loader) when PyYAML has it: the pure-Python reader takes minutes where
libyaml takes seconds (bench/README.md has the figures).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import unquote

import yaml

from receiver.catalog.model import DRAFT_2020_12
from receiver.catalog.pointers import MISSING
from receiver.catalog.pointers import escape_token
from receiver.catalog.pointers import resolve_pointer
from receiver.httpspec import TOKEN

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
MAX_ALIASES = 1_000
# nodes walked while bundling schemas and copying examples, over all webhooks: GitHub's
# document (261 webhooks) needs about 430,000; YAML aliases cannot multiply past this
MAX_NODES = 5_000_000
MAX_WEBHOOKS = 2_000
MAX_DEPTH = 200
EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9._-]+")
DESCRIPTION_MAX = 2000
# a documented header value longer than this is not kept (it is no example a sender would use)
HEADER_VALUE_MAX = 1000
HEADER_NAME_MAX = 100
MAX_HEADERS = 50
_COMPONENT = "#/components/schemas/"
_METHODS = ("post", "put", "patch", "get", "delete", "options", "head", "trace")


class OpenAPIImportError(ValueError):
    """The document cannot be imported; the message says why."""


@dataclass
class ImportedEvent:
    """One webhook as a user schema; ``webhook`` is its name in the document, ``headers`` the
    header parameters it requires, with their documented example values."""

    event: str
    schema: dict[str, Any]
    example: Any
    description: str
    webhook: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ImportPlan:
    """What an import would store: events, the webhooks skipped (with why), a header rule."""

    title: str
    events: list[ImportedEvent] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    event_header: str | None = None


# libyaml's loader when PyYAML was built with it, else the pure-Python one
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# YAML reads about a hundred times slower than JSON even through libyaml (about 2.5 s per MiB
# on a busy 2-core machine, bench/import_yaml.py); a larger description can be given as JSON
MAX_YAML_BYTES = (8 if SafeLoader is not yaml.SafeLoader else 1) * 1024 * 1024


def parse_document(data: bytes) -> Any:
    """Parse an OpenAPI document given as JSON or YAML bytes.

    :raise OpenAPIImportError: too large, not UTF-8, not JSON or YAML, too many YAML aliases.
    """
    if len(data) > MAX_DOCUMENT_BYTES:
        raise OpenAPIImportError(f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise OpenAPIImportError(f"the document is not UTF-8 (byte {exc.start})") from None
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except RecursionError:
            raise OpenAPIImportError("the JSON document is nested too deeply") from None
        except ValueError as exc:
            raise OpenAPIImportError(f"the document is not valid JSON: {exc}") from None
    if len(data) > MAX_YAML_BYTES:
        raise OpenAPIImportError(
            f"a YAML document is at most {MAX_YAML_BYTES // 1024 // 1024} MiB (a JSON one "
            f"{MAX_DOCUMENT_BYTES // 1024 // 1024} MiB): give this one as JSON"
        )
    return _parse_yaml(text)


def _parse_yaml(text: str) -> Any:
    """YAML through the safe loader: the node graph first, its aliases counted, then the data.

    The constructor builds an aliased node once and shares the object, so a billion laughs is
    cheap here; whatever walks the data later counts every use (see `_Budget`).
    """
    try:
        # the reader refuses characters YAML does not allow as it is built
        loader = SafeLoader(text)
    except yaml.YAMLError as exc:
        raise OpenAPIImportError(f"the document is not valid YAML: {str(exc)[:300]}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_aliases(node)
        return loader.construct_document(node)
    except RecursionError:
        raise OpenAPIImportError("the YAML document is nested too deeply") from None
    except yaml.YAMLError as exc:
        raise OpenAPIImportError(f"the document is not valid YAML: {str(exc)[:300]}") from None
    finally:
        loader.dispose()


def _count_aliases(root: yaml.Node) -> None:
    """Refuse a node graph that refers to nodes it already has more than MAX_ALIASES times.

    :raise OpenAPIImportError: too many aliases.
    """
    seen: set[int] = set()
    aliases = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise OpenAPIImportError(f"the YAML document uses more than {MAX_ALIASES} aliases")
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))


def plan_import(document: Any) -> ImportPlan:
    """Turn a parsed OpenAPI 3.1 document into the user schemas to store.

    :raise OpenAPIImportError: not an OpenAPI 3.1 document, no ``webhooks``, too many or too large.
    """
    if not isinstance(document, dict):
        raise OpenAPIImportError("the document must be an OpenAPI object")
    version = document.get("openapi")
    if not isinstance(version, str) or not version.startswith("3.1"):
        raise OpenAPIImportError(
            f"only OpenAPI 3.1 documents carry webhooks; this one says openapi: {version!r}"
        )
    webhooks = document.get("webhooks")
    if not isinstance(webhooks, dict) or not webhooks:
        raise OpenAPIImportError("the document has no webhooks")
    if len(webhooks) > MAX_WEBHOOKS:
        raise OpenAPIImportError(f"the document has more than {MAX_WEBHOOKS} webhooks")
    info = document.get("info")
    title = str(info.get("title", "")) if isinstance(info, dict) else ""
    plan = ImportPlan(title=title[:200])
    budget = _Budget()
    headers: list[set[str]] = []
    taken: dict[str, str] = {}
    for name, item in webhooks.items():
        try:
            event_id = event_id_of(str(name))
            if event_id in taken:
                raise _Skip(f"its event id {event_id} is taken by the webhook {taken[event_id]}")
            event = _plan_webhook(document, event_id, item, budget)
        except _Skip as skip:
            plan.skipped.append({"webhook": str(name)[:200], "reason": str(skip)})
            continue
        event.webhook = str(name)
        taken[event_id] = str(name)[:200]
        plan.events.append(event)
        headers.append({header for header, _ in event.headers})
    if headers:
        common = set.intersection(*headers)
        named = sorted(h for h in common if h.lower().endswith("-event"))
        if len(named) == 1:
            plan.event_header = named[0]
    return plan


def event_id_of(name: str) -> str:
    """The event id of a webhook: its name, or for a name that is not an id (``/AUTHORISATION``,
    ``order paid``) the name with its slashes trimmed and every run of other characters made a
    ``-`` (``AUTHORISATION``, ``order-paid``).

    :raise _Skip: nothing of the name is left to make an id of.
    """
    if EVENT_ID.fullmatch(name):
        return name
    derived = _NOT_IN_ID.sub("-", name.strip("/ ")).strip("-._")[:128].rstrip("-._")
    if not EVENT_ID.fullmatch(derived):
        raise _Skip("no event id can be made of the name (letters, digits, '.', '_' or '-')")
    return derived


class _Skip(Exception):
    """One webhook cannot be imported (the message says why); the others can."""


class _Budget:
    """Counts the nodes walked; the whole import stops past MAX_NODES."""

    def __init__(self) -> None:
        self.nodes = 0

    def spend(self, count: int = 1) -> None:
        self.nodes += count
        if self.nodes > MAX_NODES:
            raise OpenAPIImportError(
                f"the document's webhooks need more than {MAX_NODES} nodes of schemas and "
                "examples (a YAML alias counts each time it is used)"
            )


def _plan_webhook(
    document: dict[str, Any], event_id: str, item: Any, budget: _Budget
) -> ImportedEvent:
    item = _deref(document, item, "a path item")
    if not isinstance(item, dict):
        raise _Skip("not a path item")
    for method in _METHODS:
        operation = item.get(method)
        if not isinstance(operation, dict) or "requestBody" not in operation:
            continue
        body = _deref(document, operation["requestBody"], "a request body")
        content = body.get("content") if isinstance(body, dict) else None
        media = _json_media(content)
        if media is None:
            raise _Skip("the request body has no JSON content")
        schema = media.get("schema")
        if not isinstance(schema, dict | bool):
            raise _Skip("the request body has no schema")
        bundled = _bundle(document, schema, budget)
        description = operation.get("description") or operation.get("summary") or ""
        if not description and isinstance(bundled, dict):
            description = bundled.get("description") or bundled.get("title") or ""
        example = _example(document, media)
        _spend_on(example, budget)
        return ImportedEvent(
            event=event_id,
            schema=bundled,
            example=copy.deepcopy(example),
            description=str(description)[:DESCRIPTION_MAX],
            headers=_required_headers(document, item, operation),
        )
    raise _Skip("no operation with a request body")


def _deref(document: dict[str, Any], node: Any, what: str) -> Any:
    """Follow ``$ref``s between OpenAPI components (path items, request bodies, examples)."""
    for _ in range(16):
        if not isinstance(node, dict) or "$ref" not in node:
            return node
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise _Skip(f"{what} refers outside the document ({str(ref)[:100]})")
        node = resolve_pointer(document, ref[1:])
        if node is MISSING:
            raise _Skip(f"{what} refers to {ref[:100]}, which the document does not have")
    raise _Skip(f"{what} is a chain of references that does not end")


def _json_media(content: Any) -> dict[str, Any] | None:
    if not isinstance(content, dict):
        return None
    for media_type, media in content.items():
        kind = str(media_type).split(";", 1)[0].strip().lower()
        if kind == "application/json" or kind.endswith("+json"):
            return media if isinstance(media, dict) else None
    return None


def _example(document: dict[str, Any], media: dict[str, Any]) -> Any:
    """The media type's example, or the value of its first usable ``examples`` entry (not
    copied: it is checked by ``_spend_on`` first)."""
    if "example" in media:
        return media["example"]
    examples = media.get("examples")
    if isinstance(examples, dict):
        for value in examples.values():
            try:
                found = _deref(document, value, "an example")
            except _Skip:
                continue
            if isinstance(found, dict) and "value" in found:
                return found["value"]
    return None


def _required_headers(
    document: dict[str, Any], item: dict[str, Any], operation: dict[str, Any]
) -> list[tuple[str, str]]:
    """The required header parameters of a webhook (the operation's over the path item's), each
    with the value the document gives as its example; "" when it gives none."""
    found: dict[str, tuple[str, str]] = {}
    for parameters in (item.get("parameters"), operation.get("parameters")):
        for parameter in parameters if isinstance(parameters, list) else ():
            try:
                parameter = _deref(document, parameter, "a parameter")
            except _Skip:
                continue
            if (
                isinstance(parameter, dict)
                and parameter.get("in") == "header"
                and parameter.get("required") is True
                and isinstance(parameter.get("name"), str)
                and TOKEN.fullmatch(parameter["name"])
                and len(parameter["name"]) <= HEADER_NAME_MAX
            ):
                name = parameter["name"]
                found[name.lower()] = (name, _documented_value(document, parameter))
    return list(found.values())[:MAX_HEADERS]


def _documented_value(document: dict[str, Any], parameter: dict[str, Any]) -> str:
    """A header parameter's example value as text: its ``example``, the first of its
    ``examples``, else its schema's ``const``, ``default``, first ``enum`` or ``examples``
    entry, or ``example``; "" when there is none, or none that a header can carry."""
    # a parameter carries example and examples as a media type does
    candidates: list[Any] = [_example(document, parameter)]
    try:
        schema = _deref(document, parameter.get("schema"), "a schema")
    except _Skip:
        schema = None
    if isinstance(schema, dict):
        candidates += [schema[key] for key in ("const", "default") if key in schema]
        for key in ("enum", "examples"):
            if isinstance(schema.get(key), list) and schema[key]:
                candidates.append(schema[key][0])
        if "example" in schema:
            candidates.append(schema["example"])
    for value in candidates:
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str | int | float):
            text = str(value)
        else:
            continue
        if len(text) <= HEADER_VALUE_MAX and not _CONTROL.search(text):
            return text
    return ""


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _bundle(document: dict[str, Any], schema: dict[str, Any] | bool, budget: _Budget) -> Any:
    """A standalone JSON Schema: the body schema with every component it reaches in ``$defs``."""
    components = resolve_pointer(document, "/components/schemas")
    components = components if isinstance(components, dict) else {}
    needed: list[str] = []
    seen: set[str] = set()

    def rewrite(node: Any, depth: int) -> Any:
        budget.spend()
        if depth > MAX_DEPTH:
            raise _Skip("the schema is nested too deeply")
        if isinstance(node, list):
            return [rewrite(item, depth + 1) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = reference(value)
            elif key in ("const", "enum", "example", "examples", "default"):
                _spend_on(value, budget)
                out[key] = copy.deepcopy(value)
            else:
                out[key] = rewrite(value, depth + 1)
        return out

    def reference(ref: str) -> str:
        if not ref.startswith(_COMPONENT):
            if ref.startswith("#"):
                raise _Skip(f"the schema refers to {ref[:100]}, outside components/schemas")
            raise _Skip(f"the schema refers outside the document ({ref[:100]})")
        name, _, rest = ref[len(_COMPONENT) :].partition("/")
        name = unquote(name).replace("~1", "/").replace("~0", "~")
        if name not in components:
            raise _Skip(f"the schema refers to a component that does not exist: {name[:100]}")
        if name not in seen:
            seen.add(name)
            needed.append(name)
        return f"#/$defs/{escape_token(name)}" + (f"/{rest}" if rest else "")

    root = rewrite(schema, 0)
    defs: dict[str, Any] = {}
    index = 0
    while index < len(needed):
        name = needed[index]
        defs[name] = rewrite(components[name], 0)
        index += 1
    if isinstance(root, bool):
        return {"$schema": DRAFT_2020_12, **({} if root else {"not": {}})}
    bundled = {"$schema": DRAFT_2020_12, **root}
    target = _single_ref(root)
    if target is not None and _references(defs, target) == 0:
        # the body is one component: inline it as the root, keeping its own title and description
        bundled = {"$schema": DRAFT_2020_12, **defs.pop(target)}
    if defs:
        existing = bundled.get("$defs")
        bundled["$defs"] = {**(existing if isinstance(existing, dict) else {}), **defs}
    return bundled


def _single_ref(root: dict[str, Any]) -> str | None:
    ref = root.get("$ref")
    if set(root) != {"$ref"} or not isinstance(ref, str) or not ref.startswith("#/$defs/"):
        return None
    name = ref[len("#/$defs/") :]
    return None if "/" in name else name.replace("~1", "/").replace("~0", "~")


def _references(defs: dict[str, Any], name: str) -> int:
    text = json.dumps(defs)
    return text.count(json.dumps(f"#/$defs/{escape_token(name)}")[:-1])


def _spend_on(value: Any, budget: _Budget) -> None:
    """Count every node of a JSON value against the budget, as often as YAML aliases repeat
    it (the value is stored, and later validated, expanded), and refuse one nested deeper than
    MAX_DEPTH (copying it would exhaust the stack).

    A value that YAML aliases share is measured once and counted each time it is used, so an
    alias bomb is refused at once, not after MAX_NODES steps.

    :raise _Skip: too deep.
    """
    measured: dict[int, tuple[int, int]] = {}

    def measure(node: Any, depth: int) -> tuple[int, int]:
        """(nodes once expanded, height) of ``node``."""
        if depth > MAX_DEPTH:
            raise _Skip("an example or constant value is nested too deeply")
        if not isinstance(node, dict | list):
            return 1, 0
        known = measured.get(id(node))
        if known is None:
            nodes, height = 1, 0
            for child in node.values() if isinstance(node, dict) else node:
                child_nodes, child_height = measure(child, depth + 1)
                nodes += child_nodes
                height = max(height, child_height + 1)
                if nodes > MAX_NODES:
                    break
            known = measured[id(node)] = (nodes, height)
        if depth + known[1] > MAX_DEPTH:
            raise _Skip("an example or constant value is nested too deeply")
        return known

    budget.spend(measure(value, 0)[0])
