"""Request bodies checked against the API document's own schemas.

The OpenAPI document (``openapi/api.json``, with the code's values filled in by
:mod:`receiver.exports.openapi`) is the one statement of what each JSON body may hold: types,
bounds, patterns, and which fields may not appear together. Every JSON body of the API is checked
against the schema its operation names, by jsonschema-rs on its linear-time regex engine, whose
patterns it reads as ECMA-262 as JSON Schema and OpenAPI do (``\\s`` is ECMA's white space, not
Python's, and ``$`` ends the text): a value that a client reading the document calls valid is one
the app accepts. What no schema can say stays with the code that uses the value (a URL whose
host or port cannot be used, the total size of a response script, re-signing a bin that has no
secret).

A refusal names the field and says what is wrong, in words taken from the schema: the bounds of
the node that failed, the ``description`` of a ``pattern`` (a noun phrase: "an HTTP token"), the
``description`` of a ``not`` subschema (the refusal itself: "give body or body_base64, not
both"). Where a value fits none of an ``anyOf``/``oneOf``'s branches, the branch it comes closest
to is described; when its type fits none, the allowed types are listed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import jsonschema_rs

from receiver.exports.openapi import api_document
from receiver.exports.openapi import code_values
from receiver.exports.openapi import fill_placeholders
from receiver.httpspec import url_problem

# the name the filled document is registered under, so that its "#/..." references resolve
DOCUMENT_URI = "urn:receiver:api"
COMPONENTS = "#/components/schemas/"
_ROOT = "the body"
_LONGEST_SHOWN = 60
_TYPE_WORDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}
# errors that say a value is of another kind than a branch wants (not merely out of its bounds)
_WRONG_KIND = frozenset({"type", "const", "enum"})
_Kind = jsonschema_rs.ValidationErrorKind
# schemas whose refusal the code that owns the rule words better than a pattern's description
_REASONS: dict[tuple[str | int, ...], Callable[[str], str | None]] = {
    ("components", "schemas", "HttpUrl"): url_problem,
}
_BRANCHES = (_Kind.AnyOf, _Kind.OneOfNotValid)


class BodyError(ValueError):
    """A body the document refuses: ``field`` says where (``response.status``, ``the body``),
    ``message`` says what is wrong and names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class BodySchemas:
    """The filled document's body schemas, each compiled once."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        registry = jsonschema_rs.Registry([(DOCUMENT_URI, document)])
        self.operations = _operation_bodies(document)
        self.validators = {
            name: jsonschema_rs.validator_for(
                {"$ref": f"{DOCUMENT_URI}{COMPONENTS}{name}"},
                registry=registry,
                validate_formats=True,
                # the linear-time engine: the document's own patterns need no backtracking
                pattern_options=jsonschema_rs.RegexOptions(),
            )
            for name in sorted(set(self.operations.values()))
        }

    def check(self, component: str, body: Any) -> None:
        """:raise BodyError: ``body`` is not valid against the component (the first error)."""
        validator = self.validators[component]
        if validator.is_valid(body):
            return
        first = next(iter(validator.iter_errors(body)))
        raise describe(first, self.document)

    def operation_body(self, method: str, path: str) -> str | None:
        """The component an operation's JSON body is checked against (``path`` as the document
        writes it: ``/api/bins/{bin_id}``); None when it takes no JSON body."""
        return self.operations.get((method.upper(), path))


@functools.cache
def body_schemas(max_delay_ms: int) -> BodySchemas:
    """The body schemas of the document as an app with this delay cap serves it."""
    return BodySchemas(fill_placeholders(api_document(), code_values(max_delay_ms=max_delay_ms)))


def check_body(component: str, body: Any, *, max_delay_ms: int) -> None:
    """Check ``body`` against the document's ``components.schemas[component]``.

    :raise BodyError: the first thing wrong with it, in words.
    """
    body_schemas(max_delay_ms).check(component, body)


def _operation_bodies(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    """``(METHOD, path)`` -> the component of each operation whose body is JSON."""
    found = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            content = operation.get("requestBody", {}).get("content", {})
            reference = content.get("application/json", {}).get("schema", {}).get("$ref", "")
            if reference.startswith(COMPONENTS):
                found[(method.upper(), path)] = reference.removeprefix(COMPONENTS)
    return found


# -- describing a refusal ---------------------------------------------------------------------


def describe(
    error: jsonschema_rs.ValidationError, document: dict[str, Any], subject: str | None = None
) -> BodyError:
    """The refusal for one jsonschema-rs error, in words (``subject`` names the value when it
    is not a field: a name of an object's fields)."""
    error = _closest(error)
    field = field_name(error.instance_path)
    if isinstance(error.kind, _Kind.PropertyNames):
        name = _show(error.kind.error.instance)
        named = describe(error.kind.error, document, f"the name {name} in {field}")
        return BodyError(field, named.message)
    if subject is not None:
        return BodyError(field, _said_of(subject, error, document))
    if isinstance(error.kind, _BRANCHES):
        return BodyError(field, _alternatives(error, field, document))
    kind = error.kind
    if isinstance(kind, _Kind.Required):
        inner = field_name([*error.instance_path, kind.property])
        return BodyError(inner, f"{inner} is required")
    if isinstance(kind, _Kind.AdditionalProperties):
        names = ", ".join(repr(name) for name in kind.unexpected[:10])
        plural = "s" if len(kind.unexpected) > 1 else ""
        where = "" if field == _ROOT else f" in {field}"
        return BodyError(field, f"unknown field{plural}{where}: {names}")
    return BodyError(field, _said_of(field, error, document))


def _said_of(subject: str, error: jsonschema_rs.ValidationError, document: dict[str, Any]) -> str:
    """What is wrong with the value ``subject`` names, from the keyword that failed."""
    if isinstance(error.kind, _Kind.Not):
        refusal = _text(_node(document, error.schema_path).get("description"))
        if not refusal:
            return f"{subject} is not allowed"
        return refusal if subject == _ROOT else f"{subject}: {refusal}"
    why = _REASONS.get(tuple(error.schema_path[:-1]))
    reason = why(error.instance) if why is not None and isinstance(error.instance, str) else None
    return f"{subject} {reason or _predicate(error, _node(document, error.schema_path[:-1]))}"


def field_name(path: Sequence[str | int]) -> str:
    """A payload path as a reader writes it: ``response.headers[0][1]``; ``the body`` for none."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or _ROOT


def _closest(error: jsonschema_rs.ValidationError) -> jsonschema_rs.ValidationError:
    """Through ``anyOf``/``oneOf``: the first error of the branch the value comes closest to, or
    the combinator's own error when the value is of a kind none of them takes."""
    while isinstance(error.kind, _BRANCHES):
        branches = [branch for branch in error.kind.context if branch]
        if not branches or all(_only_missing(branch, error.instance_path) for branch in branches):
            return error
        scored = [(_distance(branch, error.instance_path), branch) for branch in branches]
        best = min(scored, key=lambda pair: pair[0])
        if best[0][0]:
            return error
        error = best[1][0]
    return error


def _distance(
    branch: list[jsonschema_rs.ValidationError], at: Sequence[str | int]
) -> tuple[int, int, int]:
    """How far a value is from a branch: of another kind at its own place first, then the
    discriminators (``const``/``enum`` of a field) it contradicts, then the count of errors."""
    here = list(at)
    wrong_kind = any(e.kind.name in _WRONG_KIND and list(e.instance_path) == here for e in branch)
    discriminators = sum(1 for e in branch if e.kind.name in ("const", "enum"))
    return (int(wrong_kind), discriminators, len(branch))


def _only_missing(branch: list[jsonschema_rs.ValidationError], at: Sequence[str | int]) -> bool:
    """Whether a branch only misses fields of the value itself (``anyOf`` of required sets)."""
    return all(e.kind.name == "required" and list(e.instance_path) == list(at) for e in branch)


def _alternatives(
    error: jsonschema_rs.ValidationError, field: str, document: dict[str, Any]
) -> str:
    """What a value that fits none of the branches could be: "a string or null" (a string
    with a described pattern as its description)."""
    here = list(error.instance_path)
    wanted: list[str] = []
    needed: list[str] = []
    branches = error.kind.context if isinstance(error.kind, _BRANCHES) else []
    for branch in branches:
        for inner in branch:
            if list(inner.instance_path) != here:
                continue
            kind = inner.kind
            if isinstance(kind, _Kind.Type):
                branch_node = _node(document, inner.schema_path[:-1])
                described = (
                    _text(branch_node.get("description")) if "pattern" in branch_node else ""
                )
                wanted += [described] if described else [_TYPE_WORDS.get(n, n) for n in kind.types]
            elif isinstance(kind, _Kind.Constant):
                wanted.append(_show(kind.expected_value))
            elif isinstance(kind, _Kind.Enum):
                wanted += [_show(option) for option in kind.options]
            elif isinstance(kind, _Kind.Required):
                needed.append(repr(kind.property))
    if needed and not wanted:
        return f"{field} needs {_either(needed)}"
    if not wanted:
        return f"{field} does not match any of the allowed forms"
    return f"{field} must be {_either(wanted)}"


def _predicate(error: jsonschema_rs.ValidationError, node: dict[str, Any]) -> str:
    """What is wrong with a value, from the failed keyword and its node's other bounds."""
    kind = error.kind
    if isinstance(kind, _Kind.Type):
        return f"must be {_either([_TYPE_WORDS.get(name, name) for name in kind.types])}"
    if isinstance(kind, _Kind.Minimum | _Kind.Maximum):
        return _range(node, "minimum", "maximum", "must be {}", "", span="from ")
    if isinstance(kind, _Kind.ExclusiveMinimum):
        return f"must be above {_show(kind.limit)}"
    if isinstance(kind, _Kind.ExclusiveMaximum):
        return f"must be below {_show(kind.limit)}"
    if isinstance(kind, _Kind.MinLength | _Kind.MaxLength):
        return _range(node, "minLength", "maxLength", "must be {}", "character", " long")
    if isinstance(kind, _Kind.MinItems | _Kind.MaxItems):
        return _range(node, "minItems", "maxItems", "must hold {}", "item")
    if isinstance(kind, _Kind.MinProperties | _Kind.MaxProperties):
        return _range(node, "minProperties", "maxProperties", "must hold {}", "field")
    if isinstance(kind, _Kind.Pattern):
        described = _text(node.get("description"))
        return f"must be {described}" if described else f"must match {_show(kind.pattern)}"
    if isinstance(kind, _Kind.Format):
        return f"must be a valid {kind.format}"
    if isinstance(kind, _Kind.Constant):
        return f"must be {_show(kind.expected_value)}"
    if isinstance(kind, _Kind.Enum):
        return f"must be {_either([_show(option) for option in kind.options])}"
    if isinstance(kind, _Kind.FalseSchema):
        return "is not allowed here"
    message = error.message.split("\n", 1)[0]
    return message if len(message) <= 200 else message[:199] + "…"


def _range(
    node: dict[str, Any],
    low_key: str,
    high_key: str,
    verb: str,
    unit: str,
    after: str = "",
    *,
    span: str = "",
) -> str:
    """``must be from 200 to 599``, ``must be at most 200 characters long``."""
    low, high = node.get(low_key), node.get(high_key)
    last = high if high is not None else low
    units = f" {unit}{'' if last == 1 else 's'}" if unit else ""
    if low is not None and low == high:
        return verb.format(f"{_show(low)}{units}{after}")
    if low is not None and high is not None:
        return verb.format(f"{span}{_show(low)} to {_show(high)}{units}{after}")
    if high is not None:
        return verb.format(f"at most {_show(high)}{units}{after}")
    return verb.format(f"at least {_show(low)}{units}{after}")


def _node(document: dict[str, Any], path: Sequence[str | int]) -> dict[str, Any]:
    """The schema node at a path into the document (an empty one when it is not an object)."""
    found: Any = document
    for part in path:
        try:
            found = found[part]
        except (KeyError, IndexError, TypeError):
            return {}
    return found if isinstance(found, dict) else {}


def _either(options: list[str]) -> str:
    """``a, b or c`` (each option once, in order)."""
    unique = list(dict.fromkeys(options))
    if len(unique) > 12:
        unique = [*unique[:12], "…"]
    return unique[0] if len(unique) == 1 else f"{', '.join(unique[:-1])} or {unique[-1]}"


def _show(value: Any) -> str:
    """A value of the schema, shown short: numbers as written, the rest as JSON."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _LONGEST_SHOWN else text[: _LONGEST_SHOWN - 1] + "…"


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
