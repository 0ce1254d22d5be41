"""Exports through the API: HAR 1.2 for a bin or one request, curl lines, recordings.

The HAR documents are read by a real consumer (haralyzer) and checked against the required
fields of the HAR 1.2 spec; the curl line of each entry is run with the real curl binary against
a loopback target; a recording is read back by ``receiver.recordings`` and sent by ``flask send``.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from actions import store_captures
from haralyzer import HarParser
from servers import run

from receiver.capture.request import RawRequest
from receiver.delivery import recordings
from receiver.web.serving import RAW_HEADERS_KEY

BINARY = bytes(range(256)) * 3 + b"\xff\xfe"
# what a HAR 1.2 reader may rely on (http://www.softwareishard.com/blog/har-12-spec/)
NAME_VALUE = {
    "type": "object",
    "required": ["name", "value"],
    "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
}
HAR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["log"],
    "properties": {
        "log": {
            "type": "object",
            "required": ["version", "creator", "entries"],
            "properties": {
                "version": {"const": "1.2"},
                "creator": {
                    "type": "object",
                    "required": ["name", "version"],
                    "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
                },
                "entries": {"type": "array", "items": {"$ref": "#/$defs/entry"}},
            },
        }
    },
    "$defs": {
        "entry": {
            "type": "object",
            "required": ["startedDateTime", "time", "request", "response", "cache", "timings"],
            "properties": {
                "startedDateTime": {
                    "type": "string",
                    "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$",
                },
                "time": {"type": "number", "minimum": 0},
                "request": {"$ref": "#/$defs/request"},
                "response": {"$ref": "#/$defs/response"},
                "cache": {"type": "object"},
                "timings": {
                    "type": "object",
                    "required": ["send", "wait", "receive"],
                    "properties": {
                        "send": {"type": "number", "minimum": -1},
                        "wait": {"type": "number", "minimum": -1},
                        "receive": {"type": "number", "minimum": -1},
                    },
                },
            },
        },
        "request": {
            "type": "object",
            "required": [
                "method",
                "url",
                "httpVersion",
                "cookies",
                "headers",
                "queryString",
                "headersSize",
                "bodySize",
            ],
            "properties": {
                "method": {"type": "string"},
                "url": {"type": "string", "format": "uri"},
                "httpVersion": {"type": "string"},
                "cookies": {"type": "array", "items": NAME_VALUE},
                "headers": {"type": "array", "items": NAME_VALUE},
                "queryString": {"type": "array", "items": NAME_VALUE},
                "postData": {
                    "type": "object",
                    "required": ["mimeType"],
                    "properties": {
                        "mimeType": {"type": "string"},
                        "text": {"type": "string"},
                        "params": {"type": "array", "items": NAME_VALUE},
                    },
                },
                "headersSize": {"type": "integer"},
                "bodySize": {"type": "integer"},
            },
        },
        "response": {
            "type": "object",
            "required": [
                "status",
                "statusText",
                "httpVersion",
                "cookies",
                "headers",
                "content",
                "redirectURL",
                "headersSize",
                "bodySize",
            ],
            "properties": {
                "status": {"type": "integer"},
                "content": {
                    "type": "object",
                    "required": ["size", "mimeType"],
                    "properties": {"size": {"type": "integer"}, "mimeType": {"type": "string"}},
                },
            },
        },
    },
}


def read_har(response: Any) -> tuple[dict[str, Any], HarParser]:
    """The document, checked against HAR 1.2, and haralyzer's reading of it."""
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json"
    document = json.loads(response.get_data(as_text=True))
    jsonschema.validate(document, HAR_SCHEMA, format_checker=jsonschema.FormatChecker())
    return document, HarParser(document)


def entries_of(parser: HarParser) -> list[Any]:
    """haralyzer's entries of the (page-less) log, in its chronological order."""
    (page,) = parser.pages
    assert page.page_id == "unknown"
    return page.entries


