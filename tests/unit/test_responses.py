"""What a bin answers: default, custom, a response script's steps, a strict rejection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from receiver.bins.responses import KEPT_BODY
from receiver.bins.responses import AnswerSettings
from receiver.bins.responses import answer


def settings(**fields: Any) -> AnswerSettings:
    values: dict[str, Any] = {
        "status": 200,
        "headers": [],
        "body": None,
        "delay_ms": 0,
        "script": None,
        "script_base_seq": 0,
    }
    values.update(fields)
    return AnswerSettings(**values)


def test_default_answer_is_ok_json_with_the_request_id():
    given = answer(settings(), seq=1, request_id=42, max_delay_ms=1000)
    assert given.status == 200
    assert given.body == b'{"ok": true, "request_id": "42"}'
    assert given.headers == [("Content-Type", "application/json")]
    assert given.delay_ms == 0
    assert given.step is None


def test_custom_answer_is_given_as_configured():
    given = answer(
        settings(
            status=418,
            headers=[["X-Dup", "1"], ["X-Dup", "2"]],
            body="I'm a teapot ☕",
            delay_ms=300,
        ),
        seq=1,
        request_id=7,
        max_delay_ms=1000,
    )
    assert given.status == 418
    assert given.headers == [("X-Dup", "1"), ("X-Dup", "2")]
    assert given.body == "I'm a teapot ☕".encode()
    assert given.delay_ms == 300


def test_default_body_keeps_a_custom_content_type():
    given = answer(
        settings(headers=[["content-type", "text/plain"]]), seq=1, request_id=1, max_delay_ms=0
    )
    assert given.headers == [("content-type", "text/plain")]


@pytest.mark.parametrize(("configured", "cap", "given"), [(5000, 100, 100), (-5, 100, 0)])
def test_the_delay_is_clamped_to_the_cap(configured, cap, given):
    assert (
        answer(settings(delay_ms=configured), seq=1, request_id=1, max_delay_ms=cap).delay_ms
        == given
    )


def test_an_empty_custom_body_is_sent_empty():
    given = answer(settings(body=""), seq=1, request_id=1, max_delay_ms=0)
    assert given.body == b""
    assert given.headers == []


def test_forbidden_headers_never_reach_the_answer():
    given = answer(
        settings(headers=[["Set-Cookie", "a=1"], ["X-Ok", "1"]]),
        seq=1,
        request_id=1,
        max_delay_ms=0,
    )
    assert given.headers == [("X-Ok", "1"), ("Content-Type", "application/json")]


SCRIPT = [
    {"status": 500},
    {"status": 503, "headers": [["Retry-After", "1"]]},
    {"status": 200, "body": "ok"},
]


@pytest.mark.parametrize(
    ("seq", "status", "step"),
    [(10, 200, None), (11, 500, 0), (12, 503, 1), (13, 200, 2), (14, 418, None), (15, 418, None)],
)
def test_a_script_answers_the_captures_after_its_base_one_step_each(seq, status, step):
    given = answer(
        settings(status=418, script=SCRIPT, script_base_seq=10) if seq > 10 else settings(),
        seq=seq,
        request_id=seq,
        max_delay_ms=0,
    )
    assert (given.status, given.step) == (status, step)


def test_a_step_replaces_only_the_fields_it_names():
    bin_settings = settings(
        status=202, headers=[["X-Bin", "1"]], body="bin", delay_ms=5, script=SCRIPT
    )
    first = answer(bin_settings, seq=1, request_id=1, max_delay_ms=100)
    assert (first.status, first.headers, first.body, first.delay_ms) == (
        500,
        [("X-Bin", "1")],
        b"bin",
        5,
    )
    second = answer(bin_settings, seq=2, request_id=2, max_delay_ms=100)
    assert second.headers == [("Retry-After", "1")]
    third = answer(bin_settings, seq=3, request_id=3, max_delay_ms=100)
    assert (third.status, third.body) == (200, b"ok")


def test_a_strict_rejection_is_a_422_with_the_verdict_and_still_takes_its_step():
    verdict = {"status": "invalid", "errors": [{"path": "/a", "message": "m", "keyword": "type"}]}
    given = answer(settings(script=SCRIPT), seq=1, request_id=9, max_delay_ms=0, rejection=verdict)
    assert given.status == 422 and given.step == 0
    body = json.loads(given.body)
    assert body["request_id"] == "9"
    assert body["validation"] == verdict
    assert body["error"]["code"] == "invalid_payload"


def test_the_stored_form_keeps_the_head_of_a_long_body():
    long_body = "x" * (KEPT_BODY + 10)
    stored = answer(settings(body=long_body), seq=1, request_id=1, max_delay_ms=0).stored()
    assert stored["body"] == "x" * KEPT_BODY
    assert stored["body_size"] == KEPT_BODY + 10
    assert set(stored) == {"status", "headers", "body", "body_size", "delay_ms", "step"}
