"""What a bin answers: its custom response, or the default ``{"ok": true, "request_id": ...}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# headers a custom response may not set: the server computes them, or they would break framing
# ingest shares the inspector's origin, so no cookie or site-data header either
FORBIDDEN_RESPONSE_HEADERS = {
    "set-cookie",
    "set-cookie2",
    "clear-site-data",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "trailer",
    "te",
}


@dataclass(frozen=True)
class BinResponse:
    """What a bin answers to a captured request."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    delay_ms: int


def bin_response(target: Any, request_id: int, max_delay_ms: int) -> BinResponse:
    """The bin's custom response, or the default ``{"ok": true, "request_id": ...}``."""
    headers = [
        (str(name), str(value))
        for name, value in (target.response_headers or [])
        if str(name).lower() not in FORBIDDEN_RESPONSE_HEADERS
    ]
    if target.response_body is None:
        body = b'{"ok": true, "request_id": "%d"}' % request_id
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", "application/json"))
    else:
        body = target.response_body.encode("utf-8")
    delay = max(0, min(int(target.response_delay_ms or 0), max_delay_ms))
    return BinResponse(int(target.response_status or 200), headers, body, delay)
