"""What a schema check reports, and the time it may take.

An :class:`Issue` is one error or warning: a JSON Pointer into the payload ("" is the whole
payload), a short message that never echoes a big value, and the schema keyword that was broken.
A check spends a :class:`Deadline`; past it, :class:`BudgetExceeded` carries an issue that says
how far the check got.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

import jsonschema_rs

from receiver.catalog.pointers import to_pointer

# errors described per schema node (and per branch when branches are scored)
MAX_ERRORS = 50
# a deadline is read every this many steps (the clock costs more than a step)
TICKS_PER_READ = 64
_Kind = jsonschema_rs.ValidationErrorKind
_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"))


@dataclass(frozen=True)
class Issue:
    """One error or warning: where in the payload, what is wrong, which schema keyword."""

    path: str
    message: str
    keyword: str

    def to_dict(self) -> dict[str, str]:
        """Return the JSON shape ``{path, message, keyword}``."""
        return {"path": self.path, "message": self.message, "keyword": self.keyword}


class BudgetExceeded(Exception):
    """The check did not finish within its time budget (``issue`` says how far it got)."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


class Deadline:
    """When a check must stop (a moment of ``clock``, which tests replace), read every few
    steps."""

    def __init__(self, at: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.at = at
        self.clock = clock
        self.steps = 0

    def passed(self) -> bool:
        """Count a step; True once the deadline has passed (the clock is read every few)."""
        self.steps += 1
        return self.steps % TICKS_PER_READ == 0 and self.clock() > self.at

    def tick(self, where: str) -> None:
        """:raise BudgetExceeded: the deadline has passed (``where`` is the payload path)."""
        if self.passed():
            raise BudgetExceeded(Issue(where, "the check ran past its time budget", "budget"))


def issue_from_error(error: jsonschema_rs.ValidationError, path: tuple[str | int, ...]) -> Issue:
    """A jsonschema-rs error as an Issue at payload ``path``, in a short message."""
    kind = error.kind
    keyword = "pattern" if isinstance(kind, _Kind.BacktrackLimitExceeded) else kind.name
    return Issue(to_pointer(path), _message(error), keyword)


def _message(error: jsonschema_rs.ValidationError) -> str:
    kind, instance = error.kind, error.instance
    if isinstance(kind, _Kind.Required):
        return f"required field {kind.property!r} is missing"
    if isinstance(kind, _Kind.Type):
        return f"expected {' or '.join(kind.types)}, got {json_type(instance)}"
    if isinstance(kind, _Kind.Format):
        return f"{show(instance)} is not a valid {kind.format}"
    if isinstance(kind, _Kind.Constant):
        return f"must be {show(kind.expected_value)}, got {show(instance)}"
    if isinstance(kind, _Kind.Enum):
        allowed = ", ".join(show(v, 30) for v in kind.options[:20])
        return f"must be one of {allowed}; got {show(instance)}"
    if isinstance(kind, _Kind.AdditionalProperties):
        return "fields not allowed here: " + ", ".join(repr(k) for k in kind.unexpected[:20])
    if isinstance(kind, _Kind.FalseSchema):
        return "no value is allowed here"
    if isinstance(kind, _Kind.Pattern):
        return f"{show(instance)} does not match the pattern {show(kind.pattern)}"
    if isinstance(kind, _Kind.BacktrackLimitExceeded):
        return "the pattern needs too many steps to decide this value"
    if isinstance(kind, _Kind.OneOfMultipleValid):
        return "matches more than one of the allowed shapes"
    message = error.message.split("\n", 1)[0]
    return message if len(message) <= 200 else message[:199] + "…"


def json_type(value: Any) -> str:
    """The JSON type of a parsed value."""
    if value is None:
        return "null"
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return "array" if isinstance(value, list) else "object"


def show(value: Any, limit: int = 60) -> str:
    """A value as JSON, cut to ``limit`` characters (a container shows its start)."""
    if isinstance(value, dict | list):
        text = json.dumps(_clip(value), ensure_ascii=False, default=str)
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip(value: Any) -> Any:
    """A small prefix of a container, enough to show its start."""
    if isinstance(value, dict):
        head = islice(value.items(), 4)
        return {k: _clip(v) if isinstance(v, dict | list) else v for k, v in head}
    if isinstance(value, list):
        return [_clip(v) if isinstance(v, dict | list) else v for v in value[:4]]
    return value
