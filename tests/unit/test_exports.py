"""Tests for receiver.exports: curl commands run for real, HAR read back with haralyzer."""

from __future__ import annotations

import base64
import gzip
import json
import random
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from haralyzer import HarEntry
from haralyzer import HarPage
from haralyzer import HarParser
from servers import run

from receiver.exports.har import RecordedResponse
from receiver.exports.har import build_har
from receiver.exports.har import curl_needs_body_file
from receiver.exports.har import har_json
from receiver.exports.har import render_curl
from receiver.exports.har import request_url

BASE = "http://127.0.0.1:5000/b/abc"
T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


@dataclass(frozen=True)
class FakeRequest:
    """A captured request that satisfies ExportableRequest."""

    id: int = 1
    received_at: datetime = T0
    method: str = "POST"
    path: str = "/"
    query_string: str = ""
    headers: Sequence[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    content_type: str | None = None
    remote_addr: str | None = "127.0.0.1"


MULTIPART = (
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="field"\r\n\r\n'
    b"value\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="file"; filename="a.bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n"
    b"\x00\x01\x02\xff\r\n"
    b"--XyZ--\r\n"
)

# (id, content type, body, read from a file by curl)
BODY_KINDS = [
    ("json", "application/json", '{"name": "Zoë ☃", "n": [1, 2]}\n'.encode(), False),
    ("form", "application/x-www-form-urlencoded", b"a=1&b=%20x+y&a=2&empty=", False),
    ("multipart", "multipart/form-data; boundary=XyZ", MULTIPART, True),
    ("binary-64k", "application/octet-stream", random.Random(7).randbytes(64 * 1024), True),
    ("invalid-utf8", "text/plain", b"caf\xe9 \xff\xfe end", True),
    ("empty", None, b"", False),
    ("gzip", "application/json", gzip.compress(b'{"zipped": true}', mtime=0), True),
    ("at-sign", "text/plain", b"@/etc/passwd", False),
    ("shell", "text/plain", b'it\'s $(touch pwned) `touch pwned2` $HOME \\ "q" ;|&<>*?~!', False),
    ("bidi", "text/plain", "safe \u202e evil".encode(), True),
    ("crlf", "text/plain", b"line1\r\nline2\r\n", True),
    ("tab-lf", "text/plain", b"a\tb\nc\n\n", False),
]

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def with_body_headers(content_type: str | None, body: bytes) -> list[tuple[str, str]]:
    """Header pairs a client would send with `body`."""
    headers = [("Host", "127.0.0.1:5000"), ("User-Agent", "provider/1.0")]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    if body:
        headers.append(("Content-Length", str(len(body))))
    return headers


@dataclass
class Received:
    """One request as the raw server read it off the socket."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes


class RawServer:
    """A loopback HTTP/1.1 server that records the exact bytes of each request."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[Received] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/b/abc"

    def close(self) -> None:
        self._stop.set()
        # wake the accept() so the thread ends without waiting for its timeout
        with socket.create_connection(("127.0.0.1", self.port)):
            pass
        self._thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                if self._stop.is_set():
                    break
                conn.settimeout(5)
                self.received.append(self._read(conn))
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    @staticmethod
    def _read(conn: socket.socket) -> Received:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("utf-8").split("\r\n")
        method, target, _ = lines[0].split(" ")
        headers = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines[1:])]
        length = int(next((v for n, v in headers if n.lower() == "content-length"), "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return Received(method, target, headers, body)


@pytest.fixture
def raw_server() -> Iterator[RawServer]:
    """A RawServer for the duration of one test."""
    server = RawServer()
    yield server
    server.close()


def run_curl(req: FakeRequest, server: RawServer, workdir: Path) -> Received:
    """Render `req` as curl, run it with bash in `workdir`, and return what the server read."""
    assert shutil.which("curl"), "curl is needed for these tests"
    if curl_needs_body_file(req):
        (workdir / f"request-{req.id}.body").write_bytes(req.body)
    command = render_curl(req, server.base_url)
    run(["bash", "-c", command], cwd=workdir, timeout=20)
    assert len(server.received) == 1
    return server.received[0]


def expected_headers(req: FakeRequest) -> list[tuple[str, str]]:
    """The header pairs curl must send, leaving out what it computes itself."""
    skipped = {"host", "content-length", "transfer-encoding"}
    return [(n, v) for n, v in req.headers if n.lower() not in skipped]


def assert_reproduced(req: FakeRequest, got: Received) -> None:
    """Assert the server saw exactly the captured method, target, header pairs and body."""
    assert got.method == req.method
    target = "/b/abc" + ("" if req.path == "/" else req.path)
    assert got.target == target + (f"?{req.query_string}" if req.query_string else "")
    sent = [(n, v) for n, v in got.headers if n.lower() not in {"host", "content-length"}]
    assert sent == expected_headers(req)
    assert got.body == req.body
    lengths = [v for n, v in got.headers if n.lower() == "content-length"]
    declared = any(n.lower() in {"content-length", "transfer-encoding"} for n, _ in req.headers)
    assert lengths == ([str(len(req.body))] if req.body or declared else [])


@pytest.mark.system  # runs curl through bash
@pytest.mark.parametrize(
    ("content_type", "body", "from_file"),
    [pytest.param(ct, body, ff, id=kind) for kind, ct, body, ff in BODY_KINDS],
)
def test_curl_resends_body_byte_for_byte(
    raw_server: RawServer, tmp_path: Path, content_type: str | None, body: bytes, from_file: bool
) -> None:
    req = FakeRequest(
        id=42,
        headers=with_body_headers(content_type, body),
        body=body,
        content_type=content_type,
    )
    assert curl_needs_body_file(req) is from_file
    command = render_curl(req, raw_server.base_url)
    assert ("--data-binary @request-42.body" in command) is from_file
    assert "--compressed" not in command

    got = run_curl(req, raw_server, tmp_path)

    assert_reproduced(req, got)
    # the shell ran nothing from the body
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "pwned2").exists()


@pytest.mark.system  # runs curl through bash
@pytest.mark.parametrize("with_body", [True, False], ids=["body", "no-body"])
@pytest.mark.parametrize("method", METHODS)
def test_curl_resends_every_method(
    raw_server: RawServer, tmp_path: Path, method: str, with_body: bool
) -> None:
    body = b'{"event": "ping"}' if with_body else b""
    req = FakeRequest(
        method=method,
        path="/hooks/ci",
        headers=with_body_headers("application/json" if with_body else None, body),
        body=body,
        content_type="application/json" if with_body else None,
    )

    got = run_curl(req, raw_server, tmp_path)

    assert_reproduced(req, got)


def test_curl_uses_head_option_for_head_without_body() -> None:
    command = render_curl(FakeRequest(method="HEAD"), BASE)
    assert command.startswith("curl --head ")
    assert "-X" not in command


@pytest.mark.system  # runs curl through bash
def test_curl_keeps_repeated_headers_in_order_with_their_case(
    raw_server: RawServer, tmp_path: Path
) -> None:
    headers = [
        ("HOST", "example.test"),
        ("X-DUP", "one"),
        ("Accept", "application/json"),
        ("x-dup", "two"),
        ("X-Empty", ""),
        ("Cookie", "a=1; b=2"),
        ("X-Dup", "three, with comma"),
        ("X-Quote", 'it\'s "$(quoted)" `x`'),
        ("TRANSFER-ENCODING", "chunked"),
        ("X-Unicode", "Zoë"),
    ]
    req = FakeRequest(method="PUT", headers=headers, body=b"abc", content_type=None)

    got = run_curl(req, raw_server, tmp_path)

    assert_reproduced(req, got)
    assert "-H 'X-Empty;'" in render_curl(req, BASE)


@pytest.mark.system  # runs curl through bash
def test_curl_keeps_long_query_with_repeated_keys_as_sent(
    raw_server: RawServer, tmp_path: Path
) -> None:
    query = "&".join(f"k={i}" for i in range(300)) + "&a[]=1&a[]=2&q=%20x+y&s=%2F&e=&flag&k=last"
    req = FakeRequest(method="GET", path="/x/../y/[z]", query_string=query)

    got = run_curl(req, raw_server, tmp_path)

    assert_reproduced(req, got)


@pytest.mark.system  # runs curl through bash
def test_curl_sends_declared_empty_body_with_zero_length(
    raw_server: RawServer, tmp_path: Path
) -> None:
    req = FakeRequest(method="POST", headers=[("Content-Length", "0")])

    got = run_curl(req, raw_server, tmp_path)

    assert_reproduced(req, got)


@pytest.mark.system  # runs curl through bash
def test_curl_reads_body_from_the_named_file(raw_server: RawServer, tmp_path: Path) -> None:
    body = b"\x00\x01binary"
    req = FakeRequest(id=9, headers=[("Content-Type", "application/octet-stream")], body=body)
    (tmp_path / "my body.bin").write_bytes(body)
    command = render_curl(req, raw_server.base_url, body_file="my body.bin")

    assert command.splitlines()[0].startswith("# save the raw body of request 9")
    run(["bash", "-c", command], cwd=tmp_path, timeout=20)

    assert raw_server.received[0].body == body


def test_curl_refuses_a_body_file_name_that_would_break_the_comment() -> None:
    with pytest.raises(ValueError):
        render_curl(FakeRequest(body=b"\xff"), BASE, body_file="a\nrm -rf ~")


def test_curl_large_text_body_goes_through_a_file() -> None:
    req = FakeRequest(body=b"x" * (64 * 1024 + 1), content_type="text/plain")
    assert curl_needs_body_file(req)
    assert "--data-binary @request-1.body" in render_curl(req, BASE)


@pytest.mark.parametrize(
    ("path", "query", "url"),
    [
        ("/", "", BASE),
        ("/", "a=1", BASE + "?a=1"),
        ("/deep/sub", "x=%20&x=2", BASE + "/deep/sub?x=%20&x=2"),
    ],
)
def test_request_url_appends_path_and_raw_query(path: str, query: str, url: str) -> None:
    assert request_url(FakeRequest(path=path, query_string=query), BASE) == url
    assert request_url(FakeRequest(path=path, query_string=query), BASE + "/") == url


# HAR 1.2 required fields (http://www.softwareishard.com/blog/har-12-spec/)
HAR_REQUIRED = {
    "log": {"version", "creator", "entries"},
    "creator": {"name", "version"},
    "entry": {"startedDateTime", "time", "request", "response", "cache", "timings"},
    "request": {
        "method",
        "url",
        "httpVersion",
        "cookies",
        "headers",
        "queryString",
        "headersSize",
        "bodySize",
    },
    "response": {
        "status",
        "statusText",
        "httpVersion",
        "cookies",
        "headers",
        "content",
        "redirectURL",
        "headersSize",
        "bodySize",
    },
    "content": {"size", "mimeType"},
    "postData": {"mimeType"},
    "timings": {"send", "wait", "receive"},
}


def assert_har_shape(har: dict[str, Any]) -> None:
    """Assert every field HAR 1.2 requires is present, with only '_' custom fields added."""
    log = har["log"]
    assert HAR_REQUIRED["log"] <= log.keys()
    assert log["version"] == "1.2"
    assert HAR_REQUIRED["creator"] <= log["creator"].keys()
    for entry in log["entries"]:
        assert HAR_REQUIRED["entry"] <= entry.keys()
        extra = entry.keys() - HAR_REQUIRED["entry"] - {"pageref", "serverIPAddress", "comment"}
        assert all(key.startswith("_") for key in extra)
        assert HAR_REQUIRED["request"] <= entry["request"].keys()
        assert HAR_REQUIRED["response"] <= entry["response"].keys()
        assert HAR_REQUIRED["content"] <= entry["response"]["content"].keys()
        assert HAR_REQUIRED["timings"] <= entry["timings"].keys()
        if "postData" in entry["request"]:
            assert HAR_REQUIRED["postData"] <= entry["request"]["postData"].keys()
        for pair in entry["request"]["headers"] + entry["request"]["queryString"]:
            assert pair.keys() == {"name", "value"}
        assert entry["time"] == sum(v for v in entry["timings"].values() if v >= 0)


def har_entries(har: dict[str, Any]) -> list[HarEntry]:
    """Load `har` through haralyzer, as another tool would, and return its entries."""
    parser = HarParser(json.loads(json.dumps(har)))
    assert parser.version == "1.2"
    assert parser.creator["name"] == "receiver"
    page = HarPage("unknown", har_parser=parser)
    return page.entries


def decoded_body(entry: HarEntry) -> bytes:
    """The request body bytes carried by one HAR entry."""
    post = entry.request.raw_entry.get("postData")
    if post is None:
        return b""
    assert not ("text" in post and "params" in post), "HAR 1.2: text and params exclude each other"
    if "_base64" in post:
        assert "text" not in post
        return base64.b64decode(post["_base64"])
    if "params" in post:
        return post["_text"].encode("utf-8")
    return post["text"].encode("utf-8")


@pytest.mark.parametrize(
    ("content_type", "body", "from_file"),
    [pytest.param(ct, body, ff, id=kind) for kind, ct, body, ff in BODY_KINDS],
)
def test_har_round_trips_body_bytes(content_type: str | None, body: bytes, from_file: bool) -> None:
    req = FakeRequest(
        id=5,
        headers=with_body_headers(content_type, body),
        body=body,
        content_type=content_type,
    )
    har = build_har([req], BASE)
    assert_har_shape(har)

    (entry,) = har_entries(har)

    assert decoded_body(entry) == body
    assert entry.request.bodySize == len(body)
    if body:
        assert (content_type or "").startswith(entry.request.mimeType)
    else:
        assert "postData" not in entry.request.raw_entry
    receiver = entry.raw_entry["_receiver"]
    assert receiver["request_id"] == 5
    assert receiver["curl"] == render_curl(req, BASE)
    assert receiver["curl_body_file"] == ("request-5.body" if from_file else None)


def test_har_keeps_bodies_that_are_not_text_out_of_text() -> None:
    """A HAR 1.2 reader sends postData.text as the body: base64 there would arrive as the body,
    silently wrong; the bytes go in a field of our own and the comment says why."""
    body = b"caf\xe9"
    har = build_har([FakeRequest(body=body, content_type="text/plain")], BASE)
    assert_har_shape(har)
    post = har["log"]["entries"][0]["request"]["postData"]
    assert post.keys() == {"mimeType", "comment", "_base64"}
    assert post["mimeType"] == "text/plain"
    assert post["_base64"] == "Y2Fm6Q=="
    assert "_base64" in post["comment"]
    assert har["log"]["entries"][0]["request"]["bodySize"] == 4


def test_har_gives_a_form_as_params_only_with_its_exact_text_beside() -> None:
    body = b"a=1&b=%20x+y&a=2&empty="
    req = FakeRequest(body=body, content_type="application/x-www-form-urlencoded; charset=utf-8")
    post = build_har([req], BASE)["log"]["entries"][0]["request"]["postData"]
    assert post.keys() == {"mimeType", "params", "_text"}
    # the bare media type: HAR readers such as httpsnippet rebuild a form only for it
    assert post["mimeType"] == "application/x-www-form-urlencoded"
    assert post["_text"] == body.decode()
    assert post["params"] == [
        {"name": "a", "value": "1"},
        {"name": "b", "value": " x y"},
        {"name": "a", "value": "2"},
        {"name": "empty", "value": ""},
    ]


def test_har_gives_a_form_that_does_not_decode_as_its_text() -> None:
    body = b"name=caf%E9&x=1"
    req = FakeRequest(body=body, content_type="application/x-www-form-urlencoded")
    post = build_har([req], BASE)["log"]["entries"][0]["request"]["postData"]
    assert post == {"mimeType": "application/x-www-form-urlencoded", "text": body.decode()}


def test_har_orders_entries_oldest_first_with_every_field() -> None:
    headers = [
        ("Host", "127.0.0.1:5000"),
        ("X-Dup", "1"),
        ("COOKIE", "session=abc; theme=dark"),
        ("x-dup", "2"),
        ("X-Empty", ""),
    ]
    query = "&".join(f"k={i}" for i in range(50)) + "&q=%20x+y&flag&k=last"
    newest = FakeRequest(id=3, received_at=T0 + timedelta(seconds=2), method="DELETE")
    oldest = FakeRequest(
        id=1,
        method="PATCH",
        path="/sub/path",
        query_string=query,
        headers=headers,
        body=b'{"a": 1}',
        content_type="application/json",
        remote_addr="203.0.113.9",
    )
    middle = FakeRequest(id=2, received_at=T0 + timedelta(microseconds=1), method="OPTIONS")

    har = build_har([newest, oldest, middle], BASE, creator_version="9.9")
    assert_har_shape(har)
    assert har["log"]["creator"] == {"name": "receiver", "version": "9.9"}

    entries = har_entries(har)

    assert [e.request.method for e in entries] == ["PATCH", "OPTIONS", "DELETE"]
    first = entries[0]
    assert first.raw_entry["startedDateTime"] == "2024-05-01T12:00:00.123456+00:00"
    assert first.startTime == T0
    assert first.url == BASE + "/sub/path?" + query
    assert first.request.httpVersion == "HTTP/1.1"
    assert [(h["name"], h["value"]) for h in first.request.headers] == headers
    assert first.request.cookies == [
        {"name": "session", "value": "abc"},
        {"name": "theme", "value": "dark"},
    ]
    pairs = [(q["name"], q["value"]) for q in first.request.queryString]
    assert pairs == [("k", str(i)) for i in range(50)] + [
        ("q", " x y"),
        ("flag", ""),
        ("k", "last"),
    ]
    assert first.request.text == '{"a": 1}'
    assert first.request.headersSize == -1
    # no answer given: the placeholder HAR readers know, and a comment saying why
    assert first.status == 0
    assert first.response.mimeType == "x-unknown"
    assert "not recorded" in first.response.raw_entry["comment"]
    assert first.raw_entry["_receiver"]["remote_addr"] == "203.0.113.9"
    assert first.time == 0
    assert first.timings == {"send": 0, "wait": 0, "receive": 0}
    assert first.cache == {}


def test_har_includes_the_recorded_response() -> None:
    response = RecordedResponse(
        status=201,
        headers=[("Content-Type", "application/json"), ("Set-Cookie", "s=1; Path=/")],
        body=b'{"ok": true}',
    )
    har = build_har([FakeRequest(id=7)], BASE, responses={7: response})
    assert_har_shape(har)

    (entry,) = har_entries(har)

    assert entry.status == 201
    assert entry.response.statusText == "Created"
    assert entry.response.text == '{"ok": true}'
    assert entry.response.mimeType == "application/json"
    assert entry.response.raw_entry["cookies"] == [{"name": "s", "value": "1"}]


def test_har_response_says_when_its_body_is_a_head_and_the_delay_is_the_wait() -> None:
    response = RecordedResponse(
        status=418,
        headers=[("Content-Type", "text/plain")],
        body=b"x" * 4096,
        size=10_000,
        delay_ms=250,
    )
    har = build_har([FakeRequest(id=7)], BASE, responses={7: response})
    assert_har_shape(har)
    entry = har["log"]["entries"][0]
    assert entry["response"]["status"] == 418
    assert entry["response"]["statusText"] == "I'm a Teapot"
    assert entry["response"]["bodySize"] == 10_000
    assert entry["response"]["content"]["size"] == 10_000
    assert "4096 of 10000" in entry["response"]["content"]["comment"]
    assert entry["time"] == 250
    assert entry["timings"]["wait"] == 250


def test_har_takes_naive_times_as_utc() -> None:
    naive = FakeRequest(received_at=T0.replace(tzinfo=None))
    entry = build_har([naive], BASE)["log"]["entries"][0]
    assert entry["startedDateTime"] == "2024-05-01T12:00:00.123456+00:00"


def test_har_json_is_the_same_document() -> None:
    req = FakeRequest(body="Zoë".encode(), content_type="text/plain")
    text = har_json([req], BASE)
    assert "Zoë" in text
    assert json.loads(text) == build_har([req], BASE)


def test_har_of_no_requests_is_an_empty_log() -> None:
    har = build_har([], BASE)
    assert_har_shape(har)
    assert har["log"]["entries"] == []
    assert re.fullmatch(r"\d+\.\d+\.\d+", har["log"]["creator"]["version"])
