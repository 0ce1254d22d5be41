"""HAR 1.2 exports of captured requests, one entry per request, oldest first, each with its curl
command and what the bin answered.

Pure functions over anything shaped like `StoredRequest` (the ORM model or a test double); no
Flask, no database. HAR 1.2 is followed strictly: fields of our own start with `_`, and a
request body is `postData.text` or `postData.params`, never both (see `_post_data` for which, and
for bodies that are not text). A HAR never promises bytes it does not carry: when `postData` is
not the exact body, the captured Content-Length is left out of the request's headers.
"""

from __future__ import annotations

import base64
import http
import json
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from receiver.capture.request import StoredRequest
from receiver.capture.request import request_url
from receiver.exports.curl import curl_needs_body_file
from receiver.exports.curl import default_body_file
from receiver.exports.curl import render_curl
from receiver.version import package_version

HAR_VERSION = "1.2"
CREATOR_NAME = "receiver"


FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class RecordedResponse:
    """The answer the bin gave to one request, when the caller knows it; ``size`` is the size of
    the whole body when ``body`` holds only its head, ``delay_ms`` the delay applied first."""

    status: int
    headers: Sequence[Sequence[str]] = field(default_factory=list)
    body: bytes = b""
    status_text: str = ""
    http_version: str = "HTTP/1.1"
    size: int | None = None
    delay_ms: int = 0


def build_har(
    requests: Iterable[StoredRequest],
    base_url: str,
    *,
    creator_version: str | None = None,
    responses: Mapping[int, RecordedResponse] | None = None,
) -> dict[str, Any]:
    """Build a HAR 1.2 log of `requests`, oldest first, with the curl line of each.

    `responses` maps request ids to the answer the bin gave; requests without one get the
    placeholder response HAR tools use for "no response" (status 0). A naive `received_at` is
    taken as UTC, which is what SQLite gives back. The creator's version is receiver's own
    unless one is given.
    """
    ordered = sorted(requests, key=lambda req: (_as_utc(req.received_at), req.id))
    answers = responses or {}
    entries = [_har_entry(req, base_url, answers.get(req.id)) for req in ordered]
    return {
        "log": {
            "version": HAR_VERSION,
            "creator": {"name": CREATOR_NAME, "version": creator_version or package_version()},
            "entries": entries,
        }
    }


def har_json(
    requests: Iterable[StoredRequest],
    base_url: str,
    *,
    creator_version: str | None = None,
    responses: Mapping[int, RecordedResponse] | None = None,
) -> str:
    """Serialize `build_har` as indented JSON text (UTF-8 characters kept as they are)."""
    har = build_har(requests, base_url, creator_version=creator_version, responses=responses)
    return json.dumps(har, ensure_ascii=False, indent=2)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _har_entry(
    req: StoredRequest, base_url: str, response: RecordedResponse | None
) -> dict[str, Any]:
    body = bytes(req.body)
    headers = list(req.headers)
    post_data = _post_data(body, req.content_type) if body else None
    if post_data is not None and "text" not in post_data:
        # the body is rebuilt from params, or not carried at all: a reader that sent the
        # captured Content-Length would promise bytes it does not send, and wait for them
        headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
    request: dict[str, Any] = {
        "method": req.method,
        "url": request_url(req, base_url),
        "httpVersion": "HTTP/1.1",
        "cookies": _request_cookies(req.headers),
        "headers": _har_headers(headers),
        "queryString": _name_values(parse_qsl(req.query_string, keep_blank_values=True)),
        "headersSize": -1,
        "bodySize": len(body),
    }
    if post_data is not None:
        request["postData"] = post_data
    if len(headers) < len(req.headers):
        request["comment"] = (
            "the captured Content-Length is left out: postData does not carry the body byte for "
            "byte (see its comment, or _receiver.curl for an exact copy)"
        )
    needs_file = curl_needs_body_file(req)
    wait = response.delay_ms if response is not None else 0
    return {
        "startedDateTime": _as_utc(req.received_at).isoformat(timespec="microseconds"),
        "time": wait,
        "request": request,
        "response": _har_response(response),
        "cache": {},
        "timings": {"send": 0, "wait": wait, "receive": 0},
        "_receiver": {
            "request_id": req.id,
            "remote_addr": req.remote_addr,
            "curl": render_curl(req, base_url),
            "curl_body_file": default_body_file(req) if needs_file else None,
        },
    }


