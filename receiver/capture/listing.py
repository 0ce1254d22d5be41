"""Keyset-paged request queries and their filters, shared by the JSON API and the inspector.

Pages follow the ``(bin_id, id)`` index newest first: ``before`` continues a listing, ``after``
asks for what arrived since (the live poller's cursor). No OFFSET, no COUNT.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy import cast
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import defer
from sqlalchemy.sql.elements import ColumnElement

from receiver.capture.request import MAX_METHOD_LENGTH
from receiver.catalog.validation import VERDICTS
from receiver.httpspec import TOKEN
from receiver.storage.db import AnySession
from receiver.storage.models import CapturedRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_QUERY_TEXT = 200


class FilterError(ValueError):
    """A filter value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class RequestFilter:
    """What a person narrowed the list to; every field is optional."""

    method: str | None = None
    event: str | None = None
    validation: str | None = None
    q: str | None = None

    @property
    def active(self) -> bool:
        return any((self.method, self.event, self.validation, self.q))


@dataclass(frozen=True)
class Page:
    """One page of requests, newest first; ``next`` is the ``before`` cursor of the next page."""

    requests: Sequence[CapturedRequest]
    next: int | None


def parse_filter(
    method: str | None, event: str | None, validation: str | None, q: str | None
) -> RequestFilter:
    """Check and normalise filter values.

    :raise FilterError: an unknown method or validation status, or a search text too long.
    """
    method = (method or "").strip().upper() or None
    if method is not None and (len(method) > MAX_METHOD_LENGTH or not TOKEN.fullmatch(method)):
        raise FilterError(f"method is an HTTP method of at most {MAX_METHOD_LENGTH} characters")
    validation = (validation or "").strip() or None
    if validation is not None and validation not in VERDICTS:
        raise FilterError(f"validation must be one of {', '.join(VERDICTS)}")
    q = (q or "").strip() or None
    if q is not None and len(q) > MAX_QUERY_TEXT:
        raise FilterError(f"q is at most {MAX_QUERY_TEXT} characters")
    event = (event or "").strip()[:128] or None
    return RequestFilter(method, event, validation, q)


def parse_cursor(value: str | None, name: str) -> int | None:
    """A request id cursor from a query parameter.

    :raise FilterError: not a non-negative integer.
    """
    if not value:
        return None
    try:
        cursor = int(value)
    except ValueError:
        raise FilterError(f"{name} is a request id") from None
    if cursor < 0 or cursor > 2**63 - 1:
        raise FilterError(f"{name} is a request id")
    return cursor


