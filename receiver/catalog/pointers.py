"""JSON Pointer (RFC 6901): the one implementation that detection, validation, samples, the
pretty body view and the OpenAPI document share."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any


class _Missing:
    """The type of MISSING: a pointer that resolves to nothing."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def escape_token(token: str | int) -> str:
    """One reference token, escaped (``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def to_pointer(parts: Iterable[str | int]) -> str:
    """The JSON Pointer for a sequence of keys and indexes ("" for none)."""
    return "".join("/" + escape_token(part) for part in parts)


@functools.lru_cache(maxsize=1024)
def parse_pointer(pointer: str) -> tuple[str, ...] | None:
    """Split a JSON Pointer into unescaped reference tokens; None when it is not a pointer."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        return None
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/"))


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at JSON Pointer ``pointer`` in ``document``, or ``MISSING``."""
    parts = parse_pointer(pointer)
    return MISSING if parts is None else resolve_parts(document, parts)


def resolve_parts(document: Any, parts: tuple[str, ...]) -> Any:
    """The value at already split pointer tokens in ``document``, or ``MISSING``."""
    node = document
    for part in parts:
        if isinstance(node, dict):
            node = node.get(part, MISSING)
            if node is MISSING:
                return MISSING
        elif isinstance(node, list):
            if not part.isdigit() or (part != "0" and part[0] == "0") or int(part) >= len(node):
                return MISSING
            node = node[int(part)]
        else:
            return MISSING
    return node


def set_pointer(document: Any, pointer: str, value: Any) -> Any:
    """Set the value at a JSON Pointer (``/a/b/0``; ``a.b.0`` is accepted too), creating objects.

    Returns the document (``value`` itself for the root pointer).

    :raise ValueError: the pointer walks through something that is not an object or array.
    """
    if pointer in ("", "/"):
        return value
    if pointer.startswith("/"):
        parts = parse_pointer(pointer) or ()
    else:
        parts = tuple(pointer.split("."))
    node = document
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(node, list):
            try:
                position = int(part)
                if last:
                    node[position] = value
                else:
                    node = node[position]
            except (ValueError, IndexError):
                raise ValueError(f"{pointer!r}: {part!r} is not an index of the array") from None
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise ValueError(f"{pointer!r}: cannot descend into a {type(node).__name__}")
    return document