def _post_data(body: bytes, content_type: str | None) -> dict[str, Any]:
    """``postData`` for a body, following HAR 1.2, where ``text`` and ``params`` exclude each
    other and request bodies have no ``encoding``.

    - A URL-encoded form whose fields decode as UTF-8 is ``params`` (what the spec names for URL
      encoded parameters, and what HAR readers such as httpsnippet, Postman and Insomnia rebuild
      a form from; httpsnippet drops ``text`` for this type), under its bare media type; the
      exact bytes are in ``_text``.
    - Any other UTF-8 body is ``text``, exactly (a multipart body keeps its boundary in
      ``mimeType``, so readers send it as it was).
    - A body that is not UTF-8 has no ``text``: a reader that knows only HAR 1.2 would send
      base64 or mangled characters as the body. Its bytes are in ``_base64``, and ``comment``
      says so; ``bodySize`` still counts them.
    """
    mime_type = content_type or ""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {
            "mimeType": mime_type,
            "comment": f"a body of {len(body)} bytes that is not text: HAR 1.2 has no encoding "
            "for request bodies, so its bytes are in _base64 (base64), not in text",
            "_base64": base64.b64encode(body).decode("ascii"),
        }
    if mime_type.split(";")[0].strip().lower() == FORM:
        try:
            fields = parse_qsl(text, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            fields = None
        if fields is not None:
            return {"mimeType": FORM, "params": _name_values(fields), "_text": text}
    return {"mimeType": mime_type, "text": text}


def _har_response(response: RecordedResponse | None) -> dict[str, Any]:
    if response is None:
        return {
            "status": 0,
            "statusText": "",
            "httpVersion": "",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "comment": "what the bin answered was not recorded (captured before answers were)",
        }
    body = bytes(response.body)
    size = len(body) if response.size is None else response.size
    content: dict[str, Any] = {
        "size": size,
        "mimeType": _header_value(response.headers, "content-type") or "x-unknown",
    }
    if body:
        try:
            content["text"] = body.decode("utf-8")
        except UnicodeDecodeError:
            content["text"] = base64.b64encode(body).decode("ascii")
            content["encoding"] = "base64"
        if size > len(body):
            content["comment"] = f"the first {len(body)} of {size} bytes, as kept with the capture"
    return {
        "status": response.status,
        "statusText": response.status_text or _reason_phrase(response.status),
        "httpVersion": response.http_version,
        "cookies": _response_cookies(response.headers),
        "headers": _har_headers(response.headers),
        "content": content,
        "redirectURL": _header_value(response.headers, "location") or "",
        "headersSize": -1,
        "bodySize": size,
    }


def _reason_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _har_headers(headers: Sequence[Sequence[str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in headers]


def _name_values(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


def _header_value(headers: Sequence[Sequence[str]], wanted: str) -> str | None:
    for name, value in headers:
        if name.lower() == wanted:
            return value
    return None


def _request_cookies(headers: Sequence[Sequence[str]]) -> list[dict[str, str]]:
    # best effort: "a=1; b=2" split by hand, since SimpleCookie drops a whole header on one odd pair
    cookies = []
    for name, value in headers:
        if name.lower() != "cookie":
            continue
        for part in value.split(";"):
            cookie_name, sep, cookie_value = part.strip().partition("=")
            if sep and cookie_name.strip():
                cookies.append({"name": cookie_name.strip(), "value": cookie_value.strip()})
    return cookies


def _response_cookies(headers: Sequence[Sequence[str]]) -> list[dict[str, str]]:
    cookies = []
    for name, value in headers:
        if name.lower() != "set-cookie":
            continue
        cookie_name, sep, cookie_value = value.split(";", 1)[0].strip().partition("=")
        if sep and cookie_name.strip():
            cookies.append({"name": cookie_name.strip(), "value": cookie_value.strip()})
    return cookies
