"""The undocumented-field walk: a warning (keyword ``additionalProperties``) for every payload
field that the schemas applying to it do not declare, at the field's own pointer.

Only objects whose schema declares ``properties`` (or ``patternProperties``) are checked, so the
open, undocumented parts of a schema give none; a field the schema requires counts as
documented, and an explicit ``additionalProperties``/``unevaluatedProperties`` leaves the rest
open. The schemas that apply are gathered through ``$ref``, ``allOf``, the ``oneOf``/``anyOf``
branches the value passes, ``if``/``then``/``else`` and ``dependentSchemas``. The walk stops
``MAX_WALK_DEPTH`` deep (the JSON parser bounds the payload's own depth) and at the deadline.

Every capture of a documented event walks its payload, so what depends on the schema alone is
worked out once per schema and kept with its compiled form (``Compiled.walk_memory``): the
subschemas a pointer gathers when no branch has to be tried against the value, and, for each
set of applicable schemas, which field leads where (`_ObjectPlan`). Only the choices that depend
on the payload (branches, ``if``, ``dependentSchemas``, patterns) are made per payload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from receiver.catalog.branches import COMBINATORS
from receiver.catalog.compiled import Compiled
from receiver.catalog.issues import BudgetExceeded
from receiver.catalog.issues import Deadline
from receiver.catalog.issues import Issue
from receiver.catalog.pointers import escape_token
from receiver.catalog.pointers import to_pointer

MAX_WALK_DEPTH = 128
# what a schema's walk remembers, at most (entries)
MEMORY_SIZE = 4096
# field names (up to LEAD_NAME_SIZE characters) whose subschemas an object plan keeps: the
# names come from payloads, so what a plan keeps of them is bounded
LEADS_KEPT = 256
LEAD_NAME_SIZE = 100
Applicable = list[tuple[str, dict[str, Any]]]
# keywords whose subschemas apply only when the value passes something: gathered per payload
_BY_VALUE = (*COMBINATORS, "if", "dependentSchemas")


@dataclass(frozen=True)
class _ObjectPlan:
    """What a set of applicable schemas says of an object's fields, worked out once.

    ``fields`` maps a declared name to its subschemas' pointers; ``patterns`` are the
    ``patternProperties`` as (pointer of the subschema, pattern); ``extra`` the pointers of
    ``additionalProperties`` subschemas, for fields nothing else declares. ``leads`` keeps
    what `subschemas` found for the field names seen so far.
    """

    fields: dict[str, tuple[str, ...]]
    patterns: tuple[tuple[str, str], ...]
    required: frozenset[str]
    extra: tuple[str, ...]
    closed: bool
    leads: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)

    def subschemas(self, name: str) -> tuple[str, ...]:
        """The pointers of the subschemas a field called ``name`` is checked against (none: the
        schemas do not declare it)."""
        found = self.leads.get(name)
        if found is None:
            subs = self.fields.get(name, ())
            matched = tuple(pointer for pointer, pattern in self.patterns if _search(pattern, name))
            found = subs + matched if matched else subs
            if not found:
                found = self.extra
            if len(self.leads) < LEADS_KEPT and len(name) <= LEAD_NAME_SIZE:
                self.leads[name] = found
        return found


class FieldWalk:
    """Walks payloads against one compiled schema for fields it does not declare."""

    def __init__(self, compiled: Compiled, deadline: Deadline) -> None:
        self.compiled = compiled
        self.deadline = deadline
        self.memory = compiled.walk_memory

    def walk(
        self,
        pointers: tuple[str, ...],
        instance: Any,
        path: list[str | int],
        out: list[Issue],
        depth: int,
    ) -> None:
        """Append a warning for every payload field that the applicable schemas do not declare."""
        if depth > MAX_WALK_DEPTH or not isinstance(instance, dict | list):
            return
        if self.deadline.passed():
            raise BudgetExceeded(
                Issue(to_pointer(path), "the check ran past its time budget", "budget")
            )
        if isinstance(instance, dict):
            plan = self.memory.get(("plan", pointers))  # remembered when no choice was made
            if plan is None:
                applicable, static = self._applicable(pointers, instance)
                plan = self._plan(applicable)
                if static:
                    self._remember(("plan", pointers), plan)
            self.walk_object(plan, instance, path, out, depth)
            return
        applicable, _ = self._applicable(pointers, instance)
        for index, item in enumerate(instance):
            if not isinstance(item, dict | list):
                continue
            subs = tuple(
                sub
                for pointer, schema in applicable
                if (sub := _item_schema(pointer, schema, index))
            )
            if subs:
                self.walk(subs, item, [*path, index], out, depth + 1)

    def walk_object(
        self,
        plan: _ObjectPlan,
        instance: dict[str, Any],
        path: list[str | int],
        out: list[Issue],
        depth: int,
    ) -> None:
        """The object step of :meth:`walk`: each field's own schemas, or a warning."""
        for key, value in instance.items():
            subs = plan.subschemas(key)
            if not subs:
                # a field the schema requires is documented, even without a "properties" entry
                if plan.closed and key not in plan.required:
                    where = to_pointer([*path, key])
                    out.append(
                        Issue(where, f"field {key!r} is not documented", "additionalProperties")
                    )
            elif isinstance(value, dict | list):
                self.walk(subs, value, [*path, key], out, depth + 1)

    def _applicable(self, pointers: tuple[str, ...], instance: Any) -> tuple[Applicable, bool]:
        """The subschemas that apply to ``instance`` here, and whether they are the same for
        every value (no choice on the way)."""
        applicable: Applicable = []
        static = True
        for pointer in pointers:
            known = self._static(pointer)
            if known is None:
                static = False
                self.collect(pointer, instance, applicable, 0)
            else:
                applicable.extend(known)
        return applicable, static

    def _plan(self, applicable: Applicable) -> _ObjectPlan:
        key = ("object", tuple(pointer for pointer, _ in applicable))
        plan: _ObjectPlan | None = self.memory.get(key)
        if plan is None:
            plan = self._remember(key, _object_plan(applicable))
        return plan

    def collect(self, pointer: str, instance: Any, out: Applicable, depth: int) -> None:
        """Gather the subschemas that apply to ``instance`` here: $ref, allOf, passing branches."""
        if depth == 0:
            known = self._static(pointer)
            if known is not None:
                out.extend(known)
                return
        schema = self.compiled.node(pointer)
        if not isinstance(schema, dict) or depth > MAX_WALK_DEPTH:
            return
        out.append((pointer, schema))
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = self.compiled.ref_target(ref)
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

    def _static(self, pointer: str) -> tuple[tuple[str, dict[str, Any]], ...] | None:
        """What `collect` gathers from ``pointer`` when that does not depend on the value (no
        branch, ``if`` or ``dependentSchemas`` on the way), remembered; None when it does."""
        key = ("static", pointer)
        if key not in self.memory:
            gathered: Applicable = []
            self._remember(key, tuple(gathered) if self._gather(pointer, gathered, 0) else None)
        known: tuple[tuple[str, dict[str, Any]], ...] | None = self.memory.get(key)
        return known

    def _remember(self, key: Any, value: Any) -> Any:
        if len(self.memory) > MEMORY_SIZE:  # a schema with very many branches: start again
            self.memory.clear()
        self.memory[key] = value
        return value

    def _gather(self, pointer: str, out: Applicable, depth: int) -> bool:
        """`collect` without a value: False as soon as a choice would need one."""
        schema = self.compiled.node(pointer)
        if not isinstance(schema, dict) or depth > MAX_WALK_DEPTH:
            return True
        if any(keyword in schema for keyword in _BY_VALUE):
            return False
        out.append((pointer, schema))
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = self.compiled.ref_target(ref)
            if target is not None and not self._gather(target, out, depth + 1):
                return False
        all_of = schema.get("allOf")
        for index in range(len(all_of) if isinstance(all_of, list) else 0):
            if not self._gather(f"{pointer}/allOf/{index}", out, depth + 1):
                return False
        return True


