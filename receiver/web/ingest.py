"""Ingest: every method on /b/<bin_id> and below is captured, committed, then answered.

Ingest is served in front of Flask, as WSGI middleware (`Ingest`): a capture needs none of what
Flask builds for a page or an API call (request and app contexts, URL routing, sessions, the
team gate, a response object with its header bookkeeping), and a bin is only as fast as the
work around the capture. So ``/b/…`` never reaches Flask's routing; in particular the sub-path
is taken exactly as sent (Werkzeug's router would answer ``//x`` with a redirect). Everything
else goes on to the Flask app unchanged.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from typing import Any

from gunicorn.http.errors import NoMoreData
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import ClientDisconnected
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.http import remove_entity_headers
from werkzeug.wrappers import Request as WerkzeugRequest
from werkzeug.wsgi import get_input_stream

from receiver.capture.record import Recorded
from receiver.capture.record import record
from receiver.capture.request import RawRequest
from receiver.capture.store import BinGone
from receiver.capture.store import DatabaseUnavailable
from receiver.capture.store import IngestTarget
from receiver.storage.models import utcnow
from receiver.web import serving
from receiver.web.deadlines import SlowSender
from receiver.web.ratelimit import client_key
from receiver.web.services import Services

log = logging.getLogger(__name__)
PREFIX = "/b/"
READ_CHUNK = 64 * 1024
BIN_ID_MAX = 64
RETRY_AFTER_SECONDS = 5
# every ingest answer carries these: any page may send to a bin and read its answer, and a
# bin's own response is untrusted content served from our origin, never allowed to run
COMMON_HEADERS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "*"),
    ("Content-Security-Policy", "sandbox; default-src 'none'"),
    ("X-Content-Type-Options", "nosniff"),
]
_REPLACED = {"content-length", "content-security-policy"}


class _Framed(list[tuple[str, str]]):
    """Answer headers that are final as they are (the default answer's)."""


# the default answer: its length and its request id are filled in per capture
DEFAULT_STATUS = "200 OK"
DEFAULT_HEADERS = [
    ("Content-Length", ""),
    ("Content-Type", "application/json"),
    ("X-Receiver-Request-Id", ""),
    *COMMON_HEADERS,
]
StartResponse = Callable[..., Any]
Answer = tuple[int, list[tuple[str, str]], bytes]


class BodyTooLarge(Exception):
    """The body exceeded the limit; ``drained`` says whether all of it was read."""

    def __init__(self, drained: bool) -> None:
        super().__init__("body too large")
        self.drained = drained


class BodyUnreadable(Exception):
    """The body could not be read as framed: broken chunking, shorter than its declared length,
    a sender too slow or gone. Nothing is stored, and the connection cannot be reused."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# what reading a body raises when the sender breaks the framing, stalls or goes away: gunicorn's
# parse errors (bad chunk size, extension or terminator), its NoMoreData (the connection closed
# mid-body; SlowSender is one), Werkzeug's ClientDisconnected, and socket errors
_READ_ERRORS = (ParseException, NoMoreData, ClientDisconnected, OSError)


def read_body(environ: dict[str, Any], limit: int, drain_limit: int) -> bytes:
    """Read the whole body, chunked or not, up to ``limit`` bytes.

    :raise BodyTooLarge: after draining up to ``drain_limit`` bytes so the sender can read a 413.
    :raise BodyUnreadable: the framing broke mid-body, the body ended before its declared
        ``Content-Length``, or the sender was too slow (408).
    """
    try:
        return _read_all(environ, limit, drain_limit)
    except SlowSender as slow:
        raise BodyUnreadable(408, "request_timeout", f"{slow}; nothing stored") from None
    except _READ_ERRORS as error:
        detail = str(error) or type(error).__name__
        raise BodyUnreadable(
            400, "invalid_body", f"the body could not be read ({detail}); nothing stored"
        ) from None


def _read_all(environ: dict[str, Any], limit: int, drain_limit: int) -> bytes:
    declared_text = environ.get("CONTENT_LENGTH")
    if declared_text and declared_text.isdigit():
        return _read_declared(environ["wsgi.input"], int(declared_text), limit, drain_limit)
    # no length: chunked (the server ends the stream) or no body at all
    stream = get_input_stream(environ, max_content_length=None)
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(_drained(partial(_drain, stream, max(0, drain_limit - size))))
        chunks.append(chunk)
    return b"".join(chunks)


def _read_declared(stream: Any, declared: int, limit: int, drain_limit: int) -> bytes:
    """Exactly ``declared`` bytes, never one more (a development server's stream is the socket
    itself: reading past the body would wait for the connection's next request)."""
    if declared > limit:
        raise BodyTooLarge(_drained(partial(_drain_declared, stream, declared, drain_limit)))
    chunks: list[bytes] = []
    left = declared
    while left:
        chunk = stream.read(min(left, READ_CHUNK))
        if not chunk:
            # the sender closed its side before the declared length: not stored
            raise BodyUnreadable(
                400,
                "incomplete_body",
                f"the body ended after {declared - left} of its declared {declared} bytes;"
                " nothing stored",
            )
        chunks.append(chunk)
        left -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _drained(drain: Callable[[], bool]) -> bool:
    """Run a drain of a body already refused as too large. The drain only lets the sender read
    its 413: a sender that stalls past the read deadline or breaks the framing during it is still
    answered 413 (and the connection closed), not 408 or 400."""
    try:
        return drain()
    except _READ_ERRORS:
        return False


def _drain_declared(stream: Any, declared: int, budget: int) -> bool:
    """Read and discard up to ``budget`` bytes of a declared body; True when all of it went."""
    left = declared
    while left and budget > 0:
        chunk = stream.read(min(READ_CHUNK, left, budget))
        if not chunk:
            return True
        left -= len(chunk)
        budget -= len(chunk)
    return left == 0


def _drain(stream: Any, budget: int) -> bool:
    """Read and discard up to ``budget`` bytes; True when the body ended within it."""
    while budget > 0:
        chunk = stream.read(min(READ_CHUNK, budget))
        if not chunk:
            return True
        budget -= len(chunk)
    return not stream.read(1)


def raw_sub_path(environ: dict[str, Any], bin_id: str, decoded_rest: str) -> str:
    """The path below the bin exactly as sent (percent-escapes kept) when the server kept it;
    ``decoded_rest`` is what follows ``/b/<bin_id>`` in the decoded ``PATH_INFO``."""
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if target:
        path = target.split("?", 1)[0].split("#", 1)[0]
        if "://" in path:  # absolute-form request target
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        prefix = PREFIX + bin_id
        if path.startswith(prefix):
            rest = path[len(prefix) :]
            return rest if rest.startswith("/") else "/" + rest if rest else "/"
    return decoded_rest or "/"


def json_error(status: int, code: str, message: str) -> Answer:
    """The API's error shape, ``{"error": {"code", "message"}}``, as an ingest answer."""
    body = json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":"))
    return status, [("Content-Type", "application/json")], body.encode() + b"\n"


