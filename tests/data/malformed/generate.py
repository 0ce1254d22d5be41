"""Writes the malformed-request corpus: one ``<name>.http`` file per case (the exact bytes sent on
a raw socket, ``{BIN}`` standing for the bin's id) and ``cases.json`` (how each is sent and what
must happen). Run it from anywhere after changing a case; the files are committed.

Modes: ``whole`` sends everything and half-closes; ``open`` sends everything and keeps the
connection open (the server must answer or close by itself); ``stall`` sends everything, then
nothing more (a sender that stopped); ``drip`` sends one byte every ``drip`` seconds.

Expectations: ``stored`` (a 2xx, and the bin holds the capture: ``body_size`` and
``body_sha256`` describe the stored body, ``method`` its method), ``refused`` (a 4xx, ``status``
when one is required; nothing stored), or ``closed`` (the connection is closed, or answered with
a 4xx; nothing stored).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from pathlib import Path

import brotli

HERE = Path(__file__).resolve().parent
CRLF = b"\r\n"
CASES: list[dict[str, object]] = []


def head(method: bytes = b"POST", target: bytes = b"/b/{BIN}", *lines: bytes) -> bytes:
    """A request head (request line, Host, the given header lines, the blank line)."""
    return (
        method
        + b" "
        + target
        + b" HTTP/1.1"
        + CRLF
        + b"Host: receiver.test"
        + CRLF
        + b"".join(line + CRLF for line in lines)
        + CRLF
    )


def case(name: str, data: bytes, expect: str, **options: object) -> None:
    (HERE / f"{name}.http").write_bytes(data)
    CASES.append({"name": name, "expect": expect, **options})


def with_length(
    body: bytes, *lines: bytes, method: bytes = b"POST", target: bytes = b"/b/{BIN}"
) -> bytes:
    return head(method, target, *lines, b"Content-Length: %d" % len(body)) + body


def stored(name: str, data: bytes, body: bytes = b"", **options: object) -> None:
    digest = hashlib.sha256(body).hexdigest()
    case(name, data, "stored", body_size=len(body), body_sha256=digest, **options)


CHUNKED = b"Transfer-Encoding: chunked"

# --- bad framing: chunked bodies ------------------------------------------------------------
stored(
    "chunked-valid",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"hello world",
)
stored(
    "chunked-extension",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"5;name=value\r\nhello\r\n0\r\n\r\n",
    b"hello",
)
stored(
    "chunked-trailer",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"2\r\nhi\r\n0\r\nX-Trailer: yes\r\n\r\n",
    b"hi",
)
stored(
    "chunked-uppercase-hex",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"A\r\n0123456789\r\n0\r\n\r\n",
    b"0123456789",
)
stored("chunked-empty", head(b"POST", b"/b/{BIN}", CHUNKED) + b"0\r\n\r\n", b"")
stored(
    "chunked-tiny-chunks",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"1\r\nx\r\n" * 3000 + b"0\r\n\r\n",
    b"x" * 3000,
)
case(
    "chunked-bad-size",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"zz\r\nhello\r\n0\r\n\r\n",
    "refused",
    status=400,
)
case(
    "chunked-bad-size-mid-body",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"5\r\nhello\r\nzz\r\nxx\r\n0\r\n\r\n",
    "refused",
    status=400,
)
case(
    "chunked-negative-size",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"-5\r\nhello\r\n0\r\n\r\n",
    "refused",
    status=400,
)
case(
    "chunked-size-overflow",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"ffffffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    "refused",
)
case(
    "chunked-size-with-space",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"5 x\r\nhello\r\n0\r\n\r\n",
    "refused",
    status=400,
)
case(
    "chunked-extension-control-char",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"5;\x01=x\r\nhello\r\n0\r\n\r\n",
    "refused",
    status=400,
)
case(
    "chunked-extension-huge",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"5;" + b"a" * 70000 + b"\r\nhello\r\n0\r\n\r\n",
    "refused",
)
case(
    "chunked-missing-data-crlf",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"5\r\nhelloXX0\r\n\r\n",
    "refused",
    status=400,
)
case(
    "chunked-lf-only", head(b"POST", b"/b/{BIN}", CHUNKED) + b"2\nhi\n0\n\n", "refused", status=400
)
case(
    "chunked-bad-trailer",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"2\r\nhi\r\n0\r\nno colon here\r\n\r\n",
    "refused",
)
case(
    "chunked-truncated-mid-chunk",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"50\r\nhello",
    "refused",
    status=400,
)
case(
    "chunked-truncated-no-last-chunk",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"5\r\nhello\r\n",
    "refused",
    status=400,
)
case(
    "chunked-stalls-mid-body",
    head(b"POST", b"/b/{BIN}", CHUNKED) + b"50\r\nhello",
    "refused",
    mode="stall",
    status=408,
)
case(
    "chunked-twice",
    head(b"POST", b"/b/{BIN}", b"Transfer-Encoding: chunked, chunked") + b"0\r\n\r\n",
    "refused",
    status=400,
)
case(
    "te-unknown-coding",
    head(b"POST", b"/b/{BIN}", b"Transfer-Encoding: foo") + b"hi",
    "refused",
    status=400,
)
case(
    "te-identity",
    head(b"POST", b"/b/{BIN}", b"Transfer-Encoding: identity", b"Content-Length: 2") + b"hi",
    "refused",
    status=400,
)
case(
    "te-chunked-not-last",
    head(b"POST", b"/b/{BIN}", b"Transfer-Encoding: chunked, gzip") + b"0\r\n\r\n",
    "refused",
    status=400,
)

# --- bad framing: lengths -------------------------------------------------------------------
case(
    "cl-and-te",
    head(b"POST", b"/b/{BIN}", b"Content-Length: 5", CHUNKED) + b"5\r\nhello\r\n0\r\n\r\n",
    "refused",
    status=400,
)
case(
    "te-and-cl",
    head(b"POST", b"/b/{BIN}", CHUNKED, b"Content-Length: 5") + b"5\r\nhello\r\n0\r\n\r\n",
    "refused",
    status=400,
)
case(
    "cl-duplicate-different",
    head(b"POST", b"/b/{BIN}", b"Content-Length: 2", b"Content-Length: 3") + b"hid",
    "refused",
    status=400,
)
case(
    "cl-duplicate-same",
    head(b"POST", b"/b/{BIN}", b"Content-Length: 2", b"Content-Length: 2") + b"hi",
    "refused",
    status=400,
)
case("cl-list", head(b"POST", b"/b/{BIN}", b"Content-Length: 2, 2") + b"hi", "refused", status=400)
case(
    "cl-negative", head(b"POST", b"/b/{BIN}", b"Content-Length: -2") + b"hi", "refused", status=400
)
case(
    "cl-not-a-number",
    head(b"POST", b"/b/{BIN}", b"Content-Length: two") + b"hi",
    "refused",
    status=400,
)
case(
    "cl-plus-sign", head(b"POST", b"/b/{BIN}", b"Content-Length: +2") + b"hi", "refused", status=400
)
case(
    "cl-huge",
    head(b"POST", b"/b/{BIN}", b"Content-Length: 99999999999999999999999") + b"hi",
    "refused",
    status=413,
)
case(
    "cl-over-limit-short-body",
    head(b"POST", b"/b/{BIN}", b"Content-Length: 20971520") + b"x" * 1000,
    "refused",
    status=413,
)
case(
    "cl-lying-short",
    head(b"POST", b"/b/{BIN}", b"Content-Length: 100") + b"hello",
    "refused",
    status=400,
)
case(
    "cl-lying-short-stalls",
    head(b"POST", b"/b/{BIN}", b"Content-Length: 100") + b"hello",
    "refused",
    mode="stall",
    status=408,
)
stored(
    "cl-lying-long",
    head(b"POST", b"/b/{BIN}", b"Content-Length: 5") + b"hello, and more bytes than declared",
    b"hello",
)
stored("cl-zero-with-body", head(b"POST", b"/b/{BIN}", b"Content-Length: 0") + b"unexpected", b"")
case("truncated-head", b"POST /b/{BIN} HTTP/1.1\r\nHost: receiver.test\r\nContent-Le", "closed")

# --- header and line floods -----------------------------------------------------------------
case(
    "header-flood-200-fields",
    head(b"POST", b"/b/{BIN}", *[b"X-Flood-%d: v" % i for i in range(200)]),
    "refused",
    status=431,
)
case(
    "header-value-9000-bytes",
    head(b"POST", b"/b/{BIN}", b"X-Big: " + b"a" * 9000),
    "refused",
    status=431,
)
case(
    "header-value-64k", head(b"POST", b"/b/{BIN}", b"X-Big: " + b"a" * 65536), "refused", status=431
)
case("request-line-9000-bytes", head(b"GET", b"/b/{BIN}?" + b"q" * 9000), "refused", status=414)
case("request-line-100k", head(b"GET", b"/b/{BIN}?" + b"q" * 100_000), "refused", status=414)
case(
    "header-without-colon",
    head(b"POST", b"/b/{BIN}", b"NoColonHere", b"Content-Length: 0"),
    "refused",
    status=400,
)
case(
    "header-space-before-colon",
    head(b"POST", b"/b/{BIN}", b"X-A : b", b"Content-Length: 0"),
    "refused",
    status=400,
)
case(
    "header-obsolete-folding",
    head(b"POST", b"/b/{BIN}", b"X-A: one", b" two", b"Content-Length: 0"),
    "refused",
    status=400,
)
case(
    "header-nul-in-value",
    head(b"POST", b"/b/{BIN}", b"X-A: a\x00b", b"Content-Length: 0"),
    "refused",
    status=400,
)
case(
    "header-name-bad-char",
    head(b"POST", b"/b/{BIN}", b"X(A): b", b"Content-Length: 0"),
    "refused",
    status=400,
)
case(
    "host-twice",
    head(b"POST", b"/b/{BIN}", b"Host: other.test", b"Content-Length: 0"),
    "refused",
    status=400,
)
stored(
    "header-underscore-and-latin1",
    with_length(b"{}", b"X_Under_Score: kept", b"X-Latin: caf\xe9"),
    b"{}",
)
stored("header-empty-value", with_length(b"ok", b"X-Empty:"), b"ok")
stored(
    "header-99-fields", with_length(b"ok", *[b"X-Many-%d: %d" % (i, i) for i in range(97)]), b"ok"
)
stored("no-host-http11", b"POST /b/{BIN} HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", b"hi")

# --- request lines and methods --------------------------------------------------------------
stored("method-propfind", with_length(b"<x/>", method=b"PROPFIND"), b"<x/>", method="PROPFIND")
stored(
    "method-custom-token",
    with_length(b"ok", method=b"X-WEBHOOK.PING!"),
    b"ok",
    method="X-WEBHOOK.PING!",
)
stored("method-trace", head(b"TRACE"), b"", method="TRACE")
stored("method-delete-with-body", with_length(b"gone", method=b"DELETE"), b"gone", method="DELETE")
case("method-lowercase", with_length(b"hi", method=b"post"), "refused", status=400)
case("method-invalid-char", with_length(b"hi", method=b"PO(ST"), "refused", status=400)
case("method-too-long", with_length(b"hi", method=b"M" * 300), "refused", status=400)
case("version-9-9", b"POST /b/{BIN} HTTP/9.9\r\nHost: receiver.test\r\n\r\n", "refused", status=400)
case(
    "version-2-0-text",
    b"POST /b/{BIN} HTTP/2.0\r\nHost: receiver.test\r\n\r\n",
    "refused",
    status=400,
)
case("http-0-9", b"GET /b/{BIN}\r\n", "refused", status=400)
case(
    "request-line-extra-spaces",
    b"POST  /b/{BIN}  HTTP/1.1\r\nHost: receiver.test\r\n\r\n",
    "refused",
    status=400,
)
case("h2-preface-on-http1", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "refused", status=400)
case(
    "proxy-protocol-line",
    b"PROXY TCP4 203.0.113.1 203.0.113.2 1 2\r\n" + head(),
    "refused",
    status=400,
)
case(
    "tls-client-hello",
    bytes.fromhex("16030100f5010000f10303") + bytes(range(32)) + b"\x00" * 40,
    "closed",
)
case("binary-garbage", bytes((i * 37 + 11) % 256 for i in range(600)), "closed")
case("empty-lines-then-close", b"\r\n\r\n\r\n", "closed")
stored("http-1-0-with-body", b"POST /b/{BIN} HTTP/1.0\r\nContent-Length: 4\r\n\r\nold!", b"old!")
stored(
    "absolute-form-target",
    with_length(b"hi", target=b"http://elsewhere.test/b/{BIN}/sub?q=1"),
    b"hi",
)
stored("target-bad-percent-escapes", with_length(b"hi", target=b"/b/{BIN}/%zz/%00/%?x=%ff"), b"hi")
stored("expect-100-continue", with_length(b"{}", b"Expect: 100-continue"), b"{}")
case("expect-unknown", with_length(b"{}", b"Expect: teapot"), "refused", status=417)

# --- slow senders ---------------------------------------------------------------------------
case(
    "slow-head-stalls", b"POST /b/{BIN} HTTP/1.1\r\nHost: receiver.test\r\n", "closed", mode="stall"
)
case(
    "slow-head-drip",
    b"POST /b/{BIN} HTTP/1.1\r\nHost: receiver.test\r\nX-Drip: " + b"d" * 40,
    "closed",
    mode="drip",
    drip=0.25,
)
SLOW_HEAD = head(b"POST", b"/b/{BIN}", b"Content-Length: 200")
# cut off at its deadline: a 408 when it is between bytes, a reset when a byte crosses the close
case(
    "slow-body-drip",
    SLOW_HEAD + b"x" * 60,
    "closed",
    mode="drip",
    drip=0.25,
    drip_after=len(SLOW_HEAD),
)
stored(
    "slow-but-in-time", with_length(b'{"slow": true}'), b'{"slow": true}', mode="drip", drip=0.005
)

# --- compressed bombs -----------------------------------------------------------------------
ZEROS = b"\x00" * (64 * 1024 * 1024)
GZIP_BOMB = gzip.compress(ZEROS, compresslevel=9, mtime=0)
stored(
    "gzip-bomb-64mib",
    with_length(GZIP_BOMB, b"Content-Type: application/json", b"Content-Encoding: gzip"),
    GZIP_BOMB,
)
NESTED = gzip.compress(gzip.compress(ZEROS, compresslevel=9, mtime=0), compresslevel=9, mtime=0)
stored("gzip-in-gzip-bomb", with_length(NESTED, b"Content-Encoding: gzip, gzip"), NESTED)
DEFLATE_BOMB = zlib.compress(ZEROS, 9)
stored("deflate-bomb-64mib", with_length(DEFLATE_BOMB, b"Content-Encoding: deflate"), DEFLATE_BOMB)
BROTLI_BOMB = brotli.compress(b"\x00" * (512 * 1024 * 1024), quality=5)
stored(
    "brotli-bomb-512mib",
    with_length(BROTLI_BOMB, b"Content-Type: application/json", b"Content-Encoding: br"),
    BROTLI_BOMB,
)
JSON_BOMB = gzip.compress(b"[" + b"1," * (20 * 1024 * 1024) + b"1]", compresslevel=9, mtime=0)
stored(
    "gzip-json-40mib",
    with_length(JSON_BOMB, b"Content-Type: application/json", b"Content-Encoding: gzip"),
    JSON_BOMB,
)
CORRUPT = GZIP_BOMB[:100] + b"\xff" * 50
stored("gzip-corrupt", with_length(CORRUPT, b"Content-Encoding: gzip"), CORRUPT)
stored("content-encoding-unknown", with_length(b"abc", b"Content-Encoding: zstd"), b"abc")

# --- deep and huge JSON ---------------------------------------------------------------------
for name, body in (
    ("json-deep-array-100k", b"[" * 100_000 + b"]" * 100_000),
    ("json-deep-object-50k", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("json-deep-990", b'{"a":' * 990 + b"1" + b"}" * 990),
    ("json-unclosed-deep", b"[" * 200_000),
    ("json-nan-infinity", b'{"a": NaN, "b": Infinity, "c": -Infinity}'),
    ("json-huge-number", b'{"n": 1' + b"0" * 5000 + b"}"),
    ("json-lone-surrogate", b'{"s": "\\ud800"}'),
    ("json-duplicate-keys", b'{"a": 1, "a": 2}'),
):
    stored(name, with_length(body, b"Content-Type: application/json"), body)

CASES.append({"name": "json-huge-9mib", "generate": "huge_json", "expect": "stored"})
CASES.append(
    {
        "name": "json-over-limit-11mib",
        "generate": "over_limit_json",
        "expect": "refused",
        "status": 413,
    }
)
CASES.append({"name": "json-many-keys-200k", "generate": "many_keys_json", "expect": "stored"})

(HERE / "cases.json").write_text(json.dumps(CASES, indent=1) + "\n")
print(f"{len(CASES)} cases")
