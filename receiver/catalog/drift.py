"""Schema drift: across many captures of one event, what the schema and the traffic disagree on.

- ``undocumented``: fields the captures carry that the schema does not declare (the validation's
  ``additionalProperties`` warnings), with how many captures carry each;
- ``never_seen``: fields the schema requires that no capture carried.

Array positions are folded into ``*`` (``/commits/*/id``), so a field is one row however many
items carry it. Pure: the caller loads the captures' bodies.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from receiver.catalog.compiled import local_ref
from receiver.catalog.pointers import MISSING
from receiver.catalog.pointers import escape_token
from receiver.catalog.pointers import resolve_pointer
from receiver.catalog.validation import BudgetExceeded
from receiver.catalog.validation import parse_json
from receiver.catalog.validation import validate_against

MAX_DEPTH = 32
MAX_FIELDS = 500
# payload nodes looked at per capture when collecting the fields it carries
MAX_NODES = 50_000


@dataclass(frozen=True)
class Drift:
    """The drift report of one event over a set of captures."""

    captures: int
    checked: int
    undocumented: list[tuple[str, int]]
    never_seen: list[str]
    timed_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The API shape."""
        return {
            "captures": self.captures,
            "checked": self.checked,
            "timed_out": self.timed_out,
            "undocumented": [{"path": path, "count": count} for path, count in self.undocumented],
            "never_seen": list(self.never_seen),
        }


def fold(pointer: str) -> str:
    """A JSON Pointer with every array index replaced by ``*``."""
    return "/".join("*" if part.isdigit() else part for part in pointer.split("/"))


def drift_report(schema: dict[str, Any], bodies: Iterable[bytes], *, budget_ms: int) -> Drift:
    """Compare captured bodies with ``schema`` (bodies that are not JSON are counted, not
    checked; each check has ``budget_ms``, and the whole report ten times that)."""
    deadline = time.monotonic() + budget_ms * 10 / 1000
    undocumented: Counter[str] = Counter()
    seen: set[str] = set()
    captures = checked = timed_out = 0
    required = required_pointers(schema)
    for body in bodies:
        captures += 1
        if time.monotonic() > deadline:
            timed_out += 1
            continue
        payload, problem = parse_json(body)
        if problem is not None:
            continue
        checked += 1
        try:
            _, warnings = validate_against(schema, payload, budget_ms=budget_ms, size=len(body))
        except BudgetExceeded:
            timed_out += 1
            continue
        for path in {fold(w.path) for w in warnings if w.keyword == "additionalProperties"}:
            undocumented[path] += 1
        seen |= present_pointers(payload)
    never = [pointer for pointer in required if pointer not in seen] if checked else []
    ranked = sorted(undocumented.items(), key=lambda item: (-item[1], item[0]))
    return Drift(captures, checked, ranked[:MAX_FIELDS], never[:MAX_FIELDS], timed_out)


def present_pointers(payload: Any) -> set[str]:
    """Every field path the payload carries, array positions folded (bounded)."""
    found: set[str] = set()
    stack: list[tuple[Any, str, int]] = [(payload, "", 0)]
    nodes = 0
    while stack and nodes < MAX_NODES:
        value, path, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            continue
        if isinstance(value, dict):
            for key, child in value.items():
                here = f"{path}/{escape_token(key)}"
                found.add(here)
                stack.append((child, here, depth + 1))
        elif isinstance(value, list):
            for child in value[:100]:
                stack.append((child, f"{path}/*", depth + 1))
    return found


def required_pointers(schema: dict[str, Any]) -> list[str]:
    """The paths of the fields ``schema`` requires, through ``properties``, ``items``, ``allOf``
    and local ``$ref``s (a required field inside an optional object counts too: it is required
    whenever its parent is there). Branches of ``oneOf``/``anyOf`` are left out: which applies
    depends on the payload."""
    found: list[str] = []

    def visit(node: Any, path: str, depth: int, refs: frozenset[str]) -> None:
        if not isinstance(node, dict) or depth > MAX_DEPTH or len(found) >= MAX_FIELDS:
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in refs:
            target = local_ref(schema, ref)
            if target is not None:
                visit(_at(schema, target), path, depth + 1, refs | {ref})
        all_of = node.get("allOf")
        for sub in all_of if isinstance(all_of, list) else ():
            visit(sub, path, depth + 1, refs)
        properties = node["properties"] if isinstance(node.get("properties"), dict) else {}
        required = node["required"] if isinstance(node.get("required"), list) else []
        for name in required:
            if isinstance(name, str):
                pointer = f"{path}/{escape_token(name)}"
                if pointer not in found:
                    found.append(pointer)
        for name, sub in properties.items():
            visit(sub, f"{path}/{escape_token(name)}", depth + 1, refs)
        if isinstance(node.get("items"), dict):
            visit(node["items"], f"{path}/*", depth + 1, refs)

    visit(schema, "", 0, frozenset())
    return found


def _at(schema: dict[str, Any], pointer: str) -> Any:
    found = resolve_pointer(schema, pointer)
    return None if found is MISSING else found


def example_from_body(body: bytes) -> Any:
    """The JSON value of a captured body, for "Use as example".

    :raise ValueError: the body is not JSON (the message says why).
    """
    payload, problem = parse_json(body)
    if problem is not None:
        raise ValueError(problem.message)
    json.dumps(payload)  # a value the database's JSON column can hold
    return payload
