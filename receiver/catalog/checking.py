"""One check of a payload against a compiled schema, in this process: validity in Rust, then
the errors described (``describing``) and the undocumented fields walked (``undocumented``),
both within a deadline. The validation worker process (``isolation``) runs the same check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from receiver.catalog.compiled import Compiled
from receiver.catalog.describing import Describer
from receiver.catalog.issues import BudgetExceeded
from receiver.catalog.issues import Deadline
from receiver.catalog.issues import Issue
from receiver.catalog.undocumented import FieldWalk


def check(
    compiled: Compiled,
    payload: Any,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[list[Issue], list[Issue]]:
    """Validate in this process; return (errors, warnings).

    The descriptions stop at ``deadline`` (a moment of ``clock``), leaving a ``budget`` issue;
    validity itself is one Rust call, which the caller keeps small.
    """
    spent = Deadline(deadline, clock)
    errors = [] if compiled.validator.is_valid(payload) else _errors(compiled, payload, spent)
    warnings: list[Issue] = []
    try:
        FieldWalk(compiled, spent).walk(("",), payload, [], warnings, 0)
    except BudgetExceeded:
        warnings.append(
            Issue("", "the check for undocumented fields stopped at the time budget", "budget")
        )
    except RecursionError:
        pass
    return errors, warnings


def _errors(compiled: Compiled, payload: Any, spent: Deadline) -> list[Issue]:
    """The described errors of a payload the validator found invalid."""
    try:
        errors = Describer(compiled, spent).describe("", payload, ())
    except BudgetExceeded:
        return [
            Issue(
                "",
                "the payload does not match the schema; describing how ran past the time budget",
                "budget",
            )
        ]
    # only a validator that disagrees with itself gives no error
    return errors or [Issue("", "the payload does not match the schema", "$schema")]
