"""Validation cannot be stalled: a backtracking pattern answers at once, GitHub's published
webhook schema (draft-07, 615 KB; tests/data/octokit, MIT) checks a payload in a few
milliseconds, and oneOf/anyOf failures report the errors of the branch that came closest."""

from __future__ import annotations

import copy
import gzip
import json
import statistics
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from receiver.catalog.validation import BudgetExceeded
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


@pytest.mark.parametrize("length", [26, 40, 10_000])
def test_a_backtracking_pattern_on_a_long_string_answers_within_100_ms(length):
    payload = {"name": "a" * length + "!"}

    took, (errors, _) = timed(validate_against, EVIL, payload)

    assert took < 0.1, f"{took * 1000:.0f} ms"
    assert [(error.path, error.keyword) for error in errors] == [("/name", "pattern")]


def test_a_pattern_that_needs_backtracking_is_bounded_too():
    # a backreference needs a backtracking engine: it runs with a step limit
    schema = {"type": "string", "pattern": "^(a+)+\\1$"}

    try:
        took, _ = timed(validate_against, schema, "a" * 5_000 + "!")
    except BudgetExceeded:
        return  # a clear verdict instead of a held worker is also fine
    assert took < 0.1, f"{took * 1000:.0f} ms"


def test_githubs_draft_07_schema_is_accepted_as_published():
    assert github_schema()["$schema"] == "http://json-schema.org/draft-07/schema#"
    errors, _ = validate_against(github_schema(), issue_opened())
    assert errors == []


def test_a_payload_validates_against_githubs_schema_within_5_ms():
    schema, payload = github_schema(), issue_opened()
    validate_against(schema, payload)  # compiled once, then cached

    times = [timed(validate_against, schema, payload)[0] for _ in range(15)]

    assert statistics.median(times) <= 0.005, [f"{t * 1000:.2f}" for t in times]


def test_every_github_example_is_checked_quickly():
    schema = github_schema()
    validate_against(schema, issue_opened())

    took, invalid = timed(
        lambda: sum(bool(validate_against(schema, p)[0]) for _, p in github_examples())
    )

    assert invalid < len(github_examples()) / 4  # most published examples match their schema
    assert took < 10, f"{took:.1f} s for {len(github_examples())} examples"


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
