"""The byte-exact matrix: requests sent over a real socket, and what must be stored.

Used against the Werkzeug dev server (tests/web) and gunicorn (tests/system). The sender is
``http.client`` driven by hand, so header order, duplicates and case are exactly ours.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field

rng = random.Random(20261125)


@dataclass(frozen=True)
class Case:
    """One request to send; ``chunked`` sends the body with Transfer-Encoding: chunked."""

    name: str
    method: str = "POST"
    path: str = ""
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    chunked: bool = False
    extra: dict[str, str] = field(default_factory=dict)


MULTIPART = (
    b'--XyZ\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n'
    b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n\x00\x01\x02\xff\xfe\r\n--XyZ--\r\n"
)
LONG_QUERY = "&".join(f"k{i % 7}=v%20{i}&k{i % 7}=" for i in range(400)) + "&x=%E2%9C%93&y=a+b"

CASES = [
    Case(
        "json",
        headers=(("Content-Type", "application/json"),),
        body=json.dumps({"project": {"name": "My project", "n": 1}}).encode(),
    ),
    Case(
        "form",
        headers=(("Content-Type", "application/x-www-form-urlencoded"),),
        body=b"a=1&a=2&b=%20x+y&c=",
    ),
    Case(
        "multipart",
        headers=(("Content-Type", "multipart/form-data; boundary=XyZ"),),
        body=MULTIPART,
    ),
    Case(
        "binary-64k",
        headers=(("Content-Type", "application/octet-stream"),),
        body=bytes(rng.getrandbits(8) for _ in range(64 * 1024)),
    ),
    Case("invalid-utf8", headers=(("Content-Type", "text/plain"),), body=b"caf\xe9 \xff\xfe\x80"),
    Case("empty", body=b""),
    Case(
        "gzip",
        headers=(("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
        body=gzip.compress(b'{"compressed": true}', mtime=0),
    ),
    Case(
        "repeated-headers",
        headers=(
            ("X-Repeat", "one"),
            ("X-Other", "between"),
            ("X-Repeat", "two, with comma"),
            ("X_Under_Score", "kept"),
            ("X-Repeat", "three"),
        ),
        body=b"{}",
    ),
    Case(
        "header-name-case",
        headers=(
            ("x-lower-case", "1"),
            ("X-UPPER-CASE", "2"),
            ("cOnTeNt-TyPe", "application/json"),
            ("X-Repeat", "a"),
            ("x-repeat", "b"),
            ("X_mixed_Underscore", "3"),
        ),
        body=b'{"case": "kept"}',
    ),
    Case("long-query", method="GET", query=LONG_QUERY),
    Case("sub-path", path="/deep/a%2Fb/c;p=1/", query="q=%00%ff"),
    Case("chunked", headers=(("Content-Type", "text/plain"),), body=os.urandom(3000), chunked=True),
    *[
        Case(f"method-{m}", method=m, body=b"" if m == "HEAD" else b"x")
        for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    ],
]


def send(host: str, port: int, bin_id: str, case: Case) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Send ``case`` over a fresh connection; return status, body and response headers."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    target = f"/b/{bin_id}{case.path}" + (f"?{case.query}" if case.query else "")
    connection.putrequest(case.method, target, skip_accept_encoding=True)
    for name, value in case.headers:
        connection.putheader(name, value)
    if case.chunked:
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        for start in range(0, len(case.body), 1000):
            piece = case.body[start : start + 1000]
            connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        connection.send(b"0\r\n\r\n")
    else:
        if case.body or case.method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", str(len(case.body)))
        connection.endheaders(case.body or None)
    response = connection.getresponse()
    data = response.read()
    headers = response.getheaders()
    connection.close()
    return response.status, data, headers


def sent_headers(case: Case) -> list[tuple[str, str]]:
    """The headers we put on the wire, in order (Host first, as http.client sends it)."""
    return list(case.headers)


def assert_stored(stored: dict, case: Case) -> None:
    """The stored capture equals what was sent, byte for byte, header names in their case."""
    import base64

    assert stored["method"] == case.method
    assert stored["path"] == (case.path or "/")
    assert stored["query_string"] == case.query
    assert base64.b64decode(stored["body_base64"]) == case.body
    assert stored["size"] == len(case.body)
    names = [name for name, _ in stored["headers"]]
    ours = [[n, v] for n, v in case.headers]
    received = [
        pair
        for pair in stored["headers"]
        if pair[0].lower() in {n.lower() for n, _ in case.headers}
    ]
    assert received == ours, f"{case.name}: headers {stored['headers']}"
    assert names[0].lower() == "host"
    if case.chunked:
        assert ["transfer-encoding", "chunked"] in [[n.lower(), v] for n, v in stored["headers"]]


def iter_cases(names: Iterable[str] | None = None) -> list[Case]:
    """All cases, or those named."""
    return [c for c in CASES if names is None or c.name in names]
