"""The documented constraints are the enforced ones: a value is valid in the OpenAPI document
exactly when the app accepts it (settings, replays, list filters).

The app checks request bodies against the document's own schemas (``exports.request_bodies``)
and adds only what a schema cannot say (a URL that cannot be used, re-signing without a secret).
Each table row is checked both ways, with an independent validator (Python's ``jsonschema``) on
the document, so a fuzzer that generates "valid" requests from it is never refused and a value
the app refuses is never documented as valid.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any
from typing import NamedTuple

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing import Resource
from referencing.jsonschema import DRAFT202012

from receiver.bins import lifecycle
from receiver.capture import listing
from receiver.catalog.model import load_catalog
from receiver.catalog.validation import VERDICTS
from receiver.delivery.http import OutgoingError
from receiver.delivery.http import prepare_outgoing
from receiver.exports.openapi import build_openapi
from receiver.exports.request_bodies import BodyError
from receiver.exports.request_bodies import check_body
from receiver.httpspec import url_problem
from receiver.storage.models import Bin
from receiver.web.api.common import ApiError
from receiver.web.api.delivery import replay_options

DOC_URI = "urn:receiver:openapi"
MAX_DELAY_MS = 2500
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
ID_MAX = 2**63 - 1
SERVER_SET = ("Set-Cookie", "set-cookie", "CONTENT-LENGTH", "Transfer-Encoding", "te", "Upgrade")


class Captured(NamedTuple):
    """A captured request, as much of one as a replay reads."""

    method: str = "POST"
    path: str = "/hooks"
    query_string: str = "a=1"
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    body: bytes = b"{}"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return build_openapi(load_catalog(), max_delay_ms=MAX_DELAY_MS)


def documented(doc: dict[str, Any], pointer: str, value: Any) -> bool:
    """True when ``value`` is valid against the schema at ``pointer`` of the document."""
    registry = Registry().with_resource(DOC_URI, Resource(contents=doc, specification=DRAFT202012))
    validator = Draft202012Validator(
        {"$ref": f"{DOC_URI}#{pointer}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    return validator.is_valid(value)


def new_bin(**fields: Any) -> Bin:
    """A bin that is never stored: ``apply_settings`` only reads and sets attributes."""
    return Bin(id="abc", label="", response_headers=[], **fields)


def settings_accepted(changes: dict[str, Any]) -> bool:
    """True when the app's check of a settings body and the settings code both pass."""
    try:
        check_body("BinSettings", changes, max_delay_ms=MAX_DELAY_MS)
        lifecycle.apply_settings(new_bin(), changes)
    except (BodyError, lifecycle.BinError):
        return False
    return True


HEADER_PAIRS = [[f"X-H{i}", str(i)] for i in range(50)]

