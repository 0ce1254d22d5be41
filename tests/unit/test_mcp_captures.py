"""What ``receiver mcp`` shows an agent of a capture: the body as text or base64 within its
bound, the summary line, and the filters a wait applies itself."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from receiver.mcp.api import ReceiverError
from receiver.mcp.captures import Filters
from receiver.mcp.captures import body_view
from receiver.mcp.captures import summary
from receiver.mcp.captures import verdict_text
from receiver.mcp.tools import bin_id_of

PNG = b"\x89PNG\r\n\x1a\n"


def captured(body: bytes, **fields: Any) -> dict[str, Any]:
    """A capture in the API's shape."""
    return {
        "id": 7,
        "seq": 3,
        "method": "POST",
        "path": "/hooks",
        "query_string": "",
        "headers": [["Content-Type", "application/json"]],
        "content_type": "application/json",
        "size": len(body),
        "body_base64": base64.b64encode(body).decode(),
        "event": {"provider": None, "event": None, "candidates": []},
        "validation": {"status": "valid", "errors": [], "warnings": []},
        "signature": {"status": "not_configured", "scheme": None, "reason": None},
        "response": {"status": 200},
        **fields,
    }


@pytest.mark.parametrize(
    ("body", "limit", "expected"),
    [
        (b'{"a": 1}', 100, ('{"a": 1}', "text", False)),
        (b"0123456789", 4, ("0123", "text", True)),
        # cut inside the two bytes of "é": the whole characters before it are text
        ("abé".encode(), 3, ("ab", "text", True)),
        (
            b"\x89PNG\r\n\x1a\n",
            100,
            (base64.b64encode(b"\x89PNG\r\n\x1a\n").decode(), "base64", False),
        ),
        (b"\xff\xfe\xfd\xfc", 2, (base64.b64encode(b"\xff\xfe").decode(), "base64", True)),
        (b"", 100, ("", "text", False)),
    ],
    ids=["json", "cut text", "cut character", "binary", "cut binary", "empty"],
)
def test_the_body_is_text_when_it_is_text_and_base64_otherwise_within_its_bound(
    body: bytes, limit: int, expected: tuple[str, str, bool]
):
    view = body_view(captured(body), limit)
    assert (view["body"], view["body_encoding"], view["body_truncated"]) == expected


def test_a_head_of_the_body_counts_as_truncated_against_the_capture_size():
    head = captured(b"x" * 10, size=1000)
    assert body_view(head, 100)["body_truncated"] is True


def test_the_summary_says_what_arrived_what_it_is_its_verdict_signature_and_answer():
    item = captured(
        b"{}",
        query_string="attempt=2",
        event={"provider": "appery", "event": "PROJECT_BUILD_IOS_FAIL", "candidates": []},
        validation={
            "status": "invalid",
            "errors": [
                {"path": "/build/status", "message": "'x' is not 'failed'", "keyword": "const"},
                {"path": "", "message": "'project' is required", "keyword": "required"},
            ],
        },
        signature={"status": "failed", "scheme": "hmac-sha256", "reason": "no match"},
        response={"status": 422},
    )
    line = summary(item)
    assert line.startswith("#3 POST /hooks?attempt=2 (application/json, 2 bytes)")
    assert "event appery/PROJECT_BUILD_IOS_FAIL" in line
    assert "invalid: 2 errors: /build/status: 'x' is not 'failed' [const]" in line
    assert "(root): 'project' is required [required]" in line
    assert "signature failed (no match)" in line and line.endswith("answered 422")


def test_the_verdict_text_lists_the_first_errors_and_counts_the_rest():
    errors = [{"path": f"/a/{n}", "message": "bad", "keyword": "type"} for n in range(5)]
    text = verdict_text({"status": "invalid", "errors": errors})
    assert text.startswith("invalid: 5 errors: /a/0: bad [type]; /a/1")
    assert "/a/3" not in text and text.endswith("and 2 more")
    assert verdict_text({"status": "not_json"}) == "not_json"


def test_filters_match_method_in_any_case_and_the_verdict():
    item = captured(b"{}", method="POST", validation={"status": "invalid"})
    assert Filters().matches(item)
    assert Filters(method="post").matches(item)
    assert not Filters(method="GET").matches(item)
    assert Filters(verdict="invalid").matches(item)
    assert not Filters(verdict="valid").matches(item)
    assert Filters().describe() == "request"
    assert Filters(method="POST", verdict="invalid").describe() == (
        "request matching method='POST' and verdict='invalid'"
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("my-bin", "my-bin"),
        (" Z3xRandom_Id-42 ", "Z3xRandom_Id-42"),
        ("http://127.0.0.1:5000/b/my-bin/github/push?x=1", "my-bin"),
        ("https://hooks.example.com/receiver/bins/my-bin", "my-bin"),
        ("https://hooks.example.com/api/bins/my-bin/requests", "my-bin"),
    ],
)
def test_a_bin_is_named_by_its_id_or_any_of_its_urls(given: str, expected: str):
    assert bin_id_of(given) == expected


@pytest.mark.parametrize("given", ["", "two words", "https://example.com/", "../b/x"])
def test_anything_else_is_refused_in_words(given: str):
    with pytest.raises(ReceiverError, match="neither a bin id nor a bin's URL"):
        bin_id_of(given)
