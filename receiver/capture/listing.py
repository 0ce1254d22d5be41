"""Keyset-paged request queries and their filters, shared by the JSON API and the inspector.

Pages follow the ``(bin_id, id)`` index newest first: ``before`` continues a listing, ``after``
asks for what arrived since (the live poller's cursor). No OFFSET, no COUNT.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy import LargeBinary
from sqlalchemy import Select
from sqlalchemy import String
from sqlalchemy import and_
from sqlalchemy import cast
from sqlalchemy import column
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import defer
from sqlalchemy.sql.elements import ColumnElement

from receiver.capture.request import MAX_METHOD_LENGTH
from receiver.catalog.validation import VERDICTS
from receiver.httpspec import TOKEN
from receiver.storage.db import AnySession
from receiver.storage.models import CapturedRequest
from receiver.storage.models import SearchQueue

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_QUERY_TEXT = 200
# the text index works on trigrams: shorter searches look through the bin's captures directly
SEARCH_INDEX_MIN = 3


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


def _search_clause(session: AnySession, bin_id: str, text: str) -> ColumnElement[bool]:
    """Case-insensitive text search, answered by the database's text index.

    The index holds each capture's path and query (raw and decoded), headers and the start of
    its body (see ``capture.search``); captures not indexed yet (``search_queue``, see
    ``capture.indexer``) are matched directly. The index works on trigrams, so a search of one or
    two characters looks through the bin's captures directly.
    """
    if len(text) < SEARCH_INDEX_MIN:
        return _direct_match(session, text)
    if session.get_bind().dialect.name == "sqlite":
        # FTS5 with trigrams: a quoted phrase is a literal, case-insensitive substring
        phrase = '"' + text.replace('"', '""') + '"'
        found = sql_text(
            "SELECT rowid FROM request_search WHERE request_search MATCH :phrase"
            " AND bin_id = :bin_id"
        ).bindparams(phrase=phrase, bin_id=bin_id)
    else:
        found = sql_text(
            "SELECT request_id FROM request_search WHERE bin_id = :bin_id AND text ILIKE :pattern"
        ).bindparams(pattern=f"%{_like_escape(text)}%", bin_id=bin_id)
    queued = select(SearchQueue.request_id).where(SearchQueue.bin_id == bin_id)
    return or_(
        CapturedRequest.id.in_(found.columns(column("id", BigInteger))),
        and_(CapturedRequest.id.in_(queued), _direct_match(session, text)),
    )


def _direct_match(session: AnySession, text: str) -> ColumnElement[bool]:
    """Case-insensitive in the path, query and headers; the exact bytes in the raw body."""
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


def _filtered(
    session: AnySession, query: Select[Any], filters: RequestFilter, bin_id: str
) -> Select[Any]:
    """``query`` narrowed by the person's filters."""
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
        query = query.where(_search_clause(session, bin_id, filters.q))
    return query


def list_requests(
    session: AnySession,
    bin_id: str,
    *,
    limit: int = DEFAULT_LIMIT,
    before: int | None = None,
    after: int | None = None,
    filters: RequestFilter | None = None,
    with_body: bool = False,
    up_to_seq: int | None = None,
) -> Page:
    """Requests of a bin, newest first, ``limit`` at a time.

    With ``after`` alone the page holds the ``limit`` requests right after the cursor (still
    newest first) and ``next`` is None: the caller continues with the largest id it got.
    ``up_to_seq`` leaves out what was numbered after a cursor a live poller starts from.
    """
    query = select(CapturedRequest).where(CapturedRequest.bin_id == bin_id)
    if not with_body:
        query = query.options(defer(CapturedRequest.body))
    if before is not None:
        query = query.where(CapturedRequest.id < before)
    if after is not None:
        query = query.where(CapturedRequest.id > after)
    if up_to_seq is not None:
        query = query.where(CapturedRequest.seq <= up_to_seq)
    query = _filtered(session, query, filters or RequestFilter(), bin_id)
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


@dataclass(frozen=True)
class Poll:
    """What a live poller gets: the new rows (newest first) and its next cursor."""

    requests: Sequence[CapturedRequest]
    after: int
    more: bool


def latest_seq(session: AnySession, bin_id: str) -> int:
    """The highest capture number visible in a bin (0 when empty).

    Numbers become visible in the order they were handed out (see ``capture.store``), so every
    capture numbered at or below this one is visible too: a cursor can start here.
    """
    value = session.execute(
        select(func.max(CapturedRequest.seq)).where(CapturedRequest.bin_id == bin_id)
    ).scalar()
    return int(value or 0)


def poll(
    session: AnySession,
    bin_id: str,
    *,
    after: int,
    filters: RequestFilter | None = None,
    limit: int = 100,
) -> Poll:
    """The captures of a bin numbered above ``after`` (that match ``filters``), oldest first,
    ``limit`` at a time; the next cursor never passes a capture that was not yet visible."""
    latest = latest_seq(session, bin_id)
    if latest <= after:
        return Poll([], after, False)
    query = (
        select(CapturedRequest)
        .options(defer(CapturedRequest.body))
        .where(
            CapturedRequest.bin_id == bin_id,
            CapturedRequest.seq > after,
            CapturedRequest.seq <= latest,
        )
    )
    query = _filtered(session, query, filters or RequestFilter(), bin_id)
    rows = list(session.execute(query.order_by(CapturedRequest.seq).limit(limit)).scalars())
    if len(rows) == limit:
        return Poll(rows[::-1], rows[-1].seq, True)
    return Poll(rows[::-1], latest, False)
