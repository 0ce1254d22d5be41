"""The validation worker process (``catalog.isolation``), through validation's public functions:
a heavy schema is checked there and gives the verdict this process would; a check past its
deadline and a check past the worker's memory limit each end in a ``budget`` verdict, the worker
is replaced, and the next check works."""

from __future__ import annotations

from typing import Any

import pytest

from receiver.catalog import isolation
from receiver.catalog.validation import RISKY_WEIGHT
from receiver.catalog.validation import BudgetExceeded
from receiver.catalog.validation import get_compiled
from receiver.catalog.validation import validate_against

# the worker is a process of its own
pytestmark = pytest.mark.system


def heavy_schema(levels: int = 25) -> dict[str, Any]:
    """Each definition refers to the one before twice: its ``$ref``s expand to 2^levels nodes,
    far past what validation runs in the serving process (it goes to the worker)."""
    defs: dict[str, Any] = {"d0": {"type": "integer"}}
    for level in range(1, levels + 1):
        below = {"$ref": f"#/$defs/d{level - 1}"}
        defs[f"d{level}"] = {
            "type": "object",
            "properties": {"left": below, "right": below},
            "additionalProperties": False,
        }
    return {"$defs": defs, "$ref": f"#/$defs/d{levels}"}


def nested(depth: int, leaf: Any) -> Any:
    """``{"left": {"left": ... leaf}}``, ``depth`` levels down."""
    value = leaf
    for _ in range(depth):
        value = {"left": value}
    return value


def issues(found: list[Any]) -> list[tuple[str, str]]:
    return [(issue.path, issue.keyword) for issue in found]


def test_a_heavy_schema_is_checked_in_the_worker_with_the_verdict_this_process_gives() -> None:
    schema = heavy_schema()
    assert get_compiled(schema).weight > RISKY_WEIGHT  # too heavy for a request thread
    payloads = [
        nested(25, 7),
        nested(25, "seven"),
        {"left": nested(24, 1), "right": nested(24, 2), "extra": True},
    ]

    for payload in payloads:
        errors, warnings = validate_against(schema, payload, budget_ms=30_000)
        here_errors, here_warnings = validate_against(
            schema, payload, budget_ms=30_000, isolate=False
        )
        assert (issues(errors), issues(warnings)) == (issues(here_errors), issues(here_warnings))

    assert validate_against(schema, nested(25, 7), budget_ms=30_000)[0] == []
    errors, _ = validate_against(schema, nested(25, "seven"), budget_ms=30_000)
    assert issues(errors) == [("/left" * 25, "type")]


def large_payload(items: int = 200_000) -> list[dict[str, Any]]:
    return [{"n": n, "text": "x" * 20} for n in range(items)]


def replace_the_worker() -> None:
    """Stop the worker the way a check past its deadline does: the next check starts a new one.

    Serializing this payload alone takes the parent far longer than 1 ms, so the deadline has
    passed before the worker could answer, however fast the machine.
    """
    with pytest.raises(BudgetExceeded) as exceeded:
        validate_against({"type": "array"}, large_payload(), budget_ms=1, isolate=True)
    assert "was stopped after" in exceeded.value.issue.message


def test_a_check_past_its_deadline_is_stopped_and_the_next_one_gets_a_new_worker() -> None:
    schema = {"type": "array", "items": {"type": "object", "required": ["n"]}}
    validate_against(schema, [{"n": 1}], isolate=True)  # the worker is up and has the schema

    with pytest.raises(BudgetExceeded) as exceeded:
        validate_against(schema, large_payload(), budget_ms=1, isolate=True)

    assert exceeded.value.issue.keyword == "budget"
    assert exceeded.value.issue.path == ""
    assert "was stopped after" in exceeded.value.issue.message
    assert "(budget 1 ms)" in exceeded.value.issue.message
    errors, _ = validate_against(schema, [{"m": 1}], budget_ms=30_000, isolate=True)
    assert issues(errors) == [("/0", "required")]


def test_a_check_past_the_workers_memory_limit_ends_in_words_and_the_worker_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(isolation, "MEMORY_LIMIT", 120 * 1024 * 1024)
    replace_the_worker()  # the next one starts under the lower limit
    schema = {"type": "array"}

    with pytest.raises(BudgetExceeded) as exceeded:
        # 100 MB of text: read and parsed, it needs more than the worker's whole address space
        validate_against(schema, ["x" * 1_000_000] * 100, budget_ms=60_000, isolate=True)

    assert exceeded.value.issue.keyword == "budget"
    assert exceeded.value.issue.message == (
        "the check needed more than the validation worker's 120 MiB of memory"
    )
    monkeypatch.undo()
    replace_the_worker()  # the next one starts under the usual limit
    assert validate_against(schema, [1, 2], budget_ms=30_000, isolate=True) == ([], [])
