"""Exports of captured requests: HAR 1.2 documents and curl commands.

Pure functions over anything shaped like `ExportableRequest` (the ORM model or a test double);
no Flask, no database. Both exports aim at reproducing the request byte for byte:

- `render_curl` builds a POSIX shell command that sends the same method, path, query, header
  pairs (order, duplicates, case) and body bytes. Text bodies are inlined with `--data-raw`;
  anything that cannot survive a copy and paste (binary, invalid UTF-8, control or invisible
  characters, CR, large bodies) is read from a file, the "Download raw" of the request.
- `build_har` writes a HAR 1.2 log, one entry per request, oldest first. Bodies that are not
  UTF-8 travel as base64 in `postData.text` with `"encoding": "base64"` (see `_post_data`).
"""

from __future__ import annotations

import base64
import http
import json
import re
import shlex
import unicodedata
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import Protocol
from urllib.parse import parse_qsl

HAR_VERSION = "1.2"
CREATOR_NAME = "receiver"

# text bodies above this many bytes go through a file: Linux caps one argv string at 128 KiB
# (MAX_ARG_STRLEN), and such a line is unreadable anyway
CURL_INLINE_BODY_MAX = 64 * 1024

# curl recomputes these from the URL and the body it sends
CURL_SKIPPED_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})

# old curl versions add "Expect: 100-continue" above 1 KiB (7.88 above 1 MiB)
_CURL_EXPECT_THRESHOLD = 1024

# RFC 9110 token: what a header name may be
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# characters that do not survive being shown in a page and pasted into a terminal
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


class ExportableRequest(Protocol):
    """A captured request as the exports read it.

    Read-only properties, so frozen dataclasses and the ORM model both match; `headers` holds
    name/value pairs as tuples or as the two-item lists the JSON column gives back.
    """

    @property
    def id(self) -> int: ...

    @property
    def received_at(self) -> datetime: ...

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def query_string(self) -> str: ...

    @property
    def headers(self) -> Sequence[Sequence[str]]: ...

    @property
    def body(self) -> bytes: ...

    @property
    def content_type(self) -> str | None: ...

    @property
    def remote_addr(self) -> str | None: ...


@dataclass(frozen=True)
class RecordedResponse:
    """The answer the bin gave to one request, when the caller knows it."""

    status: int
    headers: Sequence[Sequence[str]] = field(default_factory=list)
    body: bytes = b""
    status_text: str = ""
    http_version: str = "HTTP/1.1"


def request_url(req: ExportableRequest, base_url: str) -> str:
    """Return the URL the request was sent to, below the bin's ingest `base_url`, unre-encoded."""
    url = base_url.rstrip("/")
    if req.path and req.path != "/":
        url += req.path if req.path.startswith("/") else "/" + req.path
    if req.query_string:
        url += "?" + req.query_string
    return url


def curl_body_text(req: ExportableRequest) -> str | None:
    """Return the body as text safe to inline in a shell command, or None when it is not."""
    body = bytes(req.body)
    if not body or len(body) > CURL_INLINE_BODY_MAX:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # tab and LF survive a paste; CR does not (HTML and terminals turn it into LF)
    for char in text:
        if char not in "\t\n" and unicodedata.category(char) in _UNSAFE_CATEGORIES:
            return None
    return text


def curl_needs_body_file(req: ExportableRequest) -> bool:
    """Tell whether `render_curl` reads the body from a file instead of inlining it."""
    return bool(req.body) and curl_body_text(req) is None


def default_body_file(req: ExportableRequest) -> str:
    """Return the file name `render_curl` uses for a body it cannot inline."""
    return f"request-{req.id}.body"


def render_curl(req: ExportableRequest, base_url: str, *, body_file: str | None = None) -> str:
    """Render a POSIX shell curl command that resends `req` to its URL below `base_url`.

    Every argument is quoted with `shlex.quote`, so captured text is never interpreted by the
    shell. Headers keep their order, duplicates and case; Host, Content-Length and
    Transfer-Encoding are left to curl, as are header names that are not HTTP tokens and values
    holding CR, LF or NUL (no HTTP parser lets those through). curl's own User-Agent, Accept,
    Content-Type and Expect are switched off when the capture did not have them. When
    `curl_needs_body_file(req)`, the body is read from `body_file` (default
    `request-<id>.body`), which must hold the raw body; a comment line at the top says so.

    :raise ValueError: when `body_file` holds a control character (it would end the comment).
    """
    if body_file is not None and any(unicodedata.category(c) == "Cc" for c in body_file):
        raise ValueError("body_file must not contain control characters")
    body = bytes(req.body)
    names = {name.lower() for name, _ in req.headers}
    # a declared but empty body still goes out, so curl sends "Content-Length: 0"
    sends_body = bool(body) or "content-length" in names or "transfer-encoding" in names
    text = curl_body_text(req)
    file_name = body_file or default_body_file(req)

    lines: list[str] = []
    if body and text is None:
        lines.append(f"# save the raw body of request {req.id} as {file_name} first")
    method = req.method
    if method.upper() == "HEAD" and not sends_body:
        # with -X HEAD curl would wait for the body a Content-Length announces; --head does not,
        # but it cannot be combined with a body, so a HEAD with a body keeps -X HEAD
        first = "curl --head"
    else:
        first = f"curl -X {shlex.quote(method)}"
    args = [
        f"{first} {shlex.quote(request_url(req, base_url))}",
        "--http1.1 --globoff --path-as-is",
    ]

    for name, value in req.headers:
        if name.lower() in CURL_SKIPPED_HEADERS or not _TOKEN.fullmatch(name):
            continue
        if any(char in value for char in "\r\n\0"):
            continue
        # "Name;" is curl's syntax for a header with an empty value
        header = f"{name};" if not value.strip() else f"{name}: {value}"
        args.append(f"-H {shlex.quote(header)}")

    suppressed = ["User-Agent", "Accept"]
    if sends_body:
        suppressed.append("Content-Type")
        if len(body) > _CURL_EXPECT_THRESHOLD:
            suppressed.append("Expect")
    for name in suppressed:
        if name.lower() not in names:
            args.append(f"-H {shlex.quote(name + ':')}")

    if sends_body:
        if text is not None or not body:
            # --data-raw, unlike --data-binary, does not read a file when the text starts with @
            args.append(f"--data-raw {shlex.quote(text or '')}")
        else:
            args.append(f"--data-binary {shlex.quote('@' + file_name)}")
    lines.append(" \\\n  ".join(args))
    return "\n".join(lines)


def build_har(
    requests: Iterable[ExportableRequest],
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
    requests: Iterable[ExportableRequest],
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
    req: ExportableRequest, base_url: str, response: RecordedResponse | None
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
