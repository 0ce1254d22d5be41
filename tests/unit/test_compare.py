"""Comparing two captures (issue 18, item 18): the request line, headers, and bodies by JSON
Pointer, by line or by byte, each bounded."""

from __future__ import annotations

import pytest

from receiver.capture import compare as compare_module
from receiver.capture.compare import BODY_MAX
from receiver.capture.compare import CHANGES_MAX
from receiver.capture.compare import Change
from receiver.capture.compare import Side
from receiver.capture.compare import compare
from receiver.capture.compare import compare_headers
from receiver.capture.compare import compare_json
from receiver.capture.compare import first_difference


def side(body: bytes = b"", headers: list[tuple[str, str]] | None = None, **line: str) -> Side:
    return Side(
        line.get("method", "POST"),
        line.get("path", "/"),
        line.get("query", ""),
        headers or [],
        body,
    )


def test_two_identical_captures_are_the_same():
    first = side(b'{"a": 1}', [("Content-Type", "application/json")])
    assert compare(first, first).same


def test_the_request_line_is_compared_part_by_part():
    result = compare(side(method="POST", path="/a", query="x=1"), side(method="PUT", path="/a"))
    assert result.request == [
        Change("changed", "method", "POST", "PUT"),
        Change("changed", "query", "x=1", ""),
    ]


def test_headers_added_removed_and_changed_by_name_in_any_case():
    first = [("Host", "a"), ("X-Trace", "1"), ("X-Dup", "one"), ("X-Dup", "two"), ("X-Gone", "g")]
    second = [("host", "a"), ("X-Trace", "2"), ("X-Dup", "one"), ("X-New", "n")]
    changes, truncated = compare_headers(first, second)
    assert not truncated
    assert changes == [
        Change("changed", "X-Trace", "1", "2"),
        Change("changed", "X-Dup", "one\ntwo", "one"),  # a repeat dropped
        Change("removed", "X-Gone", "g", None),
        Change("added", "X-New", None, "n"),
    ]


def test_json_bodies_differ_by_pointer_in_document_order():
    first = {"id": 1, "data": {"amount": 10, "note": "x", "tags": ["a", "b"]}, "ok": True}
    second = {"id": "1", "data": {"amount": 12, "tags": ["a"], "new/field": None}, "ok": True}
    changes, truncated = compare_json(first, second)
    assert not truncated
    assert changes == [
        Change("type", "/id", "1", '"1"'),
        Change("changed", "/data/amount", "10", "12"),
        Change("removed", "/data/note", '"x"', None),
        Change("removed", "/data/tags/1", '"b"', None),
        Change("added", "/data/new~1field", None, "null"),
    ]


def test_booleans_are_not_numbers_and_equal_numbers_are_the_same():
    changes, _ = compare_json({"a": 1, "b": 1.0, "c": True}, {"a": 1.0, "b": 1, "c": 1})
    assert changes == [Change("type", "/c", "true", "1")]


def test_a_json_body_compared_with_another_json_body():
    result = compare(side(b'{"a": [1, 2]}'), side(b'{"a": [1, 3]}'))
    assert result.body.kind == "json"
    assert result.body.changes == [Change("changed", "/a/1", "2", "3")]


def test_text_bodies_differ_by_line():
    result = compare(side(b"one\ntwo\nthree\n"), side(b"one\n2\nthree\n"))
    assert result.body.kind == "text"
    assert "-two" in result.body.lines and "+2" in result.body.lines


def test_binary_bodies_differ_from_their_first_differing_byte():
    first, second = bytes(range(256)), bytes(range(100)) + b"\xff" + bytes(range(101, 256))
    result = compare(side(first), side(second))
    assert result.body.kind == "bytes"
    assert result.body.first_difference == 100
    assert result.body.windows is not None
    assert result.body.windows[0].split()[16] == "64" and result.body.windows[1].split()[16] == "ff"


def test_a_shorter_body_differs_where_it_ends():
    assert first_difference(b"abc", b"abcdef")[0] == 3
    assert first_difference(b"same", b"same") == (None, None)


def test_deep_json_is_walked_without_recursion():
    depth = 5_000
    first: object = 1
    second: object = 2
    for _ in range(depth):
        first, second = [first], [second]
    changes, _ = compare_json(first, second)
    assert len(changes) == 1 and changes[0].where == "/0" * depth


def test_many_changes_are_cut_at_the_bound():
    first = {str(n): n for n in range(CHANGES_MAX * 2)}
    second = {str(n): n + 1 for n in range(CHANGES_MAX * 2)}
    changes, truncated = compare_json(first, second)
    assert len(changes) == CHANGES_MAX and truncated


def test_a_huge_container_is_shown_by_its_size_not_whole():
    changes, _ = compare_json({}, {"big": list(range(100_000))})
    assert changes == [Change("added", "/big", None, "[… 100000 items]")]


def test_long_values_are_cut():
    changes, _ = compare_json({"a": "x" * 10_000}, {"a": "y"})
    assert changes[0].before is not None and len(changes[0].before) <= 201


def test_bodies_past_the_bound_are_compared_on_their_heads_and_say_so(monkeypatch):
    monkeypatch.setattr(compare_module, "BODY_MAX", 16)
    result = compare(side(b'{"a": "' + b"x" * 40 + b'"}'), side(b'{"a": "' + b"y" * 40 + b'"}'))
    assert result.body.kind == "text" and result.body.truncated


def test_a_head_that_is_all_the_same_still_says_the_bodies_differ():
    head = b"x" * 64
    result = compare(
        Side("POST", "/", "", [], head, complete=False),
        Side("POST", "/", "", [], head, complete=False),
        same_body=False,
    )
    assert result.body.kind == "text" and result.body.truncated and not result.same


@pytest.mark.parametrize("size", [BODY_MAX + 10])
def test_large_binary_bodies_are_compared_quickly_by_their_heads(size):
    first = bytes(size)
    second = bytes(size - 1) + b"\x01"
    result = compare(side(first), side(second))
    assert result.body.kind in ("bytes", "text") and result.body.truncated