def parse_limit(value: str | None) -> int:
    """The page size, 1 to MAX_LIMIT.

    :raise FilterError: not an integer in range.
    """
    if not value:
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise FilterError(f"limit is an integer from 1 to {MAX_LIMIT}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise FilterError(f"limit is an integer from 1 to {MAX_LIMIT}")
    return limit


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search_clause(session: AnySession, text: str) -> ColumnElement[bool]:
    """Case-insensitive match in path, query and headers; a byte match in the raw body."""
    pattern = f"%{_like_escape(text.lower())}%"
    # headers are stored as JSON text, where a quote or backslash appears escaped
    header_pattern = f"%{_like_escape(json.dumps(text.lower())[1:-1])}%"
    needle = text.encode("utf-8")
    if session.get_bind().dialect.name == "postgresql":
        # position(needle IN body): bytea has no two-argument position()
        in_body = func.position(literal(needle, LargeBinary).op("IN")(CapturedRequest.body)) > 0
    else:
        in_body = func.instr(CapturedRequest.body, needle) > 0
    return or_(
        func.lower(CapturedRequest.path).like(pattern, escape="\\"),
        func.lower(CapturedRequest.query_string).like(pattern, escape="\\"),
        func.lower(cast(CapturedRequest.headers, String)).like(header_pattern, escape="\\"),
        in_body,
    )


def list_requests(
    session: AnySession,
    bin_id: str,
    *,
    limit: int = DEFAULT_LIMIT,
    before: int | None = None,
    after: int | None = None,
    filters: RequestFilter | None = None,
    with_body: bool = False,
    exclude: Sequence[int] = (),
) -> Page:
    """Requests of a bin, newest first, ``limit`` at a time.

    With ``after`` alone the page holds the ``limit`` requests right after the cursor (still
    newest first) and ``next`` is None: the caller continues with the largest id it got.
    """
    query = select(CapturedRequest).where(CapturedRequest.bin_id == bin_id)
    if not with_body:
        query = query.options(defer(CapturedRequest.body))
    if before is not None:
        query = query.where(CapturedRequest.id < before)
    if after is not None:
        query = query.where(CapturedRequest.id > after)
    if exclude:
        query = query.where(CapturedRequest.id.not_in(list(exclude)))
    filters = filters or RequestFilter()
    if filters.method:
        query = query.where(CapturedRequest.method == filters.method)
    if filters.event:
        # an ambiguous capture stores every candidate, joined by "|"
        joined = literal("|") + CapturedRequest.event_id + literal("|")
        query = query.where(
            or_(
                CapturedRequest.event_id == filters.event,
                joined.like(f"%|{_like_escape(filters.event)}|%", escape="\\"),
            )
        )
    if filters.validation:
        query = query.where(CapturedRequest.validation_status == filters.validation)
    if filters.q:
        query = query.where(_search_clause(session, filters.q))
    if after is not None and before is None:
        # a poller takes the requests right after its cursor, so that a burst is never skipped
        rows = session.execute(query.order_by(CapturedRequest.id.asc()).limit(limit))
        return Page(list(reversed(rows.scalars().all())), None)
    rows = session.execute(query.order_by(CapturedRequest.id.desc()).limit(limit + 1))
    found = list(rows.scalars())
    has_more = len(found) > limit
    found = found[:limit]
    return Page(found, found[-1].id if has_more and found else None)


def get_request(session: AnySession, bin_id: str, request_id: int) -> CapturedRequest | None:
    """One captured request of this bin, or None."""
    found = session.get(CapturedRequest, request_id)
    if found is None or found.bin_id != bin_id:
        return None
    return found


def has_newer(session: AnySession, bin_id: str, after: int, exclude: Sequence[int] = ()) -> bool:
    """True when the bin holds a request above ``after`` that is not in ``exclude``."""
    probe = select(CapturedRequest.id).where(
        CapturedRequest.bin_id == bin_id, CapturedRequest.id > after
    )
    if exclude:
        probe = probe.where(CapturedRequest.id.not_in(list(exclude)))
    return session.execute(probe.limit(1)).first() is not None


# ids are handed out before commit, and on PostgreSQL two captures can commit in the other order:
# a poller that jumped to the highest id it saw could skip the lower one for good. So the cursor
# only passes requests received long enough ago to be committed, and the ids shown above it are
# carried along and left out of the next answer.
SETTLE = timedelta(seconds=15)
SEEN_MAX = 300


@dataclass(frozen=True)
class Poll:
    """What a live poller gets: new rows, its next cursor, and the ids it already shows."""

    requests: Sequence[CapturedRequest]
    after: int
    seen: tuple[int, ...]
    more: bool


def poll(
    session: AnySession,
    bin_id: str,
    *,
    after: int,
    seen: Sequence[int],
    now: datetime,
    filters: RequestFilter | None = None,
    limit: int = 100,
) -> Poll:
    """The requests a live list has not shown yet, oldest first in batches of ``limit``."""
    shown = {item for item in seen if item > after}
    rows: list[CapturedRequest] = []
    if has_newer(session, bin_id, after, sorted(shown)):
        page = list_requests(
            session, bin_id, after=after, filters=filters, limit=limit, exclude=sorted(shown)
        )
        rows = list(page.requests)
        shown |= {item.id for item in rows}
    settled = session.execute(
        select(func.max(CapturedRequest.id)).where(
            CapturedRequest.bin_id == bin_id,
            CapturedRequest.id > after,
            CapturedRequest.received_at < now - SETTLE,
        )
    ).scalar()
    cursor = max(after, int(settled or 0))
    kept = sorted(item for item in shown if item > cursor)
    if len(kept) > SEEN_MAX:  # a flood: give up exactness for the oldest of the window
        cursor = kept[-SEEN_MAX - 1]
        kept = kept[-SEEN_MAX:]
    return Poll(rows, cursor, tuple(kept), len(rows) == limit)


def settled_id(session: AnySession, bin_id: str, now: datetime) -> int:
    """The newest id below which every request of the bin is surely committed (a first cursor)."""
    value = session.execute(
        select(func.max(CapturedRequest.id)).where(
            CapturedRequest.bin_id == bin_id, CapturedRequest.received_at < now - SETTLE
        )
    ).scalar()
    return int(value or 0)


def parse_seen(value: str | None) -> list[int]:
    """The ``seen`` list of a poller URL (comma-separated ids).

    :raise FilterError: not a list of ids, or too long.
    """
    if not value:
        return []
    parts = value.split(",")
    if len(parts) > SEEN_MAX + 1:
        raise FilterError(f"seen holds at most {SEEN_MAX} ids")
    try:
        return [int(part) for part in parts]
    except ValueError:
        raise FilterError("seen is a comma-separated list of request ids") from None