SETTINGS_CASES = [
    ({"label": "x" * 200}, True),
    ({"label": "x" * 201}, False),
    ({"label": None}, True),
    ({"private": True, "strict_validation": False}, True),
    ({"private": "yes"}, False),
    ({"provider": "p" * 64, "event": None}, True),
    ({"provider": "p" * 65}, False),
    ({"response": {"status": 200}}, True),
    ({"response": {"status": 599}}, True),
    ({"response": {"status": 199}}, False),
    ({"response": {"status": 600}}, False),
    ({"response": {"status": True}}, False),
    ({"response": {"delay_ms": 0}}, True),
    ({"response": {"delay_ms": MAX_DELAY_MS}}, True),
    ({"response": {"delay_ms": MAX_DELAY_MS + 1}}, False),
    ({"response": {"delay_ms": -1}}, False),
    ({"response": {"body": "x" * 65536}}, True),
    ({"response": {"body": "x" * 65537}}, False),
    ({"response": {"body": None}}, True),
    ({"response": {"headers": [["X-A", "1"], ["X-A", "2"]]}}, True),
    ({"response": {"headers": {"X-A": "1", "Content-Type": "text/plain"}}}, True),
    ({"response": {"headers": HEADER_PAIRS}}, True),
    ({"response": {"headers": [*HEADER_PAIRS, ["X-Last", "1"]]}}, False),
    ({"response": {"headers": [["X A", "1"]]}}, False),
    ({"response": {"headers": [["", "1"]]}}, False),
    ({"response": {"headers": [["X-A", "a\r\nInjected: 1"]]}}, False),
    ({"response": {"headers": [["X-A", "tab\there, é"]]}}, True),
    ({"response": {"headers": [["X-A"]]}}, False),
    ({"response": {"headers": {"X-A": 1}}}, False),
    ({"response": {"status": 200, "colour": "red"}}, False),
    ({"response": None}, False),
    ({"signature": {"scheme": "stripe", "secret": "whsec_1"}}, True),
    ({"signature": {"scheme": "md5"}}, False),
    ({"signature": {"secret": ""}}, False),
    ({"signature": {"secret": "s" * 512}}, True),
    ({"signature": {"secret": "s" * 513}}, False),
    ({"signature": {"header": "X-Signature"}}, True),
    ({"signature": {"header": "X Signature"}}, False),
    ({"signature": None}, True),
    ({"signature": {"previous_secrets": ["old", "older"]}}, True),
    ({"signature": {"previous_secrets": ["s"] * 5}}, True),
    ({"signature": {"previous_secrets": ["s"] * 6}}, False),
    ({"signature": {"previous_secrets": [""]}}, False),
    ({"signature": {"previous_secrets": None}}, True),
    ({"signature": {"header": "X-" + "s" * 126}}, True),
    ({"signature": {"header": "X-" + "s" * 127}}, False),
    ({"response_script": [{"status": 503}, {"delay_ms": MAX_DELAY_MS}, {}]}, True),
    ({"response_script": [{"status": 99}]}, False),
    ({"response_script": [{"colour": "red"}]}, False),
    ({"response_script": [{}] * 101}, False),
    ({"response_script": []}, True),
    ({"response_script": None}, True),
    ({"forward_url": "https://example.com/hooks"}, True),
    ({"forward_url": "ftp://example.com/"}, False),
    ({"forward_url": "https://" + "x" * 1992}, True),
    ({"forward_url": "https://" + "x" * 1993}, False),
    ({"forward_url": "https://example.com/\x1c"}, False),
    ({"forward_url": "http://[::1"}, False),
    ({"forward_url": "http://[zz]/x"}, False),
    ({"forward_url": "https://[::1]:99999/"}, False),
    ({"forward_url": ""}, True),
    ({"forward_url": None}, True),
    ({"label": "a\x00b"}, False),
    ({"provider": "a\x00"}, False),
    ({"response": {"body": "a\x00"}}, False),
    ({"signature": {"secret": "\x00"}}, False),
    ({"colour": "red"}, False),
] + [({"response": {"headers": [[name, "1"]]}}, False) for name in SERVER_SET]


@pytest.mark.parametrize(("changes", "valid"), SETTINGS_CASES)
def test_bin_settings_documented_as_enforced(
    doc: dict[str, Any], changes: dict[str, Any], valid: bool
) -> None:
    assert settings_accepted(changes) is valid
    assert documented(doc, "/components/schemas/BinSettings", changes) is valid


def test_the_delay_cap_is_the_one_given(doc: dict[str, Any]) -> None:
    other = build_openapi(load_catalog(), max_delay_ms=MAX_DELAY_MS + 100)
    changes = {"response": {"delay_ms": MAX_DELAY_MS + 100}}
    assert not documented(doc, "/components/schemas/BinSettings", changes)
    assert documented(other, "/components/schemas/BinSettings", changes)


def replay_accepted(body: dict[str, Any], *, secret: str | None = "s3cret") -> bool:
    """True when the app's check of a replay body, the replay view's and the outgoing request's
    checks all pass."""
    found = new_bin(signature_scheme="hmac-sha256" if secret else None, signature_secret=secret)
    try:
        check_body("ReplayCreate", body, max_delay_ms=MAX_DELAY_MS)
        options = replay_options(body, found)
        prepare_outgoing(Captured(), now=NOW, target_url=options.pop("url"), **options)
    except (BodyError, ApiError, OutgoingError):
        return False
    return True


