"""Recordings: a captured request saved as a file a person can commit to their own repository.

Yesterday's real delivery becomes tomorrow's regression test: ``receiver send --fixture FILE`` and
the pytest plugin re-send a recording byte for byte. The format is JSON, versioned, and keeps the
body as base64 so that any bytes survive::

    {"receiver_recording": 1, "name": "...", "method": "POST", "path": "/hooks",
     "query_string": "a=1", "headers": [["Content-Type", "application/json"], ...],
     "body_base64": "...", "received_at": "...", "event": {...}, "source": {...}}
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class RecordingError(ValueError):
    """A file that is not a usable recording; the message says why."""


@dataclass(frozen=True)
class Recording:
    """A saved request, shaped like ``capture.request.StoredRequest``: exportable, re-sendable."""

    name: str
    method: str
    path: str
    query_string: str
    headers: list[tuple[str, str]]
    body: bytes
    id: int = 0
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    content_type: str | None = None
    remote_addr: str | None = None
    event: dict[str, Any] = field(default_factory=dict)


def to_document(captured: Any, name: str, source: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document of a captured request (anything shaped like ``CapturedRequest``)."""
    if not NAME_PATTERN.fullmatch(name):
        raise RecordingError("a recording name is 1-100 letters, digits, '.', '_' or '-'")
    validation = getattr(captured, "validation", None) or {}
    return {
        "receiver_recording": FORMAT_VERSION,
        "name": name,
        "method": captured.method,
        "path": captured.path,
        "query_string": captured.query_string,
        "headers": [[str(n), str(v)] for n, v in captured.headers],
        "body_base64": base64.b64encode(captured.body).decode("ascii"),
        "content_type": captured.content_type,
        "received_at": captured.received_at.astimezone(UTC).isoformat(),
        "event": {
            "provider": validation.get("provider"),
            "event": validation.get("event"),
            "candidates": validation.get("candidates", []),
        },
        "source": source or {},
    }


def parse(document: Any) -> Recording:
    """A recording from its JSON document.

    :raise RecordingError: a missing or mistyped field, or a body that is not base64.
    """
    if not isinstance(document, dict) or document.get("receiver_recording") != FORMAT_VERSION:
        raise RecordingError(f"not a receiver recording (version {FORMAT_VERSION})")
    try:
        headers = [(str(n), str(v)) for n, v in document.get("headers", [])]
        body = base64.b64decode(document.get("body_base64", ""), validate=True)
        method = str(document["method"])
        path = str(document.get("path") or "/")
        received = document.get("received_at")
        received_at = datetime.fromisoformat(received) if received else datetime.now(UTC)
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise RecordingError(f"malformed recording: {error}") from None
    if not method.isalpha() or len(method) > 16:
        raise RecordingError(f"malformed recording: bad method {method!r}")
    return Recording(
        name=str(document.get("name") or "recording"),
        method=method.upper(),
        path=path if path.startswith("/") else "/" + path,
        query_string=str(document.get("query_string") or ""),
        headers=headers,
        body=body,
        received_at=received_at,
        content_type=document.get("content_type"),
        event=document.get("event") or {},
    )


def load(path: str | Path) -> Recording:
    """Read a recording file.

    :raise RecordingError: unreadable, not JSON, or not a recording.
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RecordingError(f"cannot read {path}: {error}") from None
    return parse(document)
