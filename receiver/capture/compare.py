"""What differs between two captures: the request line, the headers (added, removed, changed),
and the body: by JSON Pointer when both are JSON (added, removed, changed values, type
changes), by line when both are text, by byte otherwise.

It is what a person does by hand when the second delivery of an event fails and the first did
not. Every part of the work is bounded, whatever the captures hold: the bodies are compared up
to ``BODY_MAX`` bytes each, a JSON walk stops after ``NODES_MAX`` nodes, a text diff looks at
``LINES_MAX`` lines, at most ``CHANGES_MAX`` changes are listed per part, and a shown value is
cut at ``VALUE_MAX`` characters; the result says when a bound cut it short.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal

from receiver.capture.bodies import parse_json_text
from receiver.catalog.pointers import to_pointer

BODY_MAX = 1024 * 1024
NODES_MAX = 200_000
LINES_MAX = 5_000
CHANGES_MAX = 500
VALUE_MAX = 200
WINDOW_BEFORE = 16
WINDOW_AFTER = 32

ChangeKind = Literal["added", "removed", "changed", "type"]
BodyKind = Literal["same", "json", "text", "bytes"]


@dataclass(frozen=True)
class Side:
    """One capture as compared: its request line, header pairs as received, and its body
    (decoded for display, up to a bound: ``complete`` says whether it is all of it)."""

    method: str
    path: str
    query_string: str
    headers: list[list[str]] | list[tuple[str, str]]
    body: bytes
    complete: bool = True


@dataclass(frozen=True)
class Change:
    """One difference: where (a request part, a header name or a JSON Pointer), what kind, and
    the value before (in the first capture) and after (in the second), as shown."""

    kind: ChangeKind
    where: str
    before: str | None = None
    after: str | None = None


@dataclass(frozen=True)
class BodyComparison:
    """How two bodies differ. ``changes`` by JSON Pointer (kind ``json``), ``lines`` of a
    unified diff (``text``), or the first differing byte with a hex window of each side
    (``bytes``); ``truncated`` when a bound cut the comparison short."""

    kind: BodyKind
    sizes: tuple[int, int]
    changes: list[Change] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    first_difference: int | None = None
    windows: tuple[str, str] | None = None
    truncated: bool = False


@dataclass(frozen=True)
class Comparison:
    """Everything that differs between two captures."""

    request: list[Change]
    headers: list[Change]
    body: BodyComparison
    headers_truncated: bool = False

    @property
    def same(self) -> bool:
        return not self.request and not self.headers and self.body.kind == "same"


def compare(first: Side, second: Side, *, same_body: bool | None = None) -> Comparison:
    """Compare two captures. ``same_body`` is whether the whole raw bodies are equal, when the
    caller knows it (the sides may hold only decoded heads); by default their bodies decide."""
    request = [
        Change("changed", part, shown(before), shown(after))
        for part, before, after in (
            ("method", first.method, second.method),
            ("path", first.path, second.path),
            ("query", first.query_string, second.query_string),
        )
        if before != after
    ]
    headers, headers_cut = compare_headers(first.headers, second.headers)
    equal = first.body == second.body if same_body is None else same_body
    return Comparison(request, headers, compare_bodies(first, second, equal), headers_cut)


def compare_headers(
    first: list[list[str]] | list[tuple[str, str]], second: list[list[str]] | list[tuple[str, str]]
) -> tuple[list[Change], bool]:
    """Headers added, removed or changed, by name in any case (repeats kept in order as one
    value per line); the first capture's order, then the names only the second has."""
    before, after = _grouped(first), _grouped(second)
    changes: list[Change] = []
    for key in list(before) + [key for key in after if key not in before]:
        was, now = before.get(key), after.get(key)
        if was == now:
            continue
        if was is None:
            change = Change("added", now[0] if now else key, None, _values(now))
        elif now is None:
            change = Change("removed", was[0], _values(was), None)
        elif was[1:] == now[1:]:
            continue  # only the name's case differs
        else:
            change = Change("changed", now[0], _values(was), _values(now))
        if len(changes) == CHANGES_MAX:
            return changes, True
        changes.append(change)
    return changes, False


def _grouped(pairs: list[list[str]] | list[tuple[str, str]]) -> dict[str, list[str]]:
    """Header name (lower case) -> [name as first sent, value, value, ...]."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name.lower(), [name]).append(value)
    return grouped


def _values(group: list[str] | None) -> str | None:
    return None if group is None else shown("\n".join(group[1:]))


def compare_bodies(first: Side, second: Side, equal: bool) -> BodyComparison:
    """The bodies compared as what they are: JSON, text, or bytes."""
    sizes = (len(first.body), len(second.body))
    if equal:
        return BodyComparison("same", sizes)
    cut = not (first.complete and second.complete)
    a, b = first.body[:BODY_MAX], second.body[:BODY_MAX]
    cut = cut or len(a) < len(first.body) or len(b) < len(second.body)
    if not cut and a and b:
        a_is_json, a_value = parse_json_text(a)
        b_is_json, b_value = parse_json_text(b)
        if a_is_json and b_is_json:
            changes, truncated = compare_json(a_value, b_value)
            return BodyComparison("json", sizes, changes=changes, truncated=truncated)
    a_text, b_text = _text(a), _text(b)
    if a_text is not None and b_text is not None:
        lines, truncated = compare_text(a_text, b_text)
        return BodyComparison("text", sizes, lines=lines, truncated=cut or truncated)
    offset, windows = first_difference(a, b)
    return BodyComparison("bytes", sizes, first_difference=offset, windows=windows, truncated=cut)


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def json_type(value: Any) -> str:
    """The JSON type of a parsed value (a boolean is not a number)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