# (url, valid): every URL the API takes (forward, replay, scenario, catch-up, listener reports)
URL_CASES = [
    ("http://localhost:8000/hooks", True),
    ("https://example.com", True),
    ("https://hooks.example.co.uk:8443/a/b?c=d&e=%20#frag", True),
    ("http://127.0.0.1:5000/", True),
    ("http://255.255.255.255/", True),
    ("http://[::1]:8080/x", True),
    ("http://[2001:db8::1]/", True),
    ("http://[::ffff:192.0.2.1]:65535/", True),
    ("http://my-host/path/with/~tilde/(parens)!", True),
    ("http://docker_service:8000/hooks", True),
    ("HTTP://example.com/", True),
    ("http://example.com:1/", True),
    ("http://example.com/a b", False),
    ("http://1.2.3.999/", False),
    ("http://1.2.3/", False),
    ("http://a!b/", False),
    ("http://example.com/\x00", False),
    ("http://example.com/\x1c", False),
    ("ftp://example.com/", False),
    ("mailto:someone@example.com", False),
    ("http://user:secret@example.com/", False),
    ("http:///nohost", False),
    ("example.com", False),
    ("", False),
    ("http://[::1", False),
    ("http://[zz]/x", False),
    ("https://[::1]:99999/", False),
    ("http://example.com:0/", False),
    ("http://example.com:/", False),
    ("http://[::1]x/", False),
]


@pytest.mark.parametrize(("url", "valid"), URL_CASES)
def test_replay_targets_documented_as_enforced(doc: dict[str, Any], url: str, valid: bool) -> None:
    assert documented(doc, "/components/schemas/HttpUrl", url) is valid
    assert replay_accepted({"url": url}) is valid
    if valid:  # the pattern says nothing the one URL rule refuses
        assert url_problem(url) is None


REPLAY_CASES = [
    ({"url": "http://localhost:8000/"}, True),
    ({}, False),
    ({"url": None}, False),
    ({"url": "http://localhost:8000/", "method": "PURGE"}, True),
    ({"url": "http://localhost:8000/", "method": "M-SEARCH"}, True),
    ({"url": "http://localhost:8000/", "method": "BAD METHOD"}, False),
    ({"url": "http://localhost:8000/", "method": ""}, False),
    ({"url": "http://localhost:8000/", "method": None}, True),
    ({"url": "http://localhost:8000/", "headers": [["X-A", "1"], ["X-A", "2"]]}, True),
    ({"url": "http://localhost:8000/", "headers": {"X-A": "1"}}, True),
    ({"url": "http://localhost:8000/", "headers": [["X-A", "tab\tok"]]}, True),
    ({"url": "http://localhost:8000/", "headers": [["X A", "1"]]}, False),
    ({"url": "http://localhost:8000/", "headers": [["X-A", "a\nb"]]}, False),
    ({"url": "http://localhost:8000/", "headers": [["X-A", "bell\x07"]]}, False),
    ({"url": "http://localhost:8000/", "headers": [["X-A"]]}, False),
    ({"url": "http://localhost:8000/", "headers": None}, True),
    ({"url": "http://localhost:8000/", "body": "{}"}, True),
    ({"url": "http://localhost:8000/", "body": 1}, False),
    ({"url": "http://localhost:8000/", "body_base64": "eyJhIjoxfQ=="}, True),
    ({"url": "http://localhost:8000/", "body_base64": ""}, True),
    ({"url": "http://localhost:8000/", "body_base64": "eyJhIjoxfQ"}, False),
    ({"url": "http://localhost:8000/", "body_base64": "not base64!"}, False),
    ({"url": "http://localhost:8000/", "body": "{}", "body_base64": "e30="}, False),
    ({"url": "http://localhost:8000/", "body": None, "body_base64": "e30="}, True),
    ({"url": "http://localhost:8000/", "append_path": False}, True),
    ({"url": "http://localhost:8000/", "append_path": None}, False),
    ({"url": "http://localhost:8000/", "resign": True}, True),
    ({"url": "http://localhost:8000/", "resign": False}, True),
    ({"url": "http://localhost:8000/", "extra": 1}, True),
    ({"url": "http://localhost:8000/", "body": "text with a NUL \x00 is sent as bytes"}, True),
]