SENT = [
    {
        "method": "POST",
        "path": "/github/push",
        "query": "a=1&a=2&b=%20x",
        "headers": [
            ("Content-Type", "application/json"),
            ("X-Repeat", "one"),
            ("X-Other", "between"),
            ("X-Repeat", "two"),
            ("Cookie", "session=abc; theme=dark"),
        ],
        "body": b'{"ref": "refs/heads/main", "caf\xc3\xa9": true}',
    },
    {
        "method": "PUT",
        "path": "",
        "query": "",
        "headers": [("Content-Type", "application/x-www-form-urlencoded")],
        "body": b"a=1&a=2&b=%20x+y",
    },
    {
        "method": "POST",
        "path": "/bin",
        "query": "",
        "headers": [("Content-Type", "application/octet-stream")],
        "body": BINARY,
    },
    {"method": "GET", "path": "/ping", "query": "x=%E2%9C%93", "headers": [], "body": b""},
]


def check_entry(entry: Any, sent: dict[str, Any], ingest_url: str, request_id: int) -> None:
    """A haralyzer entry says exactly what was captured."""
    request = entry.request
    assert request.method == sent["method"]
    expected_url = ingest_url + sent["path"] + (f"?{sent['query']}" if sent["query"] else "")
    assert request.url == expected_url
    assert request.headers == [{"name": n, "value": v} for n, v in sent["headers"]]
    assert request.httpVersion == "HTTP/1.1"
    assert request.bodySize == len(sent["body"])
    assert entry.startTime is not None
    assert entry["_receiver"]["request_id"] == request_id
    post = request.raw_entry.get("postData")
    content_type = dict(sent["headers"]).get("Content-Type", "")
    if not sent["body"]:
        assert post is None
    elif "_base64" in post:
        # HAR 1.2 has no encoding for request bodies: bytes that are not text are not in "text"
        assert "text" not in post and "params" not in post
        assert base64.b64decode(post["_base64"]) == sent["body"]
        assert sent["body"] == BINARY
    elif "params" in post:
        assert "text" not in post
        assert post["_text"].encode("utf-8") == sent["body"]
        assert content_type.startswith(post["mimeType"])
    else:
        assert post["text"].encode("utf-8") == sent["body"]
        assert request.mimeType == content_type


def test_bin_har_opens_in_a_har_reader_with_every_request(bins, client):
    created = bins.create()
    bin_id = created["id"]
    ids = [bins.capture(bin_id, **sent) for sent in SENT]

    response = client.get(f"/api/bins/{bin_id}/export.har")

    assert response.headers["Content-Disposition"] == f'attachment; filename="{bin_id}.har"'
    document, parser = read_har(response)
    assert parser.version == "1.2"
    assert parser.creator["name"] == "receiver"
    entries = entries_of(parser)
    assert len(entries) == len(SENT)
    for entry, sent, request_id in zip(entries, SENT, ids, strict=True):
        check_entry(entry, sent, created["ingest_url"], request_id)
    # the document itself lists them oldest first, as captured
    assert [e["_receiver"]["request_id"] for e in document["log"]["entries"]] == ids


def test_har_lists_query_cookies_and_form_params(bins, client):
    bin_id = bins.create()["id"]
    bins.capture(bin_id, **SENT[0])
    bins.capture(bin_id, **SENT[1])

    _, parser = read_har(client.get(f"/api/bins/{bin_id}/export.har"))

    first, second = entries_of(parser)
    assert first.request.queryString == [
        {"name": "a", "value": "1"},
        {"name": "a", "value": "2"},
        {"name": "b", "value": " x"},
    ]
    assert first.request.cookies == [
        {"name": "session", "value": "abc"},
        {"name": "theme", "value": "dark"},
    ]
    assert second.request.raw_entry["postData"]["params"] == [
        {"name": "a", "value": "1"},
        {"name": "a", "value": "2"},
        {"name": "b", "value": " x y"},
    ]


