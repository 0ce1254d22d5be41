"""What arrived at a bin, as plain values: the RawRequest and the row it becomes.

The web layer builds a ``RawRequest`` from the server's own view of the request (see
``receiver.serving`` for why WSGI's ``HTTP_*`` keys are not enough); everything here is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any
from typing import Protocol

MAX_METHOD_LENGTH = 16
MAX_CONTENT_TYPE_LENGTH = 255
MAX_REMOTE_ADDR_LENGTH = 64


@dataclass(frozen=True)
class RawRequest:
    """A request below a bin: ``path`` is the sub-path with its leading slash, ``/`` when none."""

    method: str
    path: str
    query_string: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    remote_addr: str | None = None
    received_at: datetime | None = field(default=None, compare=False)


def header_value(headers: Sequence[Sequence[str]], name: str) -> str | None:
    """The first value of a header, matched case-insensitively; None when absent."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


def build_row(raw: RawRequest, bin_id: str, received_at: datetime) -> dict[str, Any]:
    """The captured_request column values for ``raw``; derived columns are added by the caller."""
    content_type = header_value(raw.headers, "Content-Type")
    return {
        "bin_id": bin_id,
        "received_at": received_at,
        "method": raw.method[:MAX_METHOD_LENGTH],
        "path": raw.path,
        "query_string": raw.query_string,
        "headers": [[name, value] for name, value in raw.headers],
        "body": raw.body,
        "content_type": content_type[:MAX_CONTENT_TYPE_LENGTH] if content_type else None,
        "size": len(raw.body),
        "remote_addr": (raw.remote_addr or "")[:MAX_REMOTE_ADDR_LENGTH] or None,
    }


class StoredRequest(Protocol):
    """A captured request as exports, re-sends and recordings read it.

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


def request_url(req: StoredRequest, base_url: str) -> str:
    """Return the URL the request was sent to, below the bin's ingest `base_url`, unre-encoded."""
    url = base_url.rstrip("/")
    if req.path and req.path != "/":
        url += req.path if req.path.startswith("/") else "/" + req.path
    if req.query_string:
        url += "?" + req.query_string
    return url