@pytest.mark.parametrize(("body", "valid"), REPLAY_CASES)
def test_replay_bodies_documented_as_enforced(
    doc: dict[str, Any], body: dict[str, Any], valid: bool
) -> None:
    assert replay_accepted(body) is valid
    assert documented(doc, "/components/schemas/ReplayCreate", body) is valid


def test_resigning_needs_the_bins_secret_as_documented(doc: dict[str, Any]) -> None:
    body = {"url": "http://localhost:8000/", "resign": True}
    assert not replay_accepted(body, secret=None)
    resign = doc["components"]["schemas"]["ReplayCreate"]["properties"]["resign"]
    assert "400" in resign["description"]


def filter_accepted(name: str, raw: str) -> bool:
    """True when the listing's parsers accept ``raw`` as the query parameter ``name``."""
    try:
        if name == "limit":
            listing.parse_limit(raw)
        elif name in ("before", "after"):
            listing.parse_cursor(raw, name)
        else:
            args = {"method": None, "event": None, "validation": None, "q": None, name: raw}
            listing.parse_filter(args["method"], args["event"], args["validation"], args["q"])
    except listing.FilterError:
        return False
    return True


def as_documented(schema: dict[str, Any], raw: str) -> Any:
    """The query string ``raw`` as the document's type: an integer parameter takes digits."""
    if schema.get("type") == "integer":
        return int(raw) if raw.lstrip("-").isdigit() and raw.isascii() else raw
    return raw


FILTER_CASES = [
    ("limit", "1", True),
    ("limit", "500", True),
    ("limit", "0", False),
    ("limit", "501", False),
    ("limit", "ten", False),
    ("before", "0", True),
    ("before", str(ID_MAX), True),
    ("before", str(ID_MAX + 1), False),
    ("after", "-1", False),
    ("after", "1.5", False),
    ("method", "POST", True),
    ("method", "post", True),
    ("method", " GET ", True),
    ("method", "M-SEARCH", True),
    ("method", "X" * 16, True),
    ("method", "X" * 17, False),
    ("method", "GET POST", False),
    ("method", "GÉT", False),
    ("q", "x" * 200, True),
    ("q", "x" * 201, False),
    ("q", "", False),
    ("q", "   ", False),
    ("q", "\x1f\r\x0c\t", False),  # Python's strip() removes U+001F; ECMA's \s would not
    ("q", "\x85\u3000", False),
    ("q", "\u200b", True),  # zero width: not white space for either
    ("q", "a\x00", False),
    ("method", "\x1cGET\x1c", True),
    ("event", "\x00", False),
    ("method", "", False),
    ("event", "", False),
    ("event", "e" * 193, True),
    ("event", "e" * 194, False),
    ("event", " shop/order.paid ", True),
    ("event", "shop/", True),
    ("validation", "bogus", False),
] + [("validation", verdict, True) for verdict in VERDICTS]
PARAMETER_KEYS = {"event": "event_filter"}


@pytest.mark.parametrize(("name", "raw", "valid"), FILTER_CASES)
def test_list_filters_documented_as_enforced(
    doc: dict[str, Any], name: str, raw: str, valid: bool
) -> None:
    assert filter_accepted(name, raw) is valid
    pointer = f"/components/parameters/{PARAMETER_KEYS.get(name, name)}/schema"
    schema = doc["components"]["parameters"][PARAMETER_KEYS.get(name, name)]["schema"]
    assert documented(doc, pointer, as_documented(schema, raw)) is valid
