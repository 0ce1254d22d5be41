"""The served API document and the app agree on every case where Schemathesis 4.32.5 found them
apart (issue 16): a request the document calls valid is accepted, one it calls invalid is refused
with a 400, and a URL that cannot be used is refused saying why (issue 18, item 11).

The document is read as Schemathesis and JSON Schema read it: with an ECMA-262 regex engine
(jsonschema-rs), where ``\\s`` leaves out U+001C to U+001F and U+0085.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from flask.testing import FlaskClient

DOC_URI = "urn:receiver:served"
HTTP_URL_REFUSALS = [
    ("http://[::1", "has no ] to close its IPv6 host"),
    ("http://[zz]/x", "has a host that is not an IPv6 address: [zz]"),
    ("https://[::1]:99999/", "has a port that is not a number from 1 to 65535"),
]


@pytest.fixture
def doc(client: FlaskClient) -> dict[str, Any]:
    return client.get("/api/openapi.json").get_json()


def documented(doc: dict[str, Any], pointer: str, value: Any) -> bool:
    """Whether ``value`` is valid against the schema at ``pointer`` of the served document."""
    registry = jsonschema_rs.Registry([(DOC_URI, doc)])
    validator = jsonschema_rs.validator_for(
        {"$ref": f"{DOC_URI}#{pointer}"}, registry=registry, validate_formats=True
    )
    return validator.is_valid(value)


def a_listener_with_a_capture(client: FlaskClient, bins: Any) -> str:
    bin_id = bins.create()["id"]
    bins.ingest(bin_id, body=b"{}")
    assert client.put(f"/api/bins/{bin_id}/listeners/laptop").status_code == 201
    return bin_id


REPORT = {"request_id": 1, "delivered": True, "url": "http://127.0.0.1:9/", "method": "POST"}
# (schema, body, what the app answers when it accepts it) for the bodies that drifted apart
BODIES = [
    ("BinSettings", {"label": "a\x00b"}, 200),
    ("BinSettings", {"signature": {"secret": "\x00"}}, 200),
    ("BinSettings", {"forward_url": "https://example.com/\x1c"}, 200),
    ("BinSettings", {"forward_url": "https://example.com/\x85"}, 200),
    ("BinSettings", {"signature": {"scheme": "stripe", "previous_secrets": ["old"]}}, 200),
    ("BinSettings", {"response_script": [{"status": 503}, {"body": "ok"}]}, 200),
    ("BinSettings", {"forward_url": "HTTP://[2001:db8::1]:8080/x"}, 200),
    *[("BinSettings", {"forward_url": url}, 200) for url, _ in HTTP_URL_REFUSALS],
    ("BinCreate", {"response": {"status": 202}, "forward_url": "http://127.0.0.1:9/"}, 201),
    ("BinCreate", {"provider": "p" * 65}, 201),
]


@pytest.mark.parametrize(("schema", "body", "accepted"), BODIES)
def test_bin_bodies_are_accepted_exactly_when_documented(
    client: FlaskClient, bins: Any, doc: dict[str, Any], schema: str, body: Any, accepted: int
) -> None:
    valid = documented(doc, f"/components/schemas/{schema}", body)
    if schema == "BinCreate":
        answer = client.post("/api/bins", json=body)
    else:
        answer = client.patch(f"/api/bins/{bins.create()['id']}", json=body)
    assert answer.status_code == (accepted if valid else 400), answer.get_json()


@pytest.mark.parametrize(
    ("report", "valid"),
    [
        ({**REPORT, "seq": 1.0, "status_code": 200.0}, True),  # JSON Schema's integers
        ({**REPORT, "seq": 1, "status_code": None, "error": None}, False),
        ({**REPORT, "seq": 1, "error": "refused", "url": "http://[::1"}, False),
        ({**REPORT, "seq": 1, "error": "x", "response_body_base64": "not base64"}, False),
        ({**REPORT, "seq": 1, "error": "\x00"}, False),
    ],
)
def test_listener_reports_are_accepted_exactly_when_documented(
    client: FlaskClient, bins: Any, doc: dict[str, Any], report: dict[str, Any], valid: bool
) -> None:
    assert documented(doc, "/components/schemas/DeliveryReport", report) is valid
    bin_id = a_listener_with_a_capture(client, bins)
    answer = client.post(f"/api/bins/{bin_id}/listeners/laptop/deliveries", json=report)
    assert answer.status_code == (200 if valid else 400), answer.get_json()


@pytest.mark.parametrize(
    ("headers", "valid"),
    [(["X-Acme-Event"], True), ([""], False), (["X Acme"], False), (["x" * 101], False)],
)
def test_detection_headers_are_accepted_exactly_when_documented(
    client: FlaskClient, doc: dict[str, Any], headers: list[str], valid: bool
) -> None:
    body = {"detection": {"headers": headers}}
    assert documented(doc, "/components/schemas/ProviderPut", body) is valid
    answer = client.put("/api/catalog/acme", json=body)
    assert answer.status_code == (201 if valid else 400), answer.get_json()


@pytest.mark.parametrize(
    ("parameter", "query", "valid"),
    [
        ("feed_path_prefix", {"path_prefix": ""}, False),
        ("feed_path_prefix", {"path_prefix": "/hooks"}, True),
        ("feed_event", {"event": ["\x1f"]}, False),
        ("feed_event", {"event": ["a\x00b"]}, False),  # no database takes a NUL in text
        ("feed_path_prefix", {"path_prefix": "/a\x00"}, False),
        ("q", {"q": "\x1f\r\x0c\t\x0c\r"}, False),  # U+001F: Python strips it, ECMA's \s not
        ("q", {"q": "\u200b"}, True),
        ("method", {"method": "\x1cGET"}, True),
    ],
)
def test_filters_are_accepted_exactly_when_documented(
    client: FlaskClient,
    bins: Any,
    doc: dict[str, Any],
    parameter: str,
    query: dict[str, Any],
    valid: bool,
) -> None:
    schema = doc["components"]["parameters"][parameter]["schema"]
    value = next(iter(query.values()))
    assert documented(doc, f"/components/parameters/{parameter}/schema", value) is valid
    assert schema  # the parameter is documented
    bin_id = bins.create()["id"]
    where = "feed" if parameter.startswith("feed_") else "requests"
    answer = client.get(f"/api/bins/{bin_id}/{where}", query_string=query)
    assert answer.status_code == (200 if valid else 400), answer.get_json()


@pytest.mark.parametrize("provider", [".acme", "a\x00", "p" * 65])
def test_catalog_deletes_document_the_ids_they_take(
    client: FlaskClient, doc: dict[str, Any], provider: str
) -> None:
    for path in ("/api/catalog/{provider}/{event}", "/api/catalog/{provider}/{event}/example"):
        item = doc["paths"][path]
        parameters = [*item.get("parameters", []), *item["delete"].get("parameters", [])]
        names = [p["$ref"].rsplit("/", 1)[-1] for p in parameters]
        assert "catalog_provider_id" in names, path
    assert not documented(doc, "/components/parameters/catalog_provider_id/schema", provider)
    answer = client.delete(f"/api/catalog/{provider}/event")
    assert answer.status_code == 400, answer.get_json()


def test_white_space_alone_is_no_json_body(client: FlaskClient) -> None:
    answer = client.post("/api/bins", data=b"\x0c", content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(("url", "why"), HTTP_URL_REFUSALS)
def test_every_url_the_api_takes_is_refused_saying_why_when_it_cannot_be_used(
    client: FlaskClient, bins: Any, url: str, why: str
) -> None:
    bin_id = bins.create()["id"]
    request_id = bins.ingest(bin_id, body=b"{}").get_json()["request_id"]
    answers = {
        "forward_url": client.patch(f"/api/bins/{bin_id}", json={"forward_url": url}),
        "replay": client.post(
            f"/api/bins/{bin_id}/requests/{request_id}/replay", json={"url": url}
        ),
        "scenario": client.post(f"/api/bins/{bin_id}/scenarios", json={"url": url}),
        "catch-up": client.post(f"/api/bins/{bin_id}/forward", json={"url": url}),
    }
    for name, answer in answers.items():
        assert answer.status_code == 400, (name, answer.get_json())
        assert why in answer.get_json()["error"]["message"], name
    assert client.get(f"/api/bins/{bin_id}").get_json()["forward_url"] is None
    assert client.get(f"/api/bins/{bin_id}/scenarios").get_json() == {"scenarios": []}
