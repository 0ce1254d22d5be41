"""Validation cannot be stalled: a backtracking pattern answers at once, describing errors and
looking for undocumented fields stop at the time budget (on the clock the check is given), GitHub's
published webhook schema (draft-07, 615 KB; tests/data/octokit, MIT) is accepted as published, and
oneOf/anyOf failures report the errors of the branch that came closest.

How fast a payload validates is a figure, not a test: bench/promises.py measures it."""

from __future__ import annotations

import copy
import gzip
import json
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from clocks import NEVER_SECONDS

from receiver.catalog.validation import BudgetExceeded
from receiver.catalog.validation import check
from receiver.catalog.validation import get_compiled
from receiver.catalog.validation import validate_against

OCTOKIT = Path(__file__).resolve().parents[1] / "data" / "octokit"
EVIL = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}}}


@cache
def github_schema() -> dict[str, Any]:
    return json.loads(gzip.decompress((OCTOKIT / "webhooks-schemas.json.gz").read_bytes()))


@cache
def github_examples() -> list[tuple[str, Any]]:
    events = json.loads(
        gzip.decompress((OCTOKIT / "webhooks-examples-api.github.com.json.gz").read_bytes())
    )
    return [(event["name"], payload) for event in events for payload in event["examples"]]


def issue_opened() -> Any:
    return next(
        copy.deepcopy(payload)
        for name, payload in github_examples()
        if name == "issues" and payload.get("action") == "opened"
    )


def timed(function: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


# A real-time bound, because real time is the point: the pattern must not hold a worker. Python's
# backtracking ``re`` takes hours on 40 characters and never ends on 10,000 (it doubles with each
# one); the linear-time engine answers in microseconds. (NEVER_SECONDS says why its bound holds.)


@pytest.mark.parametrize("length", [40, 10_000])
def test_a_backtracking_pattern_on_a_long_string_answers_at_once(length):
    payload = {"name": "a" * length + "!"}

    took, (errors, _) = timed(validate_against, EVIL, payload)

    assert took < NEVER_SECONDS, f"{took:.1f} s"
    assert [(error.path, error.keyword) for error in errors] == [("/name", "pattern")]


def test_a_pattern_that_needs_backtracking_is_bounded_too():
    # a backreference needs a backtracking engine: it runs with a step limit
    schema = {"type": "string", "pattern": "^(a+)+\\1$"}

    try:
        took, _ = timed(validate_against, schema, "a" * 5_000 + "!")
    except BudgetExceeded:
        return  # a clear verdict instead of a held worker is also fine
    assert took < NEVER_SECONDS, f"{took:.1f} s"


def test_githubs_draft_07_schema_is_accepted_as_published():
    assert github_schema()["$schema"] == "http://json-schema.org/draft-07/schema#"
    errors, _ = validate_against(github_schema(), issue_opened())
    assert errors == []


def test_most_published_github_examples_match_their_schema():
    schema = github_schema()

    invalid = sum(bool(validate_against(schema, p)[0]) for _, p in github_examples())

    assert invalid < len(github_examples()) / 4


def ticking(step: float = 1.0) -> Any:
    """A clock that moves ``step`` seconds each time it is read."""
    moments = iter(range(10**9))
    return lambda: next(moments) * step


ITEMS = {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}}
# each failing item is described branch by branch (the closest branch is looked for)
EITHER = {
    "type": "array",
    "items": {
        "oneOf": [
            {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
            {"type": "object", "properties": {"m": {"type": "string"}}, "required": ["m"]},
        ]
    },
}


def test_describing_errors_stops_at_the_deadline_with_a_budget_error():
    payload = [{"n": "seven"} for _ in range(500)]

    errors, warnings = check(get_compiled(EITHER), payload, deadline=0.5, clock=ticking())

    assert [(error.path, error.keyword) for error in errors] == [("", "budget")]
    assert "describing how ran past the time budget" in errors[0].message
    assert [(warning.path, warning.keyword) for warning in warnings] == [("", "budget")]


def test_looking_for_undocumented_fields_stops_at_the_deadline_with_a_budget_warning():
    payload = [{"n": 7, "extra": True} for _ in range(500)]

    errors, warnings = check(get_compiled(ITEMS), payload, deadline=0.5, clock=ticking())

    assert errors == []
    assert warnings[-1].keyword == "budget"
    assert "undocumented fields stopped at the time budget" in warnings[-1].message
    assert len(warnings) < 500  # cut short


def test_a_check_within_its_deadline_describes_everything():
    payload = [{"n": "seven", "extra": True} for _ in range(500)]

    errors, warnings = check(get_compiled(ITEMS), payload, deadline=10**12, clock=ticking())

    assert errors[-1].keyword == "errors"  # the first 50, and a note that there are more
    assert len(warnings) == 500
    assert all(issue.keyword != "budget" for issue in errors + warnings)


def test_a_oneof_failure_reports_the_closest_branchs_own_errors():
    payload = issue_opened()
    payload["issue"]["number"] = "seven"

    errors, _ = validate_against(github_schema(), payload)

    found = [(error.path, error.keyword) for error in errors]
    assert ("/issue/number", "type") in found
    combinator = next(error for error in errors if error.keyword == "oneOf")
    assert "closest" in combinator.message and "issues" in combinator.message


def test_the_const_discriminator_picks_the_branch_over_the_error_count():
    schema = {
        "oneOf": [
            {
                "type": "object",
                "properties": {"kind": {"const": "cat"}, "lives": {"type": "integer"}},
                "required": ["kind", "lives"],
            },
            {
                "type": "object",
                "properties": {"kind": {"const": "dog"}, "good": {"type": "boolean"}},
                "required": ["kind", "good"],
            },
        ]
    }

    errors, _ = validate_against(schema, {"kind": "dog", "good": "very", "lives": 9})

    assert [(error.path, error.keyword) for error in errors][1:] == [("/good", "type")]
    assert errors[0].keyword == "oneOf"


def test_anyof_reports_the_branch_with_the_fewest_errors():
    schema = {
        "anyOf": [
            {"type": "object", "required": ["a", "b", "c"]},
            {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
        ]
    }

    errors, _ = validate_against(schema, {"x": "1"})

    assert [(error.path, error.keyword) for error in errors][1:] == [("/x", "type")]
