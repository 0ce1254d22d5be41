"""Ingest: every method on /b/<bin_id> and below is captured, committed, then answered."""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request
from gunicorn.http.errors import NoMoreData
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import ClientDisconnected
from werkzeug.routing import Rule
from werkzeug.wsgi import get_input_stream

from receiver.capture.record import record
from receiver.capture.request import RawRequest
from receiver.capture.store import BinGone
from receiver.capture.store import DatabaseUnavailable
from receiver.storage.models import utcnow
from receiver.web import serving
from receiver.web.deadlines import SlowSender
from receiver.web.errors import RETRY_AFTER_SECONDS
from receiver.web.errors import json_error
from receiver.web.ratelimit import EXTENSION as RATES
from receiver.web.ratelimit import RateTable
from receiver.web.ratelimit import client_key
from receiver.web.state import capture_store
from receiver.web.state import current_catalog
from receiver.web.urls import public_base

bp = Blueprint("ingest", __name__)
READ_CHUNK = 64 * 1024
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "*",
}
# a bin's own response is untrusted content served from our origin: never let it run
INGEST_CSP = "sandbox; default-src 'none'"


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


@bp.record
def add_any_method_rules(state: Any) -> None:
    """Rules without a method list match every method, including unusual ones."""
    for pattern in ("/b/<bin_id>", "/b/<bin_id>/", "/b/<bin_id>/<path:subpath>"):
        state.app.url_map.add(Rule(pattern, endpoint="ingest.capture", methods=None))
    state.app.view_functions["ingest.capture"] = capture


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
    stream = get_input_stream(environ, max_content_length=None)
    declared_text = environ.get("CONTENT_LENGTH")
    declared = int(declared_text) if declared_text and declared_text.isdigit() else None
    if declared is not None and declared > limit:
        raise BodyTooLarge(_drain(stream, drain_limit))
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(READ_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(_drain(stream, max(0, drain_limit - size)))
        chunks.append(chunk)
    if declared is not None and size < declared:
        # the sender closed its side before the declared length: a truncated body is not stored
        raise BodyUnreadable(
            400,
            "incomplete_body",
            f"the body ended after {size} of its declared {declared} bytes; nothing stored",
        )
    return b"".join(chunks)


def _drain(stream: Any, budget: int) -> bool:
    """Read and discard up to ``budget`` bytes; True when the body ended within it."""
    while budget > 0:
        chunk = stream.read(min(READ_CHUNK, budget))
        if not chunk:
            return True
        budget -= len(chunk)
    return not stream.read(1)


def raw_sub_path(environ: dict[str, Any], bin_id: str, subpath: str) -> str:
    """The path below the bin exactly as sent (percent-escapes kept) when the server kept it."""
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if target:
        path = target.split("?", 1)[0].split("#", 1)[0]
        if "://" in path:  # absolute-form request target
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        prefix = f"/b/{bin_id}"
        if path.startswith(prefix):
            rest = path[len(prefix) :]
            return rest if rest.startswith("/") else "/" + rest if rest else "/"
    return "/" + subpath if subpath else ("/" if request.path.endswith("/") else "/")


def capture(bin_id: str, subpath: str = "") -> Response:
    """Store the request, then answer with the bin's response (or a JSON 404/413)."""
    config = current_app.config
    rates: RateTable | None = current_app.extensions.get(RATES)
    if rates is not None and config["RECEIVER_RATE_PER_CLIENT"]:
        wait = rates.take(client_key(request.remote_addr), config["RECEIVER_RATE_PER_CLIENT"])
        if wait:
            return _with_cors(rate_limited("this client address", wait))
    now = utcnow()
    store = capture_store()
    try:
        target = store.lookup(bin_id, now)
    except DatabaseUnavailable:
        return _with_cors(unavailable())
    if target is None:
        return _with_cors(json_error(404, "bin_not_found", "no such bin, or it has expired"))
    if rates is not None and config["RECEIVER_RATE_PER_BIN"]:
        wait = rates.take("bin:" + target.id, config["RECEIVER_RATE_PER_BIN"])
        if wait:
            return _with_cors(rate_limited("this bin", wait))
    environ = request.environ
    try:
        body = read_body(environ, config["RECEIVER_BODY_LIMIT"], config["RECEIVER_DRAIN_LIMIT"])
    except BodyUnreadable as unreadable:
        response = json_error(unreadable.status, unreadable.code, unreadable.message)
        response.headers["Connection"] = "close"
        return _with_cors(response)
    except BodyTooLarge as too_large:
        response = json_error(
            413,
            "payload_too_large",
            f"the body exceeds the limit of {config['RECEIVER_BODY_LIMIT']} bytes; nothing stored",
        )
        if not too_large.drained:
            response.headers["Connection"] = "close"
        return _with_cors(response)
    headers, _exact = serving.raw_headers(environ)
    raw = RawRequest(
        method=request.method,
        path=raw_sub_path(environ, bin_id, subpath),
        query_string=serving.raw_query(environ),
        headers=headers,
        body=body,
        remote_addr=request.remote_addr,
    )
    try:
        recorded = record(
            store,
            target,
            raw,
            now=now,
            catalog=current_catalog(),
            base_url=public_base(),
        )
    except BinGone:
        return _with_cors(json_error(404, "bin_not_found", "no such bin, or it has expired"))
    except DatabaseUnavailable:
        return _with_cors(unavailable())
    answer = recorded.answer
    if answer.delay_ms:
        time.sleep(answer.delay_ms / 1000)
    if _is_preflight() and not recorded.rejected:
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = request.headers.get(
            "Access-Control-Request-Method", "*"
        )
        response.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "*"
        )
        response.headers["Access-Control-Max-Age"] = "600"
    else:
        response = Response(answer.body, status=answer.status)
        response.headers.remove("Content-Type")
        for name, value in answer.headers:
            response.headers.add(name, value)
    response.headers["X-Receiver-Request-Id"] = str(recorded.request_id)
    return _with_cors(response)


def unavailable() -> Response:
    """The answer when nothing could be stored: 503, try again shortly (never a 2xx)."""
    response = json_error(
        503, "database_unavailable", "the request could not be stored; send it again later"
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def rate_limited(what: str, wait: float) -> Response:
    """The answer past a rate limit: 429, with when to try again (whole seconds, at least 1)."""
    seconds = max(1, math.ceil(wait))
    response = json_error(
        429,
        "rate_limited",
        f"too many requests for {what}; try again in {seconds} s (nothing stored)",
    )
    response.headers["Retry-After"] = str(seconds)
    return response


def _is_preflight() -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def _with_cors(response: Response) -> Response:
    for name, value in CORS_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Content-Security-Policy"] = INGEST_CSP
    return response