def unavailable() -> Answer:
    """The answer when nothing could be stored: 503, try again shortly (never a 2xx)."""
    status, headers, body = json_error(
        503, "database_unavailable", "the request could not be stored; send it again later"
    )
    return status, [*headers, ("Retry-After", str(RETRY_AFTER_SECONDS))], body


def rate_limited(what: str, wait: float) -> Answer:
    """The answer past a rate limit: 429, with when to try again (whole seconds, at least 1)."""
    seconds = max(1, math.ceil(wait))
    status, headers, body = json_error(
        429,
        "rate_limited",
        f"too many requests for {what}; try again in {seconds} s (nothing stored)",
    )
    return status, [*headers, ("Retry-After", str(seconds))], body


NOT_FOUND = json_error(404, "bin_not_found", "no such bin, or it has expired")


class Ingest:
    """WSGI middleware: captures ``/b/<bin_id>[/…]`` itself and passes the rest to ``app``."""

    def __init__(self, app: Callable[..., Iterable[bytes]], services: Services, config: Any):
        self.app = app
        self.services = services
        self.body_limit: int = config["RECEIVER_BODY_LIMIT"]
        self.drain_limit: int = config["RECEIVER_DRAIN_LIMIT"]
        self.rate_per_client: int = config["RECEIVER_RATE_PER_CLIENT"]
        self.rate_per_bin: int = config["RECEIVER_RATE_PER_BIN"]
        self.public_url: str = (config.get("RECEIVER_PUBLIC_URL") or "").rstrip("/")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO") or ""
        if not path.startswith(PREFIX):
            return self.app(environ, start_response)
        bin_id, slash, rest = path[len(PREFIX) :].partition("/")
        if not bin_id:  # "/b/" alone is no bin: Flask answers it (a JSON 404)
            return self.app(environ, start_response)
        try:
            status, headers, body, close = self.capture(environ, bin_id, slash + rest)
        except Exception:  # never a traceback to the sender, and never a 2xx
            log.exception("unhandled error while capturing")
            status, headers, body = json_error(
                500, "internal_server_error", "the request could not be captured"
            )
            close = False
        return self.respond(environ, start_response, status, headers, body, close)

    def capture(
        self, environ: dict[str, Any], bin_id: str, rest: str
    ) -> tuple[int, list[tuple[str, str]], bytes, bool]:
        """Store the request, then answer with the bin's response (or a JSON 4xx/5xx); the last
        value says whether the connection must close (its body was not read to the end)."""
        services = self.services
        rates = services.rates
        if rates is not None and self.rate_per_client:
            wait = rates.take(client_key(environ.get("REMOTE_ADDR")), self.rate_per_client)
            if wait:
                return (*rate_limited("this client address", wait), False)
        now = utcnow()
        store = services.capture
        try:
            target = store.lookup(bin_id, now) if len(bin_id) <= BIN_ID_MAX else None
        except DatabaseUnavailable:
            return (*unavailable(), False)
        if target is None:
            return (*NOT_FOUND, False)
        if rates is not None and self.rate_per_bin:
            wait = rates.take("bin:" + target.id, self.rate_per_bin)
            if wait:
                return (*rate_limited("this bin", wait), False)
        return self.capture_found(environ, bin_id, rest, target, now)

    def capture_found(
        self, environ: dict[str, Any], bin_id: str, rest: str, target: IngestTarget, now: datetime
    ) -> tuple[int, list[tuple[str, str]], bytes, bool]:
        """Read the body, record the capture and decide the answer (`capture`'s second half)."""
        store = self.services.capture
        try:
            body = read_body(environ, self.body_limit, self.drain_limit)
        except BodyUnreadable as unreadable:
            return (*json_error(unreadable.status, unreadable.code, unreadable.message), True)
        except BodyTooLarge as too_large:
            refused = json_error(
                413,
                "payload_too_large",
                f"the body exceeds the limit of {self.body_limit} bytes; nothing stored",
            )
            return (*refused, not too_large.drained)
        headers, _exact = serving.raw_headers(environ)
        raw = RawRequest(
            method=environ["REQUEST_METHOD"],
            path=raw_sub_path(environ, bin_id, rest),
            query_string=serving.raw_query(environ),
            headers=headers,
            body=body,
            remote_addr=environ.get("REMOTE_ADDR"),
        )
        try:
            recorded = record(
                store,
                target,
                raw,
                now=now,
                catalog_for=self.services.catalog_for,
                base_url=lambda: self.public_base(environ),
            )
        except BinGone:
            return (*NOT_FOUND, False)
        except DatabaseUnavailable:
            return (*unavailable(), False)
        return (*self.answer(environ, recorded), False)

    def answer(self, environ: dict[str, Any], recorded: Recorded) -> Answer:
        """What the bin answers: a CORS preflight's 204, or the bin's response."""
        answer = recorded.answer
        if answer.delay_ms:
            time.sleep(answer.delay_ms / 1000)
        request_id = ("X-Receiver-Request-Id", str(recorded.request_id))
        method = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")
        if environ["REQUEST_METHOD"] == "OPTIONS" and method is not None and not recorded.rejected:
            preflight = [
                ("Access-Control-Allow-Methods", method),
                (
                    "Access-Control-Allow-Headers",
                    environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "*"),
                ),
                ("Access-Control-Max-Age", "600"),
                request_id,
            ]
            return 204, preflight, b""
        if answer.default:  # the most common answer, framed here at once
            final = _Framed(DEFAULT_HEADERS)
            final[0] = ("Content-Length", str(len(answer.body)))
            final[2] = request_id
            return 200, final, answer.body
        return answer.status, [*answer.headers, request_id], answer.body

    def public_base(self, environ: dict[str, Any]) -> str:
        """The configured public base URL, or the host this request came to (see web.urls)."""
        return self.public_url or WerkzeugRequest(environ).host_url.rstrip("/")

    def respond(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        close: bool,
    ) -> Iterable[bytes]:
        """Start the WSGI response: framing as Werkzeug would do it, then the common headers."""
        if isinstance(headers, _Framed) and not close:
            start_response(DEFAULT_STATUS, headers)
            return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]
        bodiless = status < 200 or status in (204, 304)
        # the server frames the answer, and the sandbox policy is always ours
        headers = [pair for pair in headers if pair[0].lower() not in _REPLACED]
        if status == 304:
            remove_entity_headers(headers)
        if not bodiless:
            headers.insert(0, ("Content-Length", str(len(body))))
        if any(name.lower() == "location" for name, _ in headers):
            headers = _absolute_locations(environ, headers)
        present = {name.lower() for name, _ in headers}
        headers += [pair for pair in COMMON_HEADERS if pair[0].lower() not in present]
        if close:
            headers.append(("Connection", "close"))
            serving.close_after_answer(environ)
        phrase = HTTP_STATUS_CODES.get(status, "UNKNOWN").upper()
        start_response(f"{status} {phrase}", headers)
        if bodiless or environ["REQUEST_METHOD"] == "HEAD":
            return []
        return [body]


def _absolute_locations(
    environ: dict[str, Any], headers: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """A bin's ``Location`` answered as Werkzeug would: an absolute, URI-encoded URL."""
    from werkzeug.wrappers import Response

    response = Response(headers=headers)
    return list(response.get_wsgi_headers(environ).items())
