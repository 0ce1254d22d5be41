"""Tests for receiver.replay: real servers on loopback (a raw socket recorder and
pytest-httpserver), no mocks."""

from __future__ import annotations

import gzip
import json
import random
import shutil
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from clocks import NEVER_SECONDS
from pytest_httpserver import HTTPServer
from servers import free_port
from servers import run
from werkzeug import Response

from receiver.delivery.http import OutgoingError
from receiver.delivery.http import OutgoingRequest
from receiver.delivery.http import prepare_outgoing
from receiver.delivery.http import send
from receiver.signatures.registry import get_scheme
from receiver.signatures.registry import sign_headers
from receiver.signatures.registry import verify_signature

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
CAPTURED_AT = NOW - timedelta(hours=2)


@dataclass(frozen=True)
class FakeRequest:
    """A captured request that satisfies ExportableRequest."""

    id: int = 1
    received_at: datetime = CAPTURED_AT
    method: str = "POST"
    path: str = "/"
    query_string: str = ""
    headers: Sequence[Sequence[str]] = field(default_factory=list)
    body: bytes = b""
    content_type: str | None = None
    remote_addr: str | None = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One request as the raw server read it off the socket."""

    raw: bytes
    request_line: str
    headers: list[tuple[str, str]]
    body: bytes


def parse_request(raw: bytes) -> Received:
    """Split raw request bytes into request line, header pairs and body."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines[1:])]
    return Received(raw, lines[0], headers, body)


