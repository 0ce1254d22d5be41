"""Request bodies are checked against the API document's own schemas, and a refusal names the
field and says what is wrong in words (``exports.request_bodies``); the one URL rule
(``httpspec.url_problem``) says why a URL cannot be used."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from receiver.exports.openapi import PYTHON_SPACE
from receiver.exports.openapi import api_document
from receiver.exports.request_bodies import BodyError
from receiver.exports.request_bodies import body_schemas
from receiver.exports.request_bodies import check_body
from receiver.exports.request_bodies import field_name
from receiver.httpspec import url_problem

MAX_DELAY_MS = 1000


def refusal(component: str, body: Any) -> BodyError:
    with pytest.raises(BodyError) as raised:
        check_body(component, body, max_delay_ms=MAX_DELAY_MS)
    return raised.value


def test_every_json_body_of_the_document_has_its_schema() -> None:
    schemas = body_schemas(MAX_DELAY_MS)
    expected = {
        (method.upper(), path)
        for path, item in api_document()["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
        and "application/json" in operation.get("requestBody", {}).get("content", {})
    }
    assert set(schemas.operations) == expected
    assert len(expected) >= 11
    assert schemas.operation_body("patch", "/api/bins/{bin_id}") == "BinSettings"
    assert schemas.operation_body("GET", "/api/bins/{bin_id}") is None


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"response": {"status": 199}}, "response.status", "must be from 200 to 599"),
        ({"response": {"status": "201"}}, "response.status", "must be a whole number"),
        ({"response": {"status": False}}, "response.status", "must be a whole number"),
        ({"response": {"delay_ms": 1001}}, "response.delay_ms", "must be from 0 to 1000"),
        ({"response": {"delay_ms": True}}, "response.delay_ms", "must be a whole number"),
        ({"response": {"headers": [["X-A", "a\r\nb"]]}}, "response.headers[0][1]", "CR, LF"),
        ({"response": {"headers": [["X A", "v"]]}}, "response.headers[0][0]", "HTTP token"),
        ({"response": {"headers": [["", "v"]]}}, "response.headers[0][0]", "HTTP token"),
        (
            {"response": {"headers": [["Content-Length", "1"]]}},
            "response.headers[0][0]",
            "the server sets this header itself",
        ),
        (
            {"response": {"headers": {"te": "trailers"}}},
            "response.headers",
            'the name "te" in response.headers: the server sets this header itself',
        ),
        ({"response": {"headers": [["X-A"]]}}, "response.headers[0]", "must hold 2 items"),
        (
            {"response": {"headers": [["X-A", "v"]] * 51}},
            "response.headers",
            "must hold at most 50 items",
        ),
        ({"response": {"body": "x" * 65537}}, "response.body", "at most 65536 characters"),
        ({"response": {"unknown": 1}}, "response", "unknown field in response: 'unknown'"),
        ({"response": []}, "response", "must be an object"),
        ({"response_script": [{"status": 99}]}, "response_script[0].status", "from 200"),
        ({"signature": {"scheme": "sha1"}}, "signature.scheme", '"stripe", "qovery"'),
        ({"signature": {"secret": ""}}, "signature.secret", "must be 1 to 512 characters long"),
        ({"signature": {"header": "Bad Header"}}, "signature.header", "HTTP header name"),
        ({"signature": {"previous_secrets": ["s"] * 6}}, "signature.previous_secrets", "at most"),
        ({"signature": []}, "signature", "must be an object or null"),
        ({"forward_url": "file:///etc/passwd"}, "forward_url", "is not an http:// or https://"),
        ({"forward_url": "https://" + "a" * 2000}, "forward_url", "at most 2000 characters"),
        ({"private": 1}, "private", "must be true or false"),
        ({"label": 5}, "label", "must be text without a NUL character"),
        ({"label": "a\x00"}, "label", "without a NUL character"),
        ({"event": "e" * 129}, "event", "at most 128 characters"),
        ({"colour": "red"}, "the body", "unknown field: 'colour'"),
        ([], "the body", "the body must be an object"),
    ],
    ids=lambda value: repr(value)[:40] if not isinstance(value, str) else None,
)
def test_a_refused_setting_names_its_field_and_says_what_is_wrong(
    body: Any, field: str, message: str
) -> None:
    refused = refusal("BinSettings", body)
    assert refused.field == field
    assert message in refused.message
    assert field in refused.message or message.startswith("unknown field")


@pytest.mark.parametrize(
    ("component", "body", "message"),
    [
        ("ReplayCreate", {}, "url is required"),
        ("ReplayCreate", {"url": "http://a/", "body": "x", "body_base64": "eA=="}, "not both"),
        ("ReplayCreate", {"url": "http://a/", "body_base64": "eA"}, "base64 (RFC 4648"),
        ("ScenarioCreate", {"url": "http://a/", "timing": {"mode": "interval"}}, "timing.ms"),
        (
            "ScenarioCreate",
            {"url": "http://a/", "timing": {"mode": "original", "speed": 0}},
            "timing.speed must be from 0.01 to 1000",
        ),
        ("ScenarioCreate", {"url": "http://a/", "request_ids": [1], "filter": {}}, "not both"),
        ("ListenerOpen", {"from": "then"}, 'from must be "now" or "start"'),
        ("ListenerOpen", {"from": "now", "position": 1}, "give from or position, not both"),
        (
            "DeliveryReport",
            {"request_id": 1, "seq": 1, "delivered": True, "url": "http://a/", "method": "GET"},
            "the body needs 'status_code' or 'error'",
        ),
        ("ForwardCatchUp", {"since": "yesterday"}, "since must be a valid date-time"),
        ("ProviderPut", {"detection": {"headers": [""]}}, "detection.headers[0] must be an HTTP"),
        ("CatalogEventPut", {"schema": {}, "description": 5}, "description must be"),
    ],
)
def test_every_body_is_refused_in_words(component: str, body: Any, message: str) -> None:
    assert message in refusal(component, body).message


def test_the_documents_patterns_are_checked_as_ecma_262_reads_them() -> None:
    """Trap 18: the app checks with the document's own dialect, jsonschema-rs's ECMA-262
    translation: ``$`` ends the text (Python's ``re`` lets a final newline through) and ``\\s``
    is ECMA's white space (U+001C and U+0085 are not in it; U+00A0 and U+FEFF are)."""
    with pytest.raises(BodyError):
        check_body("BinCreate", {"id": "abc\n"}, max_delay_ms=MAX_DELAY_MS)
    ecma = jsonschema_rs.validator_for({"type": "string", "pattern": r"^\S+$"})
    assert ecma.is_valid("a\x1cb") and ecma.is_valid("a\x85b")
    assert not ecma.is_valid("a\u00a0b") and not ecma.is_valid("a\ufeffb")


def test_python_space_is_what_strip_removes() -> None:
    """The trimmed filters' patterns use ``PYTHON_SPACE``: exactly the characters the code's
    ``str.strip()`` removes."""
    import re

    spaces = re.compile(f"[{PYTHON_SPACE}]")
    for code in range(0x110000):
        char = chr(code)
        assert bool(spaces.fullmatch(char)) is char.isspace(), hex(code)


def test_field_names_read_as_paths() -> None:
    assert field_name([]) == "the body"
    assert field_name(["response", "headers", 0, 1]) == "response.headers[0][1]"
    assert field_name([3]) == "[3]"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://localhost:8000/hooks", None),
        ("HTTPS://[2001:db8::1]:443/x", None),
        ("http://docker_service/", None),
        ("http://bücher.example/", None),
        ("", "is empty"),
        ("http://a/\x7f", "contains control characters"),
        ("ftp://a/", "is not an http:// or https:// URL"),
        ("http://u:p@a/", "carries credentials"),
        ("http://[::1", "has no ] to close its IPv6 host"),
        ("http://[zz]/x", "has a host that is not an IPv6 address: [zz]"),
        ("http://[::1]x/", "has text after its IPv6 host"),
        ("https://[::1]:99999/", "has a port that is not a number from 1 to 65535: '99999'"),
        ("http://a:0/", "has a port that is not a number from 1 to 65535: '0'"),
        ("http://a:x/", "has a port that is not a number from 1 to 65535: 'x'"),
        ("http:///x", "has no host"),
        ("http://a]b/", "has a [ or ] outside an IPv6 host"),
        ("http://a!b/", "has a host that is not a name or an IP address: a!b"),
        ("http://1.2.3.999/", "has a host that is not an IPv4 address: 1.2.3.999"),
        ("http://\u0300x/", "is not a valid URL"),
    ],
)
def test_the_url_rule_says_why_a_url_cannot_be_used(url: str, problem: str | None) -> None:
    found = url_problem(url)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)


def test_every_checked_body_can_be_refused_as_documented() -> None:
    """A body the document refuses is a 400, one sent as another media type a 415: every
    operation whose JSON body is checked says both."""
    for path, item in api_document()["paths"].items():
        for method, operation in item.items():
            if method != "parameters" and "requestBody" in operation:
                content = operation["requestBody"]["content"]
                if "application/json" in content:
                    assert {"400", "415"} <= set(operation["responses"]), (method, path)
