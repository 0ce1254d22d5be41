"""Copy as curl: a POSIX shell command that resends a captured request byte for byte.

`render_curl` sends the same method, path, query, header pairs (order, duplicates, case) and body
bytes. Text bodies are inlined with ``--data-raw``; anything that cannot survive a copy and paste
(binary, invalid UTF-8, control or invisible characters, CR, large bodies) is read from a file,
the "Download raw" of the request.
"""

from __future__ import annotations

import shlex
import unicodedata
from collections.abc import Sequence

from receiver.capture.request import StoredRequest
from receiver.capture.request import request_url
from receiver.httpspec import TOKEN

# text bodies above this many bytes go through a file: Linux caps one argv string at 128 KiB
# (MAX_ARG_STRLEN), and such a line is unreadable anyway
CURL_INLINE_BODY_MAX = 64 * 1024

# curl recomputes these from the URL and the body it sends
CURL_SKIPPED_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})

# old curl versions add "Expect: 100-continue" above 1 KiB (7.88 above 1 MiB)
_CURL_EXPECT_THRESHOLD = 1024

# characters that do not survive being shown in a page and pasted into a terminal
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


def curl_body_text(req: StoredRequest) -> str | None:
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


def curl_needs_body_file(req: StoredRequest) -> bool:
    """Tell whether `render_curl` reads the body from a file instead of inlining it."""
    return bool(req.body) and curl_body_text(req) is None


def default_body_file(req: StoredRequest) -> str:
    """Return the file name `render_curl` uses for a body it cannot inline."""
    return f"request-{req.id}.body"


def render_curl(req: StoredRequest, base_url: str, *, body_file: str | None = None) -> str:
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
    args = [
        f"{_first_word(req.method, sends_body)} {shlex.quote(request_url(req, base_url))}",
        "--http1.1 --globoff --path-as-is",
        *_header_args(req.headers),
        *_suppressed_args(names, sends_body, len(body)),
    ]
    if sends_body:
        if text is not None or not body:
            # --data-raw, unlike --data-binary, does not read a file when the text starts with @
            args.append(f"--data-raw {shlex.quote(text or '')}")
        else:
            args.append(f"--data-binary {shlex.quote('@' + file_name)}")
    lines.append(" \\\n  ".join(args))
    return "\n".join(lines)


def _first_word(method: str, sends_body: bool) -> str:
    """``curl -X METHOD``, or ``curl --head`` for a HEAD without a body."""
    if method.upper() == "HEAD" and not sends_body:
        # with -X HEAD curl would wait for the body a Content-Length announces; --head does not,
        # but it cannot be combined with a body, so a HEAD with a body keeps -X HEAD
        return "curl --head"
    return f"curl -X {shlex.quote(method)}"


def _header_args(headers: Sequence[Sequence[str]]) -> list[str]:
    """``-H`` for each captured header curl can send as it was (order, duplicates, case)."""
    args = []
    for name, value in headers:
        if name.lower() in CURL_SKIPPED_HEADERS or not TOKEN.fullmatch(name):
            continue
        if any(char in value for char in "\r\n\0"):
            continue
        # "Name;" is curl's syntax for a header with an empty value
        header = f"{name};" if not value.strip() else f"{name}: {value}"
        args.append(f"-H {shlex.quote(header)}")
    return args


def _suppressed_args(names: set[str], sends_body: bool, size: int) -> list[str]:
    """``-H 'Name:'`` for each header curl would add that the capture did not have."""
    suppressed = ["User-Agent", "Accept"]
    if sends_body:
        suppressed.append("Content-Type")
        if size > _CURL_EXPECT_THRESHOLD:
            suppressed.append("Expect")
    return [f"-H {shlex.quote(name + ':')}" for name in suppressed if name.lower() not in names]
