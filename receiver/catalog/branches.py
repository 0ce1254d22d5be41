"""Branch choice: which branch of a failed ``oneOf``/``anyOf`` a payload comes closest to.

Closest is the branch whose ``const`` or ``enum`` discriminators (or ``type``) match the payload,
then the one with the fewest errors (a wrong type or constant at its root first, then errors at
the payload's top level, then all). A branch is shown to a reader by its title, the name it
refers to, or its place in the schema.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

import jsonschema_rs

from receiver.catalog.compiled import Compiled
from receiver.catalog.compiled import local_ref
from receiver.catalog.issues import MAX_ERRORS
from receiver.catalog.issues import show
from receiver.catalog.pointers import escape_token

# branches scored per combinator
MAX_BRANCHES = 64
COMBINATORS = ("oneOf", "anyOf")
# how a branch stands against a payload's discriminators
MATCH, NEUTRAL, MISMATCH = "match", "neutral", "mismatch"
# keywords that do not assert anything: a node holding only these and a combinator is "pure"
ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "id",
        "$comment",
        "$defs",
        "definitions",
        "$anchor",
        "title",
        "description",
        "examples",
        "example",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
# errors that say a value has another kind than a branch wants, at the branch's own root
_WRONG_KIND = frozenset({"type", "const", "enum", "falseSchema"})
_TYPE_OF = (
    (bool, ("boolean",)),
    (int, ("integer", "number")),
    (float, ("number",)),
    (str, ("string",)),
    (list, ("array",)),
    (dict, ("object",)),
)


class Branches:
    """The branch choices of one compiled schema."""

    def __init__(self, compiled: Compiled) -> None:
        self.compiled = compiled

    def follow_refs(self, pointer: str) -> str:
        """Follow a chain of nodes that are only a local ``$ref`` (and annotations)."""
        for _ in range(32):
            node = self.compiled.node(pointer)
            if not isinstance(node, dict) or not isinstance(node.get("$ref"), str):
                return pointer
            if any(key not in ANNOTATIONS and key != "$ref" for key in node):
                return pointer
            target = local_ref(self.compiled.schema, node["$ref"])
            if target is None:
                return pointer
            pointer = target
        return pointer

    def candidates(self, pointers: list[str], instance: Any) -> list[int]:
        """The branches whose discriminators match ``instance``; else those that say nothing."""
        statuses = [self.discriminate(pointer, instance, 0) for pointer in pointers]
        matching = [index for index, status in enumerate(statuses) if status == MATCH]
        return matching or [index for index, status in enumerate(statuses) if status == NEUTRAL]

    def score(self, pointer: str, instance: Any, depth: int) -> tuple[int, ...]:
        """How far ``instance`` is from a branch, least first: a wrong type (or const/enum) at
        its root, then the errors at the payload's top level (one per unexpected field), then
        all errors. A branch that fails only deep inside has the right shape."""
        pointer = self.follow_refs(pointer)
        node = self.compiled.node(pointer)
        keyword = pure_combinator(node)
        if keyword is not None and depth < 4:
            subs = [f"{pointer}/{keyword}/{i}" for i in range(len(node[keyword]))]
            chosen = self.candidates(subs, instance)
            if not chosen:
                return (1, MAX_ERRORS, MAX_ERRORS)
            return min(self.score(subs[i], instance, depth + 1) for i in chosen[:MAX_BRANCHES])
        validator = self.compiled.sub(pointer)
        if validator is None:
            return (1, MAX_ERRORS, MAX_ERRORS)
        wrong_kind = top = count = 0
        for error in islice(validator.iter_errors(instance), MAX_ERRORS):
            count += 1
            if error.instance_path:
                continue
            if error.kind.name in _WRONG_KIND:
                wrong_kind = 1
            elif isinstance(error.kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
                top += len(error.kind.unexpected)
            else:
                top += 1
        return (wrong_kind, top, count)

    def discriminate(self, pointer: str, instance: Any, depth: int) -> str:
        """MATCH when a ``const``/``enum`` of the branch matches the payload and none
        contradicts it, MISMATCH when one contradicts it (or its ``type`` does), else NEUTRAL;
        a pure combinator takes the best of its own branches."""
        pointer = self.follow_refs(pointer)
        node = self.compiled.node(pointer)
        if not isinstance(node, dict):
            return MISMATCH if node is False else NEUTRAL
        keyword = pure_combinator(node)
        if keyword is not None:
            if depth >= 3:
                return NEUTRAL
            found = {
                self.discriminate(f"{pointer}/{keyword}/{i}", instance, depth + 1)
                for i in range(len(node[keyword]))
            }
            return MATCH if MATCH in found else NEUTRAL if NEUTRAL in found else MISMATCH
        if "type" in node and not type_admits(node["type"], instance):
            return MISMATCH
        if "const" in node or "enum" in node:
            return MATCH if value_admitted(node, instance) else MISMATCH
        return self._by_properties(pointer, node, instance)

    def _by_properties(self, pointer: str, node: dict[str, Any], instance: Any) -> str:
        """How the ``const``/``enum`` properties of an object branch stand against ``instance``."""
        properties = node.get("properties")
        if not isinstance(instance, dict) or not isinstance(properties, dict):
            return NEUTRAL
        status = NEUTRAL
        required = node["required"] if isinstance(node.get("required"), list) else []
        for name in properties:
            sub = self.compiled.node(self.follow_refs(f"{pointer}/properties/{escape_token(name)}"))
            if not isinstance(sub, dict) or not ("const" in sub or "enum" in sub):
                continue
            if name not in instance:
                if name in required:
                    return MISMATCH
                continue
            if not value_admitted(sub, instance[name]):
                return MISMATCH
            status = MATCH
        return status

    def discriminator_hint(self, pointers: list[str], instance: Any) -> str:
        """'; /type is "x", allowed: "a", "b"' when the branches differ by one property."""
        if not isinstance(instance, dict):
            return ""
        allowed: dict[str, list[Any]] = {}
        for pointer in pointers:
            node = self.compiled.node(self.follow_refs(pointer))
            properties = node.get("properties") if isinstance(node, dict) else None
            for name, sub in properties.items() if isinstance(properties, dict) else ():
                if isinstance(sub, dict) and "const" in sub:
                    allowed.setdefault(name, []).append(sub["const"])
                elif isinstance(sub, dict) and isinstance(sub.get("enum"), list):
                    allowed.setdefault(name, []).extend(sub["enum"])
        for name, values in allowed.items():
            if name in instance:
                shown = ", ".join(show(v, 30) for v in values[:10])
                more = ", …" if len(values) > 10 else ""
                got = show(instance[name], 40)
                return f"; /{escape_token(name)} is {got}, allowed: {shown}{more}"
        return ""

    def label(self, pointer: str) -> str:
        """A branch as a reader knows it: its title, the name it refers to, or its place."""
        node = self.compiled.node(pointer)
        target = self.follow_refs(pointer)
        for candidate in (node, self.compiled.node(target)):
            if isinstance(candidate, dict) and isinstance(candidate.get("title"), str):
                return repr(candidate["title"][:80])
        if target != pointer:
            return repr(target.rsplit("/", 1)[-1][:80])
        return f"#{pointer}"


def pure_combinator(node: Any) -> str | None:
    """``oneOf``/``anyOf`` when it is the only assertion of ``node``, else None."""
    if not isinstance(node, dict):
        return None
    found = [key for key in COMBINATORS if isinstance(node.get(key), list) and node[key]]
    if len(found) != 1:
        return None
    if any(key not in ANNOTATIONS and key != found[0] for key in node):
        return None
    return found[0]


def type_admits(declared: Any, instance: Any) -> bool:
    """Whether a ``type`` keyword's value admits ``instance`` (``1.0`` is an integer)."""
    names = declared if isinstance(declared, list) else [declared]
    if instance is None:
        return "null" in names
    for python_type, json_names in _TYPE_OF:
        if isinstance(instance, python_type):
            if isinstance(instance, float) and instance.is_integer() and "integer" in names:
                return True
            return any(name in names for name in json_names)
    return True


def value_admitted(node: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` meets the node's ``const`` and ``enum``."""
    if "const" in node and not json_equal(node["const"], value):
        return False
    enum = node.get("enum")
    return not isinstance(enum, list) or any(json_equal(option, value) for option in enum)


def json_equal(one: Any, two: Any) -> bool:
    """Equality as JSON Schema defines it: true is not 1, 1 is 1.0."""
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return bool(one == two)