# a path into a document as a chain (key, parent): a child's path shares its parent's, so a
# deep document costs no copies; the pointer is spelt out only for a change
Path = tuple[str | int, "Path"] | None


def pointer(path: Path, *last: str | int) -> str:
    """The JSON Pointer of ``path`` (and ``last``, below it)."""
    parts: list[str | int] = list(reversed(last))
    while path is not None:
        parts.append(path[0])
        path = path[1]
    return to_pointer(reversed(parts))


def compare_json(first: Any, second: Any) -> tuple[list[Change], bool]:
    """Differences by JSON Pointer, in document order (the first capture's members, then those
    only the second has): members and items added or removed, values changed, and values whose
    JSON type changed. Arrays are compared position by position. Iterative (no recursion,
    whatever the depth) and bounded."""
    changes: list[Change] = []
    # what is left to do, last first: a pair of values to compare, or a change found already
    pending: list[tuple[Path, Any, Any] | Change] = [(None, first, second)]
    visited = 0
    while pending:
        visited += 1
        if visited > NODES_MAX or len(changes) >= CHANGES_MAX:
            return changes[:CHANGES_MAX], True
        item = pending.pop()
        if isinstance(item, Change):
            changes.append(item)
            continue
        path, a, b = item
        a_type, b_type = json_type(a), json_type(b)
        following: list[tuple[Path, Any, Any] | Change] = []
        if a_type != b_type:
            changes.append(Change("type", pointer(path), preview(a), preview(b)))
        elif a_type == "object":
            for key, value in a.items():
                if key in b:
                    following.append(((key, path), value, b[key]))
                else:
                    following.append(Change("removed", pointer(path, key), preview(value)))
            following.extend(
                Change("added", pointer(path, key), None, preview(value))
                for key, value in b.items()
                if key not in a
            )
        elif a_type == "array":
            shared = min(len(a), len(b))
            following.extend(((index, path), a[index], b[index]) for index in range(shared))
            following.extend(
                Change("removed", pointer(path, index), preview(a[index]))
                for index in range(shared, len(a))
            )
            following.extend(
                Change("added", pointer(path, index), None, preview(b[index]))
                for index in range(shared, len(b))
            )
        elif a != b:
            changes.append(Change("changed", pointer(path), preview(a), preview(b)))
        pending.extend(reversed(following))
    return changes, False


def preview(value: Any) -> str:
    """A value as JSON, cut at ``VALUE_MAX`` characters; a container by its size (showing a
    whole subtree would cost as much as the subtree)."""
    if isinstance(value, dict):
        return "{…}" if value else "{}"
    if isinstance(value, list):
        return f"[… {len(value)} item{'s' if len(value) != 1 else ''}]" if value else "[]"
    return shown(json.dumps(value, ensure_ascii=False))


def shown(text: str) -> str:
    """Text cut at ``VALUE_MAX`` characters."""
    return text if len(text) <= VALUE_MAX else text[:VALUE_MAX] + "…"


def compare_text(first: str, second: str) -> tuple[list[str], bool]:
    """A unified diff of the lines (two lines of context), the first ``LINES_MAX`` lines of
    each side, at most ``CHANGES_MAX`` diff lines; each line cut at ``VALUE_MAX``."""
    a, b = first.splitlines(), second.splitlines()
    truncated = len(a) > LINES_MAX or len(b) > LINES_MAX
    diff = difflib.unified_diff(a[:LINES_MAX], b[:LINES_MAX], "first", "second", lineterm="", n=2)
    lines: list[str] = []
    for line in diff:
        if len(lines) == CHANGES_MAX:
            return lines, True
        lines.append(shown(line))
    return lines, truncated


def first_difference(first: bytes, second: bytes) -> tuple[int | None, tuple[str, str] | None]:
    """The offset of the first byte that differs (or where the shorter ends), with a hex window
    of each side around it; None when the bytes are the same."""
    if first == second:
        return None, None
    # the longest common prefix, by halving (slices compare in C; a loop per byte would not)
    low, high = 0, min(len(first), len(second))
    while low < high:
        middle = (low + high + 1) // 2
        if first[:middle] == second[:middle]:
            low = middle
        else:
            high = middle - 1
    offset = low
    start = max(0, offset - WINDOW_BEFORE)

    def window(data: bytes) -> str:
        return data[start : offset + WINDOW_AFTER].hex(" ")

    return offset, (window(first), window(second))