def test_request_har_holds_that_request_only(bins, client):
    created = bins.create()
    bin_id = created["id"]
    bins.capture(bin_id, **SENT[0])
    request_id = bins.capture(bin_id, **SENT[2])

    response = client.get(f"/api/bins/{bin_id}/requests/{request_id}/export.har")

    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{bin_id}-{request_id}.har"'
    )
    _, parser = read_har(response)
    (entry,) = entries_of(parser)
    check_entry(entry, SENT[2], created["ingest_url"], request_id)


def test_har_of_an_empty_bin_is_an_empty_log(bins, client):
    bin_id = bins.create()["id"]

    document, parser = read_har(client.get(f"/api/bins/{bin_id}/export.har"))

    assert document["log"]["entries"] == []
    assert parser.pages == []


def test_har_uses_the_public_url_when_one_is_configured(make_app):
    app = make_app(RECEIVER_PUBLIC_URL="https://hooks.example.com/")
    client = app.test_client()
    bin_id = client.post("/api/bins", json={}).get_json()["id"]
    client.post(f"/b/{bin_id}/x?y=1", data=b"{}", environ_overrides={RAW_HEADERS_KEY: []})

    _, parser = read_har(client.get(f"/api/bins/{bin_id}/export.har"))

    (entry,) = entries_of(parser)
    assert entry.request.url == f"https://hooks.example.com/b/{bin_id}/x?y=1"


def test_har_holds_every_request_the_bin_keeps(app, bins, client):
    bin_id = bins.create()["id"]
    raws = [RawRequest("POST", "/", "", [("X-N", str(n))], str(n).encode()) for n in range(501)]
    store_captures(app, bin_id, raws)
    assert app.config["RECEIVER_MAX_REQUESTS_PER_BIN"] >= 501

    document, _ = read_har(client.get(f"/api/bins/{bin_id}/export.har"))

    bodies = [entry["request"]["postData"]["text"] for entry in document["log"]["entries"]]
    assert bodies == [str(n) for n in range(501)]


def test_exports_of_a_private_bin_need_its_token(client):
    created = client.post("/api/bins", json={"private": True}).get_json()
    bin_id = created["id"]
    auth = {"Authorization": f"Bearer {created['token']}"}
    ingest = client.post(f"/b/{bin_id}", data=b"{}", environ_overrides={RAW_HEADERS_KEY: []})
    request_id = int(ingest.headers["X-Receiver-Request-Id"])
    paths = [
        f"/api/bins/{bin_id}/export.har",
        f"/api/bins/{bin_id}/requests/{request_id}/export.har",
        # named: a default name can trip over the bin id (see the xfail below)
        f"/api/bins/{bin_id}/requests/{request_id}/recording?name=private",
    ]

    for path in paths:
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"]
        assert client.get(path, headers=auth).status_code == 200, path


def test_exports_of_an_unknown_request_are_404_json(bins, client):
    bin_id = bins.create()["id"]

    for tail in ("export.har", "recording"):
        response = client.get(f"/api/bins/{bin_id}/requests/999999/{tail}")
        assert response.status_code == 404
        assert response.mimetype == "application/json"


# -- curl ----------------------------------------------------------------------------------------


@pytest.mark.system  # runs curl through bash
@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")
@pytest.mark.parametrize("index", range(len(SENT)), ids=["json", "form", "binary", "get"])
def test_the_curl_line_of_a_har_entry_sends_the_request_again(
    make_app, target, tmp_path: Path, index: int
):
    # the public URL points at the target, so the curl line sends there instead of the bin
    app = make_app(RECEIVER_PUBLIC_URL=target.url_for("/").rstrip("/"))
    client = app.test_client()
    bin_id = client.post("/api/bins", json={}).get_json()["id"]
    sent = SENT[index]
    url = f"/b/{bin_id}{sent['path']}" + (f"?{sent['query']}" if sent["query"] else "")
    answer = client.open(
        url,
        method=sent["method"],
        data=sent["body"],
        headers=sent["headers"],
        environ_overrides={RAW_HEADERS_KEY: sent["headers"]},
    )
    request_id = int(answer.headers["X-Receiver-Request-Id"])
    target.expect_request(f"/b/{bin_id}{sent['path']}").respond_with_data("ok")
    document = json.loads(client.get(f"/api/bins/{bin_id}/export.har").get_data(as_text=True))
    extra = document["log"]["entries"][0]["_receiver"]
    if extra["curl_body_file"]:
        raw = client.get(f"/api/bins/{bin_id}/requests/{request_id}/raw").data
        (tmp_path / extra["curl_body_file"]).write_bytes(raw)

    run(["bash", "-c", extra["curl"] + " --silent --max-time 10"], cwd=tmp_path, timeout=30)

    ((got, _),) = target.log
    assert got.method == sent["method"]
    assert got.environ["REQUEST_URI"] == url
    assert got.get_data() == sent["body"]
    ours = [pair for pair in got.environ[RAW_HEADERS_KEY] if pair[0] not in ("Host",)]
    ours = [pair for pair in ours if pair[0] != "Content-Length"]
    assert ours == list(sent["headers"])


