"""Keyset-paged request queries and their filters, shared by the JSON API and the inspector.

Pages follow the ``(bin_id, id)`` index newest first: ``before`` continues a listing, ``after``
asks for what arrived since (the live poller's cursor). No OFFSET, no COUNT.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from urllib.parse import quote_plus

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
from sqlalchemy import type_coerce
from sqlalchemy.orm import defer
from sqlalchemy.sql.elements import ColumnElement

from receiver.capture.request import MAX_METHOD_LENGTH
from receiver.catalog.validation import VERDICTS
from receiver.httpspec import TOKEN
from receiver.storage.db import AnySession
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest
from receiver.storage.models import SearchQueue

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_QUERY_TEXT = 200
# an event filter is "provider/event" (a provider id of at most 64, an event id of at most 128)
MAX_EVENT_TEXT = 64 + 1 + 128
# the text index works on trigrams: shorter searches look through the bin's captures directly,
# the newest SHORT_SEARCH_WINDOW of them (so that they answer as fast as an indexed search)
SEARCH_INDEX_MIN = 3
SHORT_SEARCH_WINDOW = 5_000


class FilterError(ValueError):
    """A filter value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class RequestFilter:
    """What a person narrowed the list to; every field is optional.

    ``event`` is ``provider/event`` (that provider's event: two providers may have events of
    the same id), or an event id alone, which means that event of any provider.
    """

    method: str | None = None
    event: str | None = None
    validation: str | None = None
    q: str | None = None

    @property
    def active(self) -> bool:
        return any((self.method, self.event, self.validation, self.q))

    @property
    def event_provider(self) -> str | None:
        """The provider an event filter names (None: any provider)."""
        split = _provider_event(self.event or "")
        return split[0] if split else None

    @property
    def event_id(self) -> str | None:
        """The event id an event filter names."""
        split = _provider_event(self.event or "")
        return split[1] if split else self.event


def _provider_event(text: str) -> tuple[str, str] | None:
    """``(provider, event)`` of a ``provider/event`` filter; None for any other text (an event
    id alone; text that is neither matches no capture, since event ids hold no ``/``)."""
    provider, slash, event = text.partition("/")
    if not slash or "/" in event or not provider.strip() or not event.strip():
        return None
    return provider.strip(), event.strip()


@dataclass(frozen=True)
class Page:
    """One page of requests, newest first; ``next`` is the ``before`` cursor of the next page."""

    requests: Sequence[CapturedRequest]
    next: int | None


def _given(value: str | None, name: str) -> str | None:
    """A filter value with its surrounding spaces removed; None when the parameter is absent.

    :raise FilterError: the parameter is present but empty (leave it out to mean "any").
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise FilterError(f"{name} is empty: leave it out to list every request")
    return value


def parse_filter(
    method: str | None, event: str | None, validation: str | None, q: str | None
) -> RequestFilter:
    """Check and normalise filter values (None: the filter is not used).

    :raise FilterError: an empty value, an unknown method or validation status, an event id or
        search text too long, a NUL in the search text.
    """
    method = _given(method, "method")
    if method is not None:
        method = method.upper()
        if len(method) > MAX_METHOD_LENGTH or not TOKEN.fullmatch(method):
            raise FilterError(f"method is an HTTP method of at most {MAX_METHOD_LENGTH} characters")
    validation = _given(validation, "validation")
    if validation is not None and validation not in VERDICTS:
        raise FilterError(f"validation must be one of {', '.join(VERDICTS)}")
    q = _given(q, "q")
    if q is not None and len(q) > MAX_QUERY_TEXT:
        raise FilterError(f"q is at most {MAX_QUERY_TEXT} characters")
    event = _given(event, "event")
    if event is not None and len(event) > MAX_EVENT_TEXT:
        raise FilterError(f"event is provider/event of at most {MAX_EVENT_TEXT} characters")
    if event is not None and _provider_event(event) is not None:
        event = "/".join(part.strip() for part in event.split("/"))
    if any("\x00" in value for value in (q, event) if value is not None):
        # PostgreSQL takes no NUL in a text parameter, and SQLite's FTS5 calls it a syntax error
        raise FilterError("q and event cannot contain a NUL character")
    return RequestFilter(method, event, validation, q)


def parse_cursor(value: str | None, name: str) -> int | None:
    """A request id cursor from a query parameter (None when absent).

    :raise FilterError: not a non-negative integer.
    """
    if value is None:
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
    if value is None:
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
    """Case-insensitive text search as one condition (see ``_search_alternatives``)."""
    return or_(*_search_alternatives(session, bin_id, text))


def _search_alternatives(
    session: AnySession, bin_id: str, text: str
) -> tuple[ColumnElement[bool], ...]:
    """Case-insensitive text search, answered by the database's text index, as conditions whose
    union is the match: a page is fastest read once per condition and merged, because an OR of
    the two keeps PostgreSQL from walking the bin newest first and stopping at a page.

    The index holds each capture's path and query (raw and decoded), headers and the start of
    its body (see ``capture.search``); captures not indexed yet (``search_queue``, see
    ``capture.indexer``) are matched directly. The index works on trigrams, so a search of one or
    two characters looks through the newest ``SHORT_SEARCH_WINDOW`` captures of the bin directly.
    """
    if len(text) < SEARCH_INDEX_MIN:
        newest = select(Bin.last_seq).where(Bin.id == bin_id).scalar_subquery()
        return (
            and_(CapturedRequest.seq > newest - SHORT_SEARCH_WINDOW, _direct_match(session, text)),
        )
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
    return (
        CapturedRequest.id.in_(found.columns(column("id", BigInteger))),
        and_(CapturedRequest.id.in_(queued), _direct_match(session, text)),
    )


def _encoded_forms(text: str) -> list[str]:
    """The ways ``text`` can appear in a raw path or query: as typed, percent-encoded, and with
    ``+`` for spaces (the index holds the decoded forms; a capture still queued is matched on
    its raw columns)."""
    safe = "/:=&?@!$'()*,;~"
    forms = [text, quote(text, safe=safe), quote_plus(text, safe=safe)]
    return list(dict.fromkeys(forms))


def _direct_match(session: AnySession, text: str) -> ColumnElement[bool]:
    """Case-insensitive in the path, query (raw or decoded) and headers; the exact bytes in the
    raw body."""
    lowered = text.lower()
    header_pattern = f"%{_like_escape(json.dumps(lowered)[1:-1])}%"
    needle = text.encode("utf-8")
    if session.get_bind().dialect.name == "postgresql":
        # position(needle IN body): bytea has no two-argument position()
        in_body = func.position(literal(needle, LargeBinary).op("IN")(CapturedRequest.body)) > 0
    else:
        in_body = func.instr(CapturedRequest.body, needle) > 0
    in_target = [
        func.lower(column_).like(f"%{_like_escape(form.lower())}%", escape="\\")
        for form in _encoded_forms(text)
        for column_ in (CapturedRequest.path, CapturedRequest.query_string)
    ]
    return or_(
        *in_target,
        func.lower(cast(CapturedRequest.headers, String)).like(header_pattern, escape="\\"),
        in_body,
    )


def _filtered(
    session: AnySession,
    query: Select[Any],
    filters: RequestFilter,
    bin_id: str,
    *,
    search: bool = True,
) -> Select[Any]:
    """``query`` narrowed by the person's filters (the text search too, unless ``search`` is
    False: then the caller applies it)."""
    if filters.method:
        query = query.where(CapturedRequest.method == filters.method)
    if filters.event:
        query = query.where(event_condition(filters.event_provider, filters.event_id or ""))
    if filters.validation:
        query = query.where(CapturedRequest.validation_status == filters.validation)
    if filters.q and search:
        query = query.where(_search_clause(session, bin_id, filters.q))
    return query


def event_match(text: str) -> ColumnElement[bool]:
    """Captures an event filter's text names: ``provider/event``, or an event id alone."""
    wanted = RequestFilter(event=text)
    return event_condition(wanted.event_provider, wanted.event_id or "")


