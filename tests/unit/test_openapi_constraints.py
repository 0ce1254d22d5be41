"""The documented constraints are the enforced ones: a value is valid in the OpenAPI document
exactly when the code that checks it accepts it (settings, replays, list filters).

Each table row is checked both ways, so a fuzzer that generates "valid" requests from the document
is never refused, and a value the code refuses is never documented as valid.
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
    try:
        lifecycle.apply_settings(new_bin(), changes, max_delay_ms=MAX_DELAY_MS)
    except lifecycle.BinError:
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
    ({"forward_url": "https://example.com/hooks"}, True),
    ({"forward_url": "ftp://example.com/"}, False),
    ({"forward_url": "https://" + "x" * 1992}, True),
    ({"forward_url": "https://" + "x" * 1993}, False),
    ({"forward_url": None}, True),
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
    """True when the replay view's checks and the outgoing request's checks both pass."""
    found = new_bin(signature_scheme="hmac-sha256" if secret else None, signature_secret=secret)
    try:
        options = replay_options(body, found)
        prepare_outgoing(Captured(), now=NOW, target_url=options.pop("url"), **options)
    except (ApiError, OutgoingError):
        return False
    return True


# (url, valid in the document, accepted by the code): the document may be stricter than the
# code where a pattern cannot say more (an upper-case scheme, a space httpx would escape)
URL_CASES = [
    ("http://localhost:8000/hooks", True, True),
    ("https://example.com", True, True),
    ("https://hooks.example.co.uk:8443/a/b?c=d&e=%20#frag", True, True),
    ("http://127.0.0.1:5000/", True, True),
    ("http://255.255.255.255/", True, True),
    ("http://[::1]:8080/x", True, True),
    ("http://my-host/path/with/~tilde/(parens)!", True, True),
    ("HTTP://example.com/", False, True),
    ("http://example.com/a b", False, True),
    ("http://1.2.3.999/", False, False),
    ("http://example.com/\x00", False, False),
    ("ftp://example.com/", False, False),
    ("mailto:someone@example.com", False, False),
    ("http://user:secret@example.com/", False, False),
    ("http:///nohost", False, False),
    ("example.com", False, False),
    ("", False, False),
]


@pytest.mark.parametrize(("url", "valid", "accepted"), URL_CASES)
def test_replay_targets_documented_as_enforced(
    doc: dict[str, Any], url: str, valid: bool, accepted: bool
) -> None:
    assert documented(doc, "/components/schemas/HttpUrl", url) is valid
    assert replay_accepted({"url": url}) is accepted


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