# -- recordings ----------------------------------------------------------------------------------


def test_a_recording_reads_back_as_the_captured_request(bins, client):
    bin_id = bins.create(id="recorded-hooks")["id"]
    request_id = bins.capture(bin_id, **SENT[2])

    response = client.get(f"/api/bins/{bin_id}/requests/{request_id}/recording")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{bin_id}-{request_id}.json"'
    )
    document = response.get_json()
    assert document["source"] == {"bin": bin_id, "request": request_id}
    recording = recordings.parse(document)
    assert recording.name == f"{bin_id}-{request_id}"
    assert recording.body == BINARY
    assert recording.method == "POST"
    assert recording.path == "/bin"
    assert recording.query_string == ""
    assert recording.headers == SENT[2]["headers"]
    assert recording.content_type == "application/octet-stream"


def test_the_default_recording_name_works_for_every_bin_id(bins, client):
    bin_id = bins.create(id="-hooks")["id"]
    request_id = bins.capture(bin_id, body=b"{}")

    response = client.get(f"/api/bins/{bin_id}/requests/{request_id}/recording")

    assert response.status_code == 200, response.get_json()
    assert recordings.parse(response.get_json()).body == b"{}"


def test_a_recording_can_be_named(bins, client):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, **SENT[0])

    response = client.get(
        f"/api/bins/{bin_id}/requests/{request_id}/recording", query_string={"name": "push.v1"}
    )

    assert response.headers["Content-Disposition"] == 'attachment; filename="push.v1.json"'
    recording = recordings.parse(response.get_json())
    assert recording.name == "push.v1"
    assert recording.body == SENT[0]["body"]
    assert recording.query_string == SENT[0]["query"]
    assert recording.headers == SENT[0]["headers"]


@pytest.mark.parametrize("name", ["../etc/passwd", "has space", "-leading-dash", "x" * 101, "é"])
def test_a_bad_recording_name_is_a_400_json_error(bins, client, name):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")

    response = client.get(
        f"/api/bins/{bin_id}/requests/{request_id}/recording", query_string={"name": name}
    )

    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == "invalid_name"
    assert "Content-Disposition" not in response.headers


def test_a_recording_is_sent_byte_exact_by_flask_send(bins, client, runner, target, tmp_path):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, **SENT[0])
    path = tmp_path / "push.json"
    recording = client.get(f"/api/bins/{bin_id}/requests/{request_id}/recording?name=push")
    path.write_bytes(recording.data)
    target.expect_request("/replayed").respond_with_data("ok")

    result = runner.invoke(
        args=["send", "--fixture", str(path), "--to", target.url_for("/replayed")]
    )

    assert result.exit_code == 0, result.output
    ((got, _),) = target.log
    assert got.method == "POST"
    assert got.get_data() == SENT[0]["body"]
    assert list(got.environ[RAW_HEADERS_KEY]) == [
        ("Host", f"{target.host}:{target.port}"),
        *SENT[0]["headers"],
        ("Content-Length", str(len(SENT[0]["body"]))),
    ]