def event_condition(provider: str | None, event: str) -> ColumnElement[bool]:
    """Captures detected as ``event`` (one of its candidates too), of ``provider`` when given."""
    # an ambiguous capture stores every candidate, joined by "|"
    joined = literal("|") + CapturedRequest.event_id + literal("|")
    matches = or_(
        CapturedRequest.event_id == event,
        joined.like(f"%|{_like_escape(event)}|%", escape="\\"),
    )
    if provider is None:
        return matches
    return and_(CapturedRequest.event_provider == provider, matches)


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
    filters = filters or RequestFilter()
    query = _filtered(session, query, filters, bin_id, search=False)
    queries = (
        [query.where(clause) for clause in _search_alternatives(session, bin_id, filters.q)]
        if filters.q
        else [query]
    )
    if after is not None and before is None:
        # a poller takes the requests right after its cursor, so that a burst is never skipped
        oldest = _merged(session, queries, limit, ascending=True)
        return Page(list(reversed(oldest[:limit])), None)
    found = _merged(session, queries, limit + 1, ascending=False)
    has_more = len(found) > limit
    found = found[:limit]
    return Page(found, found[-1].id if has_more and found else None)


def _merged(
    session: AnySession, queries: Sequence[Select[Any]], limit: int, *, ascending: bool
) -> list[CapturedRequest]:
    """The first ``limit`` rows by id (ascending or descending) of the union of ``queries``."""
    order = CapturedRequest.id.asc() if ascending else CapturedRequest.id.desc()
    rows: dict[int, CapturedRequest] = {}
    for query in queries:
        for row in session.execute(query.order_by(order).limit(limit)).scalars():
            rows[row.id] = row
    return sorted(rows.values(), key=lambda row: row.id, reverse=not ascending)[:limit]


def get_request(session: AnySession, bin_id: str, request_id: int) -> CapturedRequest | None:
    """One captured request of this bin, or None."""
    found = session.get(CapturedRequest, request_id)
    if found is None or found.bin_id != bin_id:
        return None
    return found


def get_request_head(
    session: AnySession, bin_id: str, request_id: int, head: int | None
) -> tuple[CapturedRequest, bytes] | None:
    """One captured request of this bin with the first ``head`` bytes of its body (all of it
    when ``head`` is None), or None. The row's own ``body`` is not loaded: reading it would
    fetch the whole body (many MiB for a large one) from the database."""
    if head is None:
        found = get_request(session, bin_id, request_id)
        return None if found is None else (found, bytes(found.body))
    body = type_coerce(func.substr(CapturedRequest.body, 1, head), LargeBinary)
    row = session.execute(
        select(CapturedRequest, body)
        .options(defer(CapturedRequest.body))
        .where(CapturedRequest.id == request_id, CapturedRequest.bin_id == bin_id)
    ).first()
    if row is None:
        return None
    return row[0], bytes(row[1] or b"")


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
