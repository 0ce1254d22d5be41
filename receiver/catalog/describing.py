"""Error description: the errors of a payload that does not match its schema, as Issues.

Each error is at a JSON Pointer into the payload; a missing required field is reported at the
object that lacks it (as JSON Schema's own output format does), and the message names the field.
A ``oneOf``/``anyOf`` that nothing matches gives one error at the combinator that names the
branch that came closest (``branches``), followed by that branch's own errors. At most
``MAX_ERRORS`` errors are described per schema node, and the description stops at the check's
deadline.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from receiver.catalog.branches import MAX_BRANCHES
from receiver.catalog.branches import Branches
from receiver.catalog.branches import pure_combinator
from receiver.catalog.compiled import Compiled
from receiver.catalog.issues import MAX_ERRORS
from receiver.catalog.issues import Deadline
from receiver.catalog.issues import Issue
from receiver.catalog.issues import issue_from_error
from receiver.catalog.pointers import to_pointer

_FAILED_BRANCHES = (
    jsonschema_rs.ValidationErrorKind.OneOfNotValid,
    jsonschema_rs.ValidationErrorKind.AnyOf,
)


class Describer:
    """Describes the errors of payloads against one compiled schema, within a deadline."""

    def __init__(self, compiled: Compiled, deadline: Deadline) -> None:
        self.compiled = compiled
        self.deadline = deadline
        self.branches = Branches(compiled)

    def describe(self, pointer: str, instance: Any, at: tuple[str | int, ...]) -> list[Issue]:
        """The errors of ``instance`` (found at payload path ``at``) against the node at
        ``pointer``; a pure combinator is described branch by branch."""
        pointer = self.branches.follow_refs(pointer)
        keyword = pure_combinator(self.compiled.node(pointer))
        if keyword is not None:
            return self.describe_combinator(f"{pointer}/{keyword}", keyword, instance, at)
        validator = self.compiled.sub(pointer)
        if validator is None:
            return [Issue(to_pointer(at), "the schema cannot be applied here", "$schema")]
        issues: list[Issue] = []
        for count, error in enumerate(validator.iter_errors(instance)):
            if count == MAX_ERRORS:
                issues.append(Issue(to_pointer(at), "more errors not listed", "errors"))
                break
            path = (*at, *error.instance_path)
            location = to_pointer(error.schema_path)
            failed_branches = isinstance(error.kind, _FAILED_BRANCHES)
            if failed_branches and isinstance(self.compiled.node(location), list):
                name = error.kind.name
                issues.extend(self.describe_combinator(location, name, error.instance, path))
                continue
            issues.append(issue_from_error(error, path))
            self.deadline.tick(to_pointer(at))
        return issues

    def describe_combinator(
        self, pointer: str, keyword: str, instance: Any, at: tuple[str | int, ...]
    ) -> list[Issue]:
        """Name the closest branch of a failed ``oneOf``/``anyOf`` and list its errors."""
        branches = self.compiled.node(pointer)
        where = to_pointer(at)
        if not isinstance(branches, list) or not branches:
            return [Issue(where, "does not match the allowed shapes", keyword)]
        pointers = [f"{pointer}/{index}" for index in range(len(branches))]
        if keyword == "oneOf":
            passing = [i for i, p in enumerate(pointers) if self.compiled.passes(p, instance)]
            if len(passing) > 1:
                labels = ", ".join(self.branches.label(pointers[i]) for i in passing[:5])
                text = f"matches more than one of the allowed shapes: {labels}"
                return [Issue(where, text, keyword)]
        which = "any" if keyword == "anyOf" else "exactly one"
        shapes = f"{which} of the {len(branches)} allowed shapes"
        candidates = self.branches.candidates(pointers, instance)
        if not candidates:
            hint = self.branches.discriminator_hint(pointers, instance)
            return [Issue(where, f"does not match {shapes}{hint}", keyword)]
        best = self._closest(pointers, candidates, instance, where)
        closest = self.branches.label(pointers[best])
        head = Issue(where, f"does not match {shapes}; closest: {closest}", keyword)
        return [head, *self.describe(pointers[best], instance, at)]

    def _closest(
        self, pointers: list[str], candidates: list[int], instance: Any, where: str
    ) -> int:
        """The candidate branch with the least score (the first one when it is the only one)."""
        best_score: tuple[int, ...] = (2**31, 0, 0)
        best = candidates[0]
        if len(candidates) > 1:
            for index in candidates[:MAX_BRANCHES]:
                score = self.branches.score(pointers[index], instance, 0)
                if score < best_score:
                    best, best_score = index, score
                self.deadline.tick(where)
        return best