def _object_plan(applicable: Applicable) -> _ObjectPlan:
    """What the applicable schemas declare of an object's fields (see `_ObjectPlan`)."""
    fields: dict[str, list[str]] = {}
    patterns: list[tuple[str, str]] = []
    required: set[str] = set()
    for pointer, schema in applicable:
        properties = schema.get("properties")
        for name in properties if isinstance(properties, dict) else ():
            fields.setdefault(name, []).append(f"{pointer}/properties/{escape_token(name)}")
        declared = schema.get("patternProperties")
        for pattern in declared if isinstance(declared, dict) else ():
            patterns.append((f"{pointer}/patternProperties/{escape_token(pattern)}", pattern))
        names = schema.get("required")
        if isinstance(names, list):
            required.update(name for name in names if isinstance(name, str))
    extra = tuple(
        f"{pointer}/additionalProperties"
        for pointer, schema in applicable
        if isinstance(schema.get("additionalProperties"), dict)
    )
    return _ObjectPlan(
        {name: tuple(subs) for name, subs in fields.items()},
        tuple(patterns),
        frozenset(required),
        extra,
        _closed(applicable),
    )


def _item_schema(pointer: str, schema: dict[str, Any], index: int) -> str | None:
    """The subschema an array's item at ``index`` is checked against, if any."""
    prefix_key = "prefixItems" if "prefixItems" in schema else None
    items = schema.get("items")
    if prefix_key is None and isinstance(items, list):
        prefix_key = "items"  # the tuple form of drafts 4 to 2019-09
    prefix = schema.get(prefix_key) if prefix_key else None
    if isinstance(prefix, list) and index < len(prefix):
        return f"{pointer}/{prefix_key}/{index}"
    if isinstance(items, dict):
        return f"{pointer}/items"
    if isinstance(schema.get("additionalItems"), dict):
        return f"{pointer}/additionalItems"
    return None


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


def _search(pattern: str, key: str) -> bool:
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return False
