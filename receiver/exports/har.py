"""HAR 1.2 exports of captured requests, one entry per request, oldest first, each with its curl
command.

Pure functions over anything shaped like `StoredRequest` (the ORM model or a test double); no
Flask, no database. Bodies that are not UTF-8 travel as base64 in `postData.text` with
`"encoding": "base64"` (see `_post_data`).
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

HAR_VERSION = "1.2"
CREATOR_NAME = "receiver"


@dataclass(frozen=True)
class RecordedResponse:
    """The answer the bin gave to one request, when the caller knows it."""

    status: int
    headers: Sequence[Sequence[str]] = field(default_factory=list)
    body: bytes = b""
    status_text: str = ""
    http_version: str = "HTTP/1.1"


def build_har(
    requests: Iterable[StoredRequest],
    base_url: str,
    *,
    creator_version: str = "0.1.0",
    responses: Mapping[int, RecordedResponse] | None = None,
) -> dict[str, Any]:
    """Build a HAR 1.2 log of `requests`, oldest first, with the curl line of each.

    `responses` maps request ids to the answer the bin gave; requests without one get the
    placeholder response HAR tools use for "no response" (status 0). A naive `received_at` is
    taken as UTC, which is what SQLite gives back.
    """
    ordered = sorted(requests, key=lambda req: (_as_utc(req.received_at), req.id))
    answers = responses or {}
    entries = [_har_entry(req, base_url, answers.get(req.id)) for req in ordered]
    return {
        "log": {
            "version": HAR_VERSION,
            "creator": {"name": CREATOR_NAME, "version": creator_version},
            "entries": entries,
        }
    }


def har_json(
    requests: Iterable[StoredRequest],
    base_url: str,
    *,
    creator_version: str = "0.1.0",
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
    request: dict[str, Any] = {
        "method": req.method,
        "url": request_url(req, base_url),
        "httpVersion": "HTTP/1.1",
        "cookies": _request_cookies(req.headers),
        "headers": _har_headers(req.headers),
        "queryString": _name_values(parse_qsl(req.query_string, keep_blank_values=True)),
        "headersSize": -1,
        "bodySize": len(body),
    }
    if body:
        request["postData"] = _post_data(body, req.content_type)
    needs_file = curl_needs_body_file(req)
    return {
        "startedDateTime": _as_utc(req.received_at).isoformat(timespec="microseconds"),
        "time": 0,
        "request": request,
        "response": _har_response(response),
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
        "_receiver": {
            "request_id": req.id,
            "remote_addr": req.remote_addr,
            "curl": render_curl(req, base_url),
            "curl_body_file": default_body_file(req) if needs_file else None,
        },
    }


def _post_data(body: bytes, content_type: str | None) -> dict[str, Any]:
    # HAR 1.2 defines "encoding" only on response content; for postData we follow the tools
    # that carry binary request bodies (google/martian, HTTP Toolkit, Reqable): base64 text
    # plus "encoding": "base64". Browsers write postData.text only, which loses such bytes.
    mime_type = content_type or ""
    data: dict[str, Any] = {"mimeType": mime_type}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        data["text"] = base64.b64encode(body).decode("ascii")
        data["encoding"] = "base64"
        return data
    data["text"] = text
    if mime_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        # text stays as well, as Chrome and Firefox write it, so the bytes are never lost
        data["params"] = _name_values(parse_qsl(text, keep_blank_values=True))
    return data


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
        }
    body = bytes(response.body)
    content: dict[str, Any] = {
        "size": len(body),
        "mimeType": _header_value(response.headers, "content-type") or "x-unknown",
    }
    if body:
        try:
            content["text"] = body.decode("utf-8")
        except UnicodeDecodeError:
            content["text"] = base64.b64encode(body).decode("ascii")
            content["encoding"] = "base64"
    return {
        "status": response.status,
        "statusText": response.status_text or _reason_phrase(response.status),
        "httpVersion": response.http_version,
        "cookies": _response_cookies(response.headers),
        "headers": _har_headers(response.headers),
        "content": content,
        "redirectURL": _header_value(response.headers, "location") or "",
        "headersSize": -1,
        "bodySize": len(body),
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
