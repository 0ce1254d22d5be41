"""The undocumented-field walk: a warning (keyword ``additionalProperties``) for every payload
field that the schemas applying to it do not declare, at the field's own pointer.

Only objects whose schema declares ``properties`` (or ``patternProperties``) are checked, so the
open, undocumented parts of a schema give none; a field the schema requires counts as
documented, and an explicit ``additionalProperties``/``unevaluatedProperties`` leaves the rest
open. The schemas that apply are gathered through ``$ref``, ``allOf``, the ``oneOf``/``anyOf``
branches the value passes, ``if``/``then``/``else`` and ``dependentSchemas``. The walk stops
``MAX_WALK_DEPTH`` deep (the JSON parser bounds the payload's own depth) and at the deadline.
"""

from __future__ import annotations

import re
from typing import Any

from receiver.catalog.branches import COMBINATORS
from receiver.catalog.compiled import Compiled
from receiver.catalog.compiled import local_ref
from receiver.catalog.issues import Deadline
from receiver.catalog.issues import Issue
from receiver.catalog.pointers import escape_token
from receiver.catalog.pointers import to_pointer

MAX_WALK_DEPTH = 128
Applicable = list[tuple[str, dict[str, Any]]]


class FieldWalk:
    """Walks payloads against one compiled schema for fields it does not declare."""

    def __init__(self, compiled: Compiled, deadline: Deadline) -> None:
        self.compiled = compiled
        self.deadline = deadline

    def walk(
        self,
        pointers: list[str],
        instance: Any,
        path: list[str | int],
        out: list[Issue],
        depth: int,
    ) -> None:
        """Append a warning for every payload field that the applicable schemas do not declare."""
        if depth > MAX_WALK_DEPTH or not isinstance(instance, dict | list):
            return
        self.deadline.tick(to_pointer(path))
        applicable: Applicable = []
        for pointer in pointers:
            self.collect(pointer, instance, applicable, 0)
        if isinstance(instance, dict):
            self.walk_object(applicable, instance, path, out, depth)
            return
        for index, item in enumerate(instance):
            if not isinstance(item, dict | list):
                continue
            subs = []
            for pointer, schema in applicable:
                prefix_key = "prefixItems" if "prefixItems" in schema else None
                items = schema.get("items")
                if prefix_key is None and isinstance(items, list):
                    prefix_key = "items"  # the tuple form of drafts 4 to 2019-09
                prefix = schema.get(prefix_key) if prefix_key else None
                if isinstance(prefix, list) and index < len(prefix):
                    subs.append(f"{pointer}/{prefix_key}/{index}")
                elif isinstance(items, dict):
                    subs.append(f"{pointer}/items")
                elif isinstance(schema.get("additionalItems"), dict):
                    subs.append(f"{pointer}/additionalItems")
            if subs:
                self.walk(subs, item, [*path, index], out, depth + 1)

    def walk_object(
        self,
        applicable: Applicable,
        instance: dict[str, Any],
        path: list[str | int],
        out: list[Issue],
        depth: int,
    ) -> None:
        """The object step of :meth:`walk`: each field's own schemas, or a warning."""
        closed = _closed(applicable)
        for key, value in instance.items():
            subs = []
            required = False
            for pointer, schema in applicable:
                props = schema.get("properties")
                if isinstance(props, dict) and key in props:
                    subs.append(f"{pointer}/properties/{escape_token(key)}")
                patterns = schema.get("patternProperties")
                if isinstance(patterns, dict):
                    subs += _pattern_schemas(pointer, patterns, key)
                required = required or key in (schema.get("required") or ())
            if not subs:
                subs = [
                    f"{pointer}/additionalProperties"
                    for pointer, s in applicable
                    if isinstance(s.get("additionalProperties"), dict)
                ]
                # a field the schema requires is documented, even without a "properties" entry
                if not subs and closed and not required:
                    where = to_pointer([*path, key])
                    out.append(
                        Issue(where, f"field {key!r} is not documented", "additionalProperties")
                    )
            if subs and isinstance(value, dict | list):
                self.walk(subs, value, [*path, key], out, depth + 1)

    def collect(self, pointer: str, instance: Any, out: Applicable, depth: int) -> None:
        """Gather the subschemas that apply to ``instance`` here: $ref, allOf, passing branches."""
        schema = self.compiled.node(pointer)
        if not isinstance(schema, dict) or depth > MAX_WALK_DEPTH:
            return
        out.append((pointer, schema))
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = local_ref(self.compiled.schema, ref)
            if target is not None:
                self.collect(target, instance, out, depth + 1)
        all_of = schema.get("allOf")
        for index in range(len(all_of) if isinstance(all_of, list) else 0):
            self.collect(f"{pointer}/allOf/{index}", instance, out, depth + 1)
        for keyword in COMBINATORS:
            branches = schema.get(keyword)
            for index in range(len(branches) if isinstance(branches, list) else 0):
                branch = f"{pointer}/{keyword}/{index}"
                if self.compiled.passes(branch, instance):
                    self.collect(branch, instance, out, depth + 1)
        if "if" in schema:
            branch = "then" if self.compiled.passes(f"{pointer}/if", instance) else "else"
            if branch in schema:
                self.collect(f"{pointer}/{branch}", instance, out, depth + 1)
        dependent = schema.get("dependentSchemas")
        if isinstance(instance, dict) and isinstance(dependent, dict):
            for name in dependent:
                if name in instance:
                    self.collect(
                        f"{pointer}/dependentSchemas/{escape_token(name)}", instance, out, depth + 1
                    )


def _closed(applicable: Applicable) -> bool:
    """Whether the schemas declare their fields (``properties``) and leave no others open
    (``additionalProperties``, ``unevaluatedProperties``): an undeclared field is then
    undocumented."""
    declares = explicitly_open = False
    for _, schema in applicable:
        if "properties" in schema or "patternProperties" in schema:
            declares = True
        if "additionalProperties" in schema or "unevaluatedProperties" in schema:
            explicitly_open = True
    return declares and not explicitly_open


def _pattern_schemas(pointer: str, patterns: dict[str, Any], key: str) -> list[str]:
    """The ``patternProperties`` subschemas whose pattern matches the field name ``key``."""
    return [
        f"{pointer}/patternProperties/{escape_token(pattern)}"
        for pattern in patterns
        if _search(pattern, key)
    ]


def _search(pattern: str, key: str) -> bool:
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return False