class RawServer:
    """Accepts connections, records each request's exact bytes, answers with a fixed response."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.received: list[Received] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    raw = self.read_request(conn)
                except OSError:
                    continue
                self.received.append(parse_request(raw))
                try:
                    conn.sendall(self.response)
                except OSError:
                    pass

    @staticmethod
    def read_request(conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head = data.partition(b"\r\n\r\n")[0].decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        while len(data.partition(b"\r\n\r\n")[2]) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


@pytest.fixture
def raw_server() -> Iterator[RawServer]:
    server = RawServer(OK_RESPONSE)
    yield server
    server.close()


def url_of(server: RawServer, path: str = "/hook") -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def only(server: RawServer) -> Received:
    assert len(server.received) == 1
    return server.received[0]


# --- byte-exact delivery -------------------------------------------------------------------------

MULTIPART = (
    b'--XyZ\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n'
    b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n\x00\x01\x02\xff\xfe\r\n--XyZ--\r\n"
)
BINARY = random.Random(7).randbytes(64 * 1024)

BODY_CASES = [
    ("json", "application/json", json.dumps({"a": [1, "é"], "b": None}).encode()),
    ("form", "application/x-www-form-urlencoded", b"a=1&a=2&b=%20x+y&c="),
    ("multipart", "multipart/form-data; boundary=XyZ", MULTIPART),
    ("binary-64k", "application/octet-stream", BINARY),
    ("invalid-utf8", "text/plain", b"caf\xe9 \xff\xfe\x80"),
    ("empty", None, b""),
    ("gzip", "application/json", gzip.compress(b'{"compressed": true}', mtime=0)),
]


@pytest.mark.parametrize(
    ("name", "content_type", "body"), BODY_CASES, ids=[c[0] for c in BODY_CASES]
)
def test_every_body_kind_arrives_byte_exact(
    raw_server: RawServer, name: str, content_type: str | None, body: bytes
) -> None:
    headers = [("Host", "receiver.example:5000"), ("X-Repeat", "one")]
    if content_type:
        headers.append(("Content-Type", content_type))
    if name == "gzip":
        headers.append(("Content-Encoding", "gzip"))
    headers += [("x-repeat", "two, with comma"), ("Content-Length", str(len(body)))]
    source = FakeRequest(path="/sub/path", query_string="a=1&a=2", headers=headers, body=body)

    outgoing = prepare_outgoing(source, url_of(raw_server), now=NOW)
    outcome = send(outgoing, timeout=2)

    assert outcome.error is None and outcome.status_code == 200
    got = only(raw_server)
    assert got.request_line == "POST /hook/sub/path?a=1&a=2 HTTP/1.1"
    expected = [("Host", f"127.0.0.1:{raw_server.port}")]
    expected += [(n, v) for n, v in headers if n.lower() not in ("host", "content-length")]
    expected += [("Content-Length", str(len(body)))]
    assert got.headers == expected
    assert got.body == body


def test_no_headers_of_httpx_own_are_added(raw_server: RawServer) -> None:
    source = FakeRequest(method="GET", headers=[("X-Only", "1")])
    send(prepare_outgoing(source, url_of(raw_server, "/"), now=NOW), timeout=2)
    got = only(raw_server)
    assert got.request_line == "GET / HTTP/1.1"
    assert got.headers == [("Host", f"127.0.0.1:{raw_server.port}"), ("X-Only", "1")]


def test_a_caller_supplied_client_adds_nothing_either(raw_server: RawServer) -> None:
    source = FakeRequest(method="DELETE")
    with httpx.Client() as client:
        outcome = send(
            prepare_outgoing(source, url_of(raw_server), now=NOW), timeout=2, client=client
        )
    assert outcome.status_code == 200
    assert only(raw_server).headers == [("Host", f"127.0.0.1:{raw_server.port}")]


def test_captured_accept_encoding_and_user_agent_are_sent_as_captured(
    raw_server: RawServer,
) -> None:
    headers = [("User-Agent", "Appery/1.0"), ("Accept-Encoding", "gzip"), ("Accept", "*/*")]
    send(prepare_outgoing(FakeRequest(headers=headers), url_of(raw_server), now=NOW), timeout=2)
    assert only(raw_server).headers[1:4] == headers


def test_path_and_query_are_sent_verbatim(raw_server: RawServer) -> None:
    source = FakeRequest(path='/a/"b"/%zz/{x}/%2F', query_string="q=<1>&r=a+b&s=%20&t=`|^")
    outgoing = prepare_outgoing(source, url_of(raw_server), now=NOW)
    send(outgoing, timeout=2)
    assert only(raw_server).request_line == (
        'POST /hook/a/"b"/%zz/{x}/%2F?q=<1>&r=a+b&s=%20&t=`|^ HTTP/1.1'
    )


def test_bytes_no_request_line_may_carry_are_percent_encoded(raw_server: RawServer) -> None:
    # the capture holds raw target bytes as Latin-1 text: "\xe9" was the byte 0xE9
    source = FakeRequest(path="/caf\xe9 x#y", query_string="k=\xc3\xa9")
    send(prepare_outgoing(source, url_of(raw_server, ""), now=NOW), timeout=2)
    assert only(raw_server).request_line == "POST /caf%E9%20x%23y?k=%C3%A9 HTTP/1.1"


def test_header_values_go_out_as_latin1_bytes_or_utf8(raw_server: RawServer) -> None:
    source = FakeRequest(headers=[("X-Latin", "caf\xe9"), ("X-Emoji", "\u2713")])
    send(prepare_outgoing(source, url_of(raw_server), now=NOW), timeout=2)
    raw = only(raw_server).raw
    assert b"X-Latin: caf\xe9\r\n" in raw
    assert b"X-Emoji: \xe2\x9c\x93\r\n" in raw


def test_method_case_is_kept(raw_server: RawServer) -> None:
    outgoing = prepare_outgoing(FakeRequest(), url_of(raw_server), method="purge", now=NOW)
    send(outgoing, timeout=2)
    assert only(raw_server).request_line.startswith("purge /hook ")


# --- URL building --------------------------------------------------------------------------------

SOURCE = FakeRequest(path="/events/1", query_string="a=1&b=2")


@pytest.mark.parametrize(
    ("target", "append", "expected"),
    [
        ("http://h.test/hook", True, "http://h.test/hook/events/1?a=1&b=2"),
        ("http://h.test/hook/", True, "http://h.test/hook/events/1?a=1&b=2"),
        ("http://h.test", True, "http://h.test/events/1?a=1&b=2"),
        ("http://h.test/hook?x=9", True, "http://h.test/hook/events/1?x=9&a=1&b=2"),
        ("http://h.test/hook?x=9#frag", True, "http://h.test/hook/events/1?x=9&a=1&b=2"),
        ("http://h.test/hook", False, "http://h.test/hook"),
        ("http://h.test/hook?x=9", False, "http://h.test/hook?x=9"),
        ("  HTTPS://H.Test:8443/p  ", False, "https://h.test:8443/p"),
    ],
)
def test_sub_path_and_query_travel_together(target: str, append: bool, expected: str) -> None:
    assert prepare_outgoing(SOURCE, target, append_path=append, now=NOW).url == expected


def test_root_sub_path_is_not_appended_but_the_query_is() -> None:
    source = FakeRequest(path="/", query_string="x=1")
    assert prepare_outgoing(source, "http://h.test/hook", now=NOW).url == "http://h.test/hook?x=1"


@pytest.mark.parametrize(
    "target",
    [
        "file:///etc/passwd",
        "ftp://h.test/x",
        "javascript:alert(1)",
        "",
        "   ",
        "h.test/hook",
        "http://",
        "http://h.test/a\nb",
        "http://h.test/\x00",
        "http://user:pw@h.test/",
    ],
)
def test_bad_target_urls_are_refused(target: str) -> None:
    with pytest.raises(OutgoingError) as caught:
        prepare_outgoing(SOURCE, target, now=NOW)
    assert caught.value.code == "invalid_url"
    assert caught.value.message


# --- headers -------------------------------------------------------------------------------------


def test_hop_by_hop_host_and_content_length_are_dropped_and_recomputed() -> None:
    headers = [
        ("Host", "old.example"),
        ("Connection", "keep-alive, X-Hop"),
        ("X-Keep", "1"),
        ("Keep-Alive", "timeout=5"),
        ("X-Hop", "dropped: named in Connection"),
        ("Proxy-Authorization", "Basic x"),
        ("Proxy-Connection", "close"),
        ("TE", "trailers"),
        ("Trailer", "X-T"),
        ("Transfer-Encoding", "chunked"),
        ("Upgrade", "websocket"),
        ("content-length", "999"),
        ("X-Keep", "2"),
        ("Authorization", "Bearer kept"),
    ]
    outgoing = prepare_outgoing(
        FakeRequest(headers=headers, body=b"abc"), "http://h.test:8080/x", now=NOW
    )
    assert outgoing.headers == [
        ("Host", "h.test:8080"),
        ("X-Keep", "1"),
        ("X-Keep", "2"),
        ("Authorization", "Bearer kept"),
        ("Content-Length", "3"),
    ]


@pytest.mark.parametrize(
    ("method", "headers", "body", "has_length"),
    [
        ("GET", [], b"", False),
        ("DELETE", [], b"", False),
        ("DELETE", [("Content-Length", "0")], b"", True),
        ("GET", [("Transfer-Encoding", "chunked")], b"", True),
        ("POST", [], b"", True),
        ("GET", [], b"x", True),
    ],
)
def test_content_length_is_sent_when_a_body_is_declared(
    method: str, headers: list[tuple[str, str]], body: bytes, has_length: bool
) -> None:
    source = FakeRequest(method=method, headers=headers, body=body)
    outgoing = prepare_outgoing(source, "http://h.test/", now=NOW)
    assert (("Content-Length", str(len(body))) in outgoing.headers) is has_length


def test_overrides_of_method_headers_and_body(raw_server: RawServer) -> None:
    source = FakeRequest(
        method="POST", headers=[("X-Old", "1"), ("Content-Type", "text/plain")], body=b"old"
    )
    outgoing = prepare_outgoing(
        source,
        url_of(raw_server),
        method="PUT",
        headers=[["X-New", " spaced "], ["X-New", "again"], ["Content-Type", "application/json"]],
        body=b'{"edited": true}',
        now=NOW,
    )
    outcome = send(outgoing, timeout=2)
    assert outcome.status_code == 200
    got = only(raw_server)
    assert got.request_line == "PUT /hook HTTP/1.1"
    assert got.headers == [
        ("Host", f"127.0.0.1:{raw_server.port}"),
        ("X-New", "spaced"),
        ("X-New", "again"),
        ("Content-Type", "application/json"),
        ("Content-Length", "16"),
    ]
    assert got.body == b'{"edited": true}'


def test_an_empty_body_override_is_kept() -> None:
    outgoing = prepare_outgoing(FakeRequest(body=b"data"), "http://h.test/", body=b"", now=NOW)
    assert outgoing.body == b""
    assert ("Content-Length", "0") in outgoing.headers


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"method": "GE T"}, "invalid_method"),
        ({"method": ""}, "invalid_method"),
        ({"headers": [("Bad Name", "x")]}, "invalid_header"),
        ({"headers": [("X-A:", "x")]}, "invalid_header"),
        ({"headers": [("X-Split", "a\r\nInjected: yes")]}, "invalid_header"),
        ({"headers": [("X-Nul", "a\x00b")]}, "invalid_header"),
        ({"resign": {"scheme": "nope", "secret": "s"}}, "invalid_signature"),
        ({"resign": {"scheme": "hmac-sha256", "secret": ""}}, "invalid_signature"),
        ({"resign": {"scheme": "standard-webhooks", "secret": "whsec_!!!"}}, "invalid_signature"),
    ],
)
def test_what_cannot_be_sent_is_refused(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(OutgoingError) as caught:
        prepare_outgoing(SOURCE, "http://h.test/", now=NOW, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code


def test_a_tab_inside_a_value_is_allowed() -> None:
    outgoing = prepare_outgoing(SOURCE, "http://h.test/", headers=[("X-T", "a\tb")], now=NOW)
    assert ("X-T", "a\tb") in outgoing.headers


# --- re-signing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "header"),
    [
        ("standard-webhooks", None),
        ("hmac-sha256", None),
        ("hmac-sha256", "X-Signature"),
        ("stripe", None),
        ("apitree", None),
    ],
)
def test_resigned_replay_verifies_at_the_new_time(
    raw_server: RawServer, scheme: str, header: str | None
) -> None:
    secret = get_scheme(scheme).generate_secret()
    body = b'{"event": "build.failed"}'
    capture_url = "http://receiver.test/b/bin1"
    old = sign_headers(
        scheme=scheme,
        secret=secret,
        body=body,
        now=CAPTURED_AT,
        msg_id="msg_original",
        header=header,
        url=capture_url,
    )
    source = FakeRequest(
        headers=[("Content-Type", "application/json"), *old, ("X-After", "1")], body=b"stale body"
    )
    edited = b'{"event": "build.failed", "edited": true}'
    settings = {"scheme": scheme, "secret": secret, "header": header}

    outgoing = prepare_outgoing(source, url_of(raw_server), body=edited, resign=settings, now=NOW)
    send(outgoing, timeout=2)
    got = only(raw_server)

    for pair in old:
        if scheme == "standard-webhooks" and pair[0] == "webhook-id":
            continue
        assert pair not in got.headers
    result = verify_signature(
        scheme=scheme,
        secret=secret,
        headers=got.headers,
        body=got.body,
        now=NOW + timedelta(seconds=1),
        header=header,
        url=outgoing.url,
    )
    assert result.status == "verified", result.reason
    signed_names = {name.lower() for name, _ in old}
    assert sum(name.lower() in signed_names for name, _ in got.headers) == len(old)
    assert got.headers[1] == ("Content-Type", "application/json")
    assert got.headers[2] == ("X-After", "1")
    if scheme == "standard-webhooks":
        assert ("webhook-id", "msg_original") in got.headers
        assert ("webhook-timestamp", str(int(NOW.timestamp()))) in got.headers


def test_without_resigning_the_old_signature_fails_the_window() -> None:
    secret = get_scheme("standard-webhooks").generate_secret()
    old = sign_headers(scheme="standard-webhooks", secret=secret, body=b"{}", now=CAPTURED_AT)
    outgoing = prepare_outgoing(FakeRequest(headers=old, body=b"{}"), "http://h.test/", now=NOW)
    result = verify_signature(
        scheme="standard-webhooks",
        secret=secret,
        headers=outgoing.headers,
        body=outgoing.body,
        now=NOW,
    )
    assert result.status == "failed"
    assert "tolerance" in (result.reason or "")


# --- responses -----------------------------------------------------------------------------------


def test_status_headers_and_body_are_recorded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_response(
        Response(
            b'{"ok": true}',
            status=201,
            headers=[("X-Dup", "1"), ("X-Dup", "2")],
            content_type="application/json",
        )
    )
    source = FakeRequest(body=b"{}", headers=[("Content-Type", "application/json")])
    outcome = send(prepare_outgoing(source, httpserver.url_for("/hook"), now=NOW), timeout=2)
    assert outcome.error is None
    assert outcome.status_code == 201
    assert outcome.response_body == b'{"ok": true}'
    assert not outcome.truncated
    assert [v for n, v in outcome.response_headers if n == "X-Dup"] == ["1", "2"]
    assert ("Content-Type", "application/json") in outcome.response_headers
    assert outcome.elapsed_ms > 0


def test_a_server_error_is_a_response_not_an_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/boom").respond_with_data("kaput", status=500)
    outcome = send(prepare_outgoing(FakeRequest(), httpserver.url_for("/boom"), now=NOW), timeout=2)
    assert (outcome.status_code, outcome.response_body, outcome.error) == (500, b"kaput", None)


def test_a_large_body_is_cut_at_64_kib(httpserver: HTTPServer) -> None:
    big = random.Random(3).randbytes(200_000)
    httpserver.expect_request("/big").respond_with_data(big)
    outcome = send(prepare_outgoing(FakeRequest(), httpserver.url_for("/big"), now=NOW), timeout=2)
    assert outcome.status_code == 200 and outcome.error is None
    assert outcome.truncated
    assert len(outcome.response_body) == 65536
    assert outcome.response_body == big[:65536]


def test_a_body_of_exactly_max_body_is_not_truncated(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/exact").respond_with_data(b"x" * 100)
    outgoing = prepare_outgoing(FakeRequest(), httpserver.url_for("/exact"), now=NOW)
    outcome = send(outgoing, timeout=2, max_body=100)
    assert (len(outcome.response_body), outcome.truncated) == (100, False)


def test_redirects_are_not_followed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/moved").respond_with_response(
        Response(status=302, headers={"Location": httpserver.url_for("/elsewhere")})
    )
    outcome = send(
        prepare_outgoing(FakeRequest(), httpserver.url_for("/moved"), now=NOW), timeout=2
    )
    assert outcome.status_code == 302
    assert [req.path for req, _ in httpserver.log] == ["/moved"]


def test_a_gzip_answer_is_kept_raw(httpserver: HTTPServer) -> None:
    packed = gzip.compress(b'{"zipped": 1}', mtime=0)
    httpserver.expect_request("/gz").respond_with_response(
        Response(packed, headers={"Content-Encoding": "gzip"})
    )
    outcome = send(prepare_outgoing(FakeRequest(), httpserver.url_for("/gz"), now=NOW), timeout=2)
    assert outcome.response_body == packed


# --- transport failures --------------------------------------------------------------------------


def test_a_refused_connection_is_an_error_in_words() -> None:
    port = free_port()
    outgoing = prepare_outgoing(FakeRequest(), f"http://127.0.0.1:{port}/", now=NOW)
    outcome = send(outgoing, timeout=1)
    assert outcome.status_code is None
    assert outcome.error == f"connection refused by 127.0.0.1:{port}"


def test_a_target_that_never_answers_times_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # never accepts: the backlog does
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        started = time.monotonic()
        outcome = send(prepare_outgoing(FakeRequest(body=b"x"), url, now=NOW), timeout=0.5)
        took = time.monotonic() - started
    # it waited its half second; without a deadline it would wait for the backlog forever
    assert 0.5 <= took < NEVER_SECONDS
    assert outcome.status_code is None
    assert outcome.error == "timed out after 0.5 s waiting for the response"


class Trickler:
    """Answers with ``prefix`` at once, then one byte of ``drip`` every 0.2 s until stopped: a
    per-read timeout never ends it, only a deadline for the whole exchange does."""

    def __init__(self, prefix: bytes, drip: bytes) -> None:
        self.prefix = prefix
        self.drip = drip
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(self.prefix)
                for byte in self.drip:
                    if self.stop.wait(0.2):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


def test_trickling_headers_cannot_stretch_the_deadline() -> None:
    server = Trickler(b"", b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000)  # 200 s of headers
    try:
        outgoing = prepare_outgoing(FakeRequest(), f"http://127.0.0.1:{server.port}/", now=NOW)
        started = time.monotonic()
        outcome = send(outgoing, timeout=1)
        took = time.monotonic() - started
    finally:
        server.close()
    assert took < NEVER_SECONDS
    assert outcome.status_code is None
    assert outcome.error == "timed out after 1.0 s waiting for the response"


def test_a_trickling_body_cannot_stretch_the_deadline() -> None:
    # a body of 100 s, a byte at a time
    server = Trickler(b"HTTP/1.1 200 OK\r\nContent-Length: 505\r\n\r\nstart", b"b" * 500)
    try:
        outgoing = prepare_outgoing(FakeRequest(), f"http://127.0.0.1:{server.port}/", now=NOW)
        started = time.monotonic()
        outcome = send(outgoing, timeout=1)
        took = time.monotonic() - started
    finally:
        server.close()
    assert took < NEVER_SECONDS
    assert outcome.status_code == 200
    assert outcome.response_body.startswith(b"start")
    assert outcome.error == "timed out after 1.0 s reading the response body"


def test_a_tls_failure_is_an_error_in_words() -> None:
    server = Trickler(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", b"")
    try:
        outgoing = prepare_outgoing(FakeRequest(), f"https://127.0.0.1:{server.port}/", now=NOW)
        outcome = send(outgoing, timeout=1)
    finally:
        server.close()
    assert outcome.status_code is None
    assert outcome.error is not None
    assert outcome.error.startswith("TLS handshake failed: WRONG_VERSION_NUMBER")


@pytest.mark.system  # makes its certificate with the openssl command
def test_an_untrusted_certificate_is_an_error_in_words(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        cwd=tmp_path,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                try:
                    context.wrap_socket(conn, server_side=True).close()
                except (ssl.SSLError, OSError):
                    pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/"
        outcome = send(prepare_outgoing(FakeRequest(), url, now=NOW), timeout=1)
        thread.join(2)
    assert outcome.status_code is None
    assert outcome.error == (
        "TLS handshake failed: certificate verify failed: self-signed certificate"
    )


def test_a_tls_handshake_that_never_ends_times_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        outgoing = prepare_outgoing(FakeRequest(), f"https://127.0.0.1:{port}/", now=NOW)
        started = time.monotonic()
        outcome = send(outgoing, timeout=0.5)
        took = time.monotonic() - started
    # a handshake the server never answers would wait forever without the deadline
    assert took < NEVER_SECONDS
    assert outcome.error == f"timed out after 0.5 s in the TLS handshake with 127.0.0.1:{port}"


def test_an_unresolvable_host_is_an_error_in_words() -> None:
    outgoing = prepare_outgoing(FakeRequest(), "http://nope.invalid/", now=NOW)
    outcome = send(outgoing, timeout=1)
    assert outcome.status_code is None
    # a resolver that hangs ends in "timed out after 1.0 s resolving host 'nope.invalid'"
    assert outcome.error is not None
    assert "resolv" in outcome.error and "'nope.invalid'" in outcome.error


def test_a_server_that_hangs_up_is_an_error_in_words() -> None:
    server = RawServer(b"")
    try:
        outgoing = prepare_outgoing(FakeRequest(), url_of(server), now=NOW)
        outcome = send(outgoing, timeout=1)
    finally:
        server.close()
    assert outcome.status_code is None
    assert outcome.error == f"127.0.0.1:{server.port} closed the connection without answering"


@pytest.mark.parametrize("url", ["ftp://h.test/", "not a url", "http://[::1/"])
def test_send_reports_an_invalid_url_in_words(url: str) -> None:
    outcome = send(OutgoingRequest("GET", url, [], b""), timeout=1)
    assert outcome.status_code is None
    assert outcome.error is not None and outcome.error.startswith("invalid URL")


def test_send_reports_an_unsendable_header_in_words() -> None:
    outcome = send(OutgoingRequest("GET", "http://h.test/", [("X-\u2713", "v")], b""), timeout=1)
    assert outcome.status_code is None
    assert outcome.error is not None and outcome.error.startswith("the request could not be built")
