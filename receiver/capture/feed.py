"""The change feed: a cursor over a bin's captures that never passes over a committed one, and
the named listeners (``receiver listen``) that follow it.

Why the cursor can be trusted: it is the capture number (``seq``). The capture store numbers a
bin's captures while it holds the bin's row lock (``UPDATE bin … RETURNING``), and the lock is
released only after the commit has become visible; the next transaction into that bin waits for
the lock before it takes a number. So in every bin the numbers become visible strictly in the
order they were handed out, on SQLite (one writer) and on PostgreSQL with any number of
processes and servers: a snapshot that shows capture ``n`` shows every capture below ``n``.
``bin.last_seq`` is written in the same transaction as the captures it counts, so reading it
first and then the captures at or below it never misses one. Ids are not a cursor for this on
their own; the store takes them after the lock too (see ``capture.store``), which is what gives
the request list's ``after=<id>`` the same guarantee within a bin.

Captures can still go before a listener reads them: evicted (the bin's count and byte bounds) or
deleted. The feed says how many numbers after the cursor were gone (``removed``) instead of
passing over them silently.

A listener's position is the number of the last capture it delivered. It lives on the server
under the listener's name, so a listener that stops, crashes or loses its connection resumes
where it was; each local answer it reports is kept as a ``Replay`` of kind ``listen``.

Long polls wait on `FeedWatcher`: one thread per server process follows the ``last_seq`` of the
bins being waited on (the database is the only thing servers share: PostgreSQL notifies, SQLite
is read a few times a second) and wakes the waiters of a bin that moved; a semaphore bounds how
many polls a process holds.
"""

from __future__ import annotations

import logging
import math
import selectors
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import Label
from sqlalchemy import Select
from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from receiver.capture.listeners import EVENT_MAX
from receiver.capture.listeners import LISTENER_NAME
from receiver.capture.listeners import MAX_EVENTS
from receiver.capture.listeners import PATH_PREFIX_MAX
from receiver.capture.listing import event_match
from receiver.storage.db import AnySession
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest
from receiver.storage.models import Listener
from receiver.storage.models import Replay

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# bodies per answer: a page stops before this many bytes (a larger capture still comes alone)
MAX_PAGE_BYTES = 4 * 1024 * 1024
# a poll whose filter left out every capture that woke it reads at most this often (seconds),
# after pauses that double from FIRST_IDLE_GAP
FIRST_IDLE_GAP = 0.1
MAX_IDLE_GAP = 1.0
# what a report may carry (the listener's own record of a local delivery)
REPORT_URL_MAX = 8192
REPORT_HEADERS_MAX = 200
REPORT_HEADER_BYTES = 64 * 1024
REPORT_BODY_MAX = 64 * 1024
REPORT_ERROR_MAX = 2000
MAX_SEQ = 2**63 - 1


class FeedError(ValueError):
    """A feed or listener parameter that cannot be used; the message says which and why."""


class FeedGone(LookupError):
    """The bin no longer exists (deleted while a poll waited)."""


@dataclass(frozen=True)
class FeedFilter:
    """Which captures a listener wants: detected events (any of them) and a sub-path prefix."""

    events: tuple[str, ...] = ()
    path_prefix: str | None = None


@dataclass(frozen=True)
class FeedPage:
    """Captures after a cursor, oldest first, and where to continue.

    ``next`` is the cursor of the following call: the last capture given, or, when everything
    up to ``latest`` was looked at, ``latest`` itself (captures the filter left out are passed).
    ``removed`` counts the numbers right after the cursor whose captures were evicted or deleted
    before they could be read.
    """

    requests: Sequence[CapturedRequest]
    next: int
    latest: int
    removed: int


def parse_filter(events: Sequence[str], path_prefix: str | None) -> FeedFilter:
    """Check a listener's filters.

    :raise FeedError: too many events, an event id or prefix too long, a prefix without "/".
    """
    if any("\x00" in value for value in (*events, path_prefix or "")):
        # as the API document's patterns say: PostgreSQL takes no NUL in a text parameter
        raise FeedError("event and path_prefix cannot hold a NUL character")
    if any(not event.strip() for event in events):
        raise FeedError("an event filter is empty: leave it out to take every event")
    if len(events) > MAX_EVENTS:  # as given, as the API document bounds them
        raise FeedError(f"at most {MAX_EVENTS} event filters")
    cleaned = tuple(dict.fromkeys(event.strip() for event in events))
    if any(len(event) > EVENT_MAX for event in cleaned):
        raise FeedError(f"an event id is at most {EVENT_MAX} characters")
    prefix = path_prefix
    if prefix is not None:
        if not prefix.startswith("/"):
            raise FeedError("path_prefix starts with /")
        if len(prefix) > PATH_PREFIX_MAX:
            raise FeedError(f"path_prefix is at most {PATH_PREFIX_MAX} characters")
    return FeedFilter(cleaned, prefix)


def parse_number(value: str | None, name: str, *, default: int, low: int, high: int) -> int:
    """An integer query parameter within bounds (``default`` when absent).

    :raise FeedError: empty, not written in ASCII digits, or out of bounds.
    """
    if value is None:
        return default
    digits = value.isascii() and value.isdigit() and len(value) <= 20
    if not digits or not low <= int(value) <= high:
        raise FeedError(f"{name} is an integer from {low} to {high}")
    return int(value)


def check_listener_name(name: str) -> str:
    """A listener name: letters, digits, '.', '_' or '-', 1 to 64, not starting with a symbol.

    :raise FeedError: anything else.
    """
    if not LISTENER_NAME.fullmatch(name):
        raise FeedError(
            "a listener name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit"
        )
    return name


def _filtered(query: Select[Any], filters: FeedFilter) -> Select[Any]:
    if filters.events:
        # each one ``provider/event`` or an event id alone, as the request list's filter
        query = query.where(or_(*(event_match(event) for event in filters.events)))
    if filters.path_prefix:
        prefix = filters.path_prefix
        # exact and case-sensitive on both databases (SQLite's LIKE ignores ASCII case)
        query = query.where(func.substr(CapturedRequest.path, 1, len(prefix)) == prefix)
    return query


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def latest_number(session: AnySession, bin_id: str) -> int | None:
    """The bin's last capture number (None when the bin does not exist)."""
    return session.execute(select(Bin.last_seq).where(Bin.id == bin_id)).scalar()


def oldest_number(session: AnySession, bin_id: str) -> int | None:
    """The number of the oldest capture the bin still holds (None when it holds none)."""
    return session.execute(select(_oldest(bin_id))).scalar()


def _oldest(bin_id: str) -> Label[Any]:
    return (
        select(func.min(CapturedRequest.seq))
        .where(CapturedRequest.bin_id == bin_id)
        .scalar_subquery()
        .label("oldest")
    )


def runs_key(bin_id: str, created_at: datetime, filters: FeedFilter) -> tuple[Any, ...] | None:
    """Where `UnmatchedRuns` keeps a filter's runs in a bin (None for no filter). A bin deleted
    and made again under its id numbers from 1 again: not the same runs."""
    return (bin_id, created_at, filters) if filters.events or filters.path_prefix else None


def read_feed(
    session: AnySession,
    bin_id: str,
    *,
    after: int,
    limit: int = DEFAULT_LIMIT,
    filters: FeedFilter | None = None,
    max_bytes: int = MAX_PAGE_BYTES,
    unmatched: UnmatchedRuns | None = None,
) -> FeedPage:
    """The bin's captures numbered above ``after`` that match ``filters``, oldest first, with
    their bodies: at most ``limit`` of them and, past the first, ``max_bytes`` of bodies.

    The bin's ``last_seq`` is read first: every capture numbered up to it is committed and
    visible to the reads that follow, so ``next`` never passes over one. With ``unmatched``,
    a filtered read skips the numbers already found to hold no match, and records those it
    finds so.

    :raise FeedGone: the bin does not exist.
    """
    found = session.execute(
        select(Bin.last_seq, Bin.created_at, _oldest(bin_id)).where(Bin.id == bin_id)
    ).first()
    if found is None:
        raise FeedGone(bin_id)
    latest, created_at, oldest = int(found.last_seq or 0), found.created_at, found.oldest
    if latest <= after:
        return FeedPage([], after, latest, 0)
    removed = max(0, (latest if oldest is None else min(oldest - 1, latest)) - after)
    filters = filters or FeedFilter()
    runs = runs_key(bin_id, created_at, filters)
    start = unmatched.scan_from(runs, after) if unmatched and runs else after
    heads = session.execute(
        _filtered(
            select(CapturedRequest.id, CapturedRequest.seq, CapturedRequest.size).where(
                CapturedRequest.bin_id == bin_id,
                CapturedRequest.seq > start,
                CapturedRequest.seq <= latest,
            ),
            filters,
        )
        .order_by(CapturedRequest.seq)
        .limit(limit)
    ).all()
    if unmatched and runs:
        unmatched.record(runs, start, heads[0].seq - 1 if heads else latest)
    taken: list[int] = []
    size = 0
    for head in heads:
        if taken and size + head.size > max_bytes:
            break
        taken.append(head.id)
        size += head.size
    if not taken:
        return FeedPage([], latest, latest, removed)
    rows = list(
        session.execute(
            select(CapturedRequest)
            .where(CapturedRequest.id.in_(taken))
            .order_by(CapturedRequest.seq)
        ).scalars()
    )
    complete = len(taken) == len(heads) and len(heads) < limit
    return FeedPage(rows, latest if complete else rows[-1].seq, latest, removed)


# -- listeners ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryReport:
    """What a listener did with one capture: the request it sent and the local answer, or the
    transport error in words. ``delivered`` moves its position to ``seq``."""

    request_id: int
    seq: int
    delivered: bool
    url: str
    method: str
    request_headers: list[tuple[str, str]]
    status_code: int | None
    response_headers: list[tuple[str, str]]
    response_body: bytes
    elapsed_ms: float
    error: str | None


def get_listener(session: AnySession, bin_id: str, name: str) -> Listener | None:
    """The bin's listener of that name, or None."""
    return session.execute(
        select(Listener).where(Listener.bin_id == bin_id, Listener.name == name)
    ).scalar_one_or_none()


def list_listeners(session: AnySession, bin_id: str) -> list[Listener]:
    """The bin's listeners, the most recently seen first."""
    query = (
        select(Listener)
        .where(Listener.bin_id == bin_id)
        .order_by(Listener.last_seen_at.desc(), Listener.id.desc())
        .limit(200)
    )
    return list(session.execute(query).scalars())


def open_listener(
    session: AnySession,
    bin_id: str,
    name: str,
    *,
    now: datetime,
    from_start: bool = False,
    position: int | None = None,
) -> tuple[Listener, bool]:
    """The listener of that name, created when new; and whether it was created.

    A listener that exists keeps its position (a restart resumes). A new one starts after the
    bin's last capture, or before its oldest one with ``from_start``, or at ``position`` (a
    listener re-creating itself after it was deleted). Two clients creating the same name at
    once get the same listener (the loser's transaction is rolled back: call this first).
    """
    found = get_listener(session, bin_id, name)
    if found is not None:
        found.last_seen_at = now
        return found, False
    latest = latest_number(session, bin_id) or 0
    if position is not None:
        start = min(position, latest)
    elif from_start:
        oldest = oldest_number(session, bin_id)
        start = latest if oldest is None else oldest - 1
    else:
        start = latest
    created = Listener(bin_id=bin_id, name=name, position=start, created_at=now, last_seen_at=now)
    session.add(created)
    try:
        session.flush()
    except IntegrityError:  # created by another client meanwhile: that one is ours too
        session.rollback()
        found = get_listener(session, bin_id, name)
        if found is None:
            raise
        return found, False
    return created, True


def touch_listener(
    session: AnySession, bin_id: str, name: str, *, position: int, now: datetime
) -> bool:
    """A poll from ``position`` says the listener has dealt with everything up to it: note the
    time and move its position forward (never back). False when there is no such listener."""
    result = session.execute(
        update(Listener)
        .where(Listener.bin_id == bin_id, Listener.name == name)
        .values(last_seen_at=now, position=_forward(position))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def _forward(position: int) -> ColumnElement[int]:
    return case((Listener.position < position, position), else_=Listener.position)


def record_delivery(
    session: AnySession, listener: Listener, report: DeliveryReport, *, latest: int, now: datetime
) -> Replay | None:
    """Keep one report: the listener's last answer and, when delivered, its new position; and
    the attempt as a ``Replay`` of kind ``listen`` beside the capture's replays and forwards.

    A failure that repeats the listener's previous failure on the same capture (a target that
    stays down while the listener backs off) updates the listener only, so a long outage does
    not bury the capture's history.

    :raise FeedError: ``seq`` beyond the bin's last capture.
    """
    if report.seq > latest:
        raise FeedError(f"seq {report.seq} is beyond the bin's last capture ({latest})")
    repeated = (
        not report.delivered
        and listener.last_request_id == report.request_id
        and listener.last_error is not None
        and listener.last_status is None
    )
    values: dict[str, Any] = {
        "last_seen_at": now,
        "last_request_id": report.request_id,
        "last_status": report.status_code,
        "last_error": report.error,
        "last_elapsed_ms": report.elapsed_ms,
    }
    if report.delivered:
        values["position"] = _forward(report.seq)
    session.execute(
        update(Listener)
        .where(Listener.id == listener.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.expire(listener)
    if repeated:
        return None
    captured = session.execute(
        select(CapturedRequest.id).where(
            CapturedRequest.id == report.request_id, CapturedRequest.bin_id == listener.bin_id
        )
    ).scalar()
    if captured is None:  # evicted or deleted meanwhile: the listener's own row says enough
        return None
    attempt = Replay(
        request_id=report.request_id,
        kind="listen",
        url=report.url,
        method=report.method,
        request_headers=[list(pair) for pair in report.request_headers],
        status_code=report.status_code,
        response_headers=[list(pair) for pair in report.response_headers],
        response_body=report.response_body,
        elapsed_ms=report.elapsed_ms,
        error=report.error,
        created_at=now,
        listener_name=listener.name,
    )
    session.add(attempt)
    return attempt


def delete_listener(session: AnySession, bin_id: str, name: str) -> bool:
    """Forget a listener (its recorded deliveries stay); False when there is none."""
    result = session.execute(
        delete(Listener).where(Listener.bin_id == bin_id, Listener.name == name)
    )
    return bool(getattr(result, "rowcount", 0))


class UnmatchedRuns:
    """Per process: for each bin and filter, a run of capture numbers known to hold no capture
    the filter lets through.

    Listeners that filter a loaded bin (one event, one sub-path) are woken by captures they
    leave out, and each read looked at every capture since its own cursor: twenty listeners
    read each capture twenty times. A run stays true: numbers are handed out in order, a
    capture read as committed never changes, and one that goes only leaves the run.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._runs: dict[Any, tuple[int, int]] = {}

    def scan_from(self, key: Any, after: int) -> int:
        """Where a read from ``after`` has to start looking (``key``: the bin, as made, and
        the filter)."""
        with self._lock:
            run = self._runs.get(key)
        if run is not None and run[0] <= after < run[1]:
            return run[1]
        return after

    def reaches(self, key: Any, after: int) -> bool:
        """Whether the numbers right up to ``after`` are known to hold nothing the filter lets
        through (an earlier read found them so)."""
        with self._lock:
            run = self._runs.get(key)
        return run is not None and run[0] < after <= run[1]

    def record(self, key: Any, start: int, end: int) -> None:
        """No capture numbered in (``start``, ``end``] passed the filter."""
        if end <= start:
            return
        with self._lock:
            run = self._runs.pop(key, None)
            if run is not None and run[0] <= start <= run[1]:
                start, end = run[0], max(end, run[1])
            elif run is not None and run[1] > end:
                start, end = run  # keep the run reaching further: the listeners move on
            if len(self._runs) >= self.size:
                self._runs.pop(next(iter(self._runs)))  # the least recently recorded
            self._runs[key] = (start, end)


class SharedReads:
    """One feed read for the polls of this process that ask the same question at once.

    The watcher wakes every waiter of a bin together, and listeners that are caught up share a
    cursor (and often their filters): without this each of them would read and serialize the
    same page. A poll joins only a read that is under way, never a finished one, and every read
    is a snapshot of its own, so a shared page is as complete as one read alone.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._under_way: dict[tuple[Any, ...], _Read] = {}

    def read(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """``compute()``, or the answer of the same read already under way."""
        with self._lock:
            found = self._under_way.get(key)
            if found is None:
                found = self._under_way[key] = _Read()
                owner = True
            else:
                owner = False
        if owner:
            try:
                found.page = compute()
            except BaseException as error:
                found.error = error
                raise
            finally:
                with self._lock:
                    del self._under_way[key]
                found.done.set()
            return found.page
        found.done.wait()
        if found.error is not None:
            raise found.error
        return found.page


class _Read:
    __slots__ = ("done", "page", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.page: Any = None
        self.error: BaseException | None = None


# -- waiting for captures ---------------------------------------------------------------------

# on PostgreSQL, how often the watcher reads the bins anyway (a lost notification costs this long)
LISTEN_FALLBACK = 2.0
# on PostgreSQL, how long the watcher listens on once no poll waits (polls come and go): the
# server keeps every notification for a connection that listens until it reads them, in a queue
# all its databases share, and a full queue refuses the commits that notify (every capture's)
LISTEN_LINGER = 2.0
FEED_CHANNEL = "receiver_feed"


class _Listener:
    """A PostgreSQL connection of its own, LISTENing on the feed's channel for this schema."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Any = None
        self._readable = selectors.PollSelector()
        self._schema = ""

    @property
    def ready(self) -> bool:
        return self._connection is not None

    def ensure(self) -> None:
        """Listen (again), if not listening already."""
        if self._connection is not None:
            return
        proxied = self.engine.raw_connection()
        proxied.detach()
        connection: Any = proxied.dbapi_connection
        connection.autocommit = True
        self._schema = str(connection.execute("SELECT current_schema()").fetchone()[0])
        connection.execute(f"LISTEN {FEED_CHANNEL}")
        # poll(2), not select(2): a busy server's descriptors pass select's limit of 1024
        self._readable = selectors.PollSelector()
        self._readable.register(connection.pgconn.socket, selectors.EVENT_READ)
        self._connection = connection

    def moved(self, timeout: float) -> dict[str, int]:
        """The bins whose sequence moved, with their newest number, in ``timeout`` seconds at
        most (what arrives at once after the first notification comes along).

        Read straight from libpq: a loaded bin notifies at every commit, and psycopg's
        ``notifies()`` takes its lock, starts a generator and (with no wait) raises and catches
        a timeout inside at every wake-up. Notifications that came while ``ensure`` ran its
        statements went to psycopg's backlog instead; the watcher reads the bins right after
        listening, so they are not needed.
        """
        pgconn = self._connection.pgconn
        pgconn.consume_input()
        notification = pgconn.notifies()
        if notification is None and self._readable.select(timeout):
            pgconn.consume_input()
            notification = pgconn.notifies()
        latest: dict[str, int] = {}
        while notification is not None:
            self._take(notification.extra.decode("utf-8", "replace"), latest)
            notification = pgconn.notifies()
        return latest

    def _take(self, payload: str, latest: dict[str, int]) -> None:
        """``<schema>:<bin id>:<last_seq>`` (bin ids hold no colon) into ``latest``."""
        head, _, seq = payload.rpartition(":")
        schema, _, bin_id = head.rpartition(":")
        if schema == self._schema and seq.isdigit():
            latest[bin_id] = max(latest.get(bin_id, 0), int(seq))

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # closing a connection that failed: nothing more to do
                pass


GONE = MAX_SEQ  # a bin that disappeared wakes its waiters (their next read answers 404)
# how often a waiter asks whether its client is still there (see FeedWatcher.wait)
CLIENT_CHECK_SECONDS = 0.5


def client_stays() -> bool:
    """The client check of a request whose connection cannot be watched: never gone."""
    return False


def _no_pool(change: int) -> None:
    """Where no server pool follows the held polls (the dev server, tests)."""


@dataclass(eq=False, slots=True)
class _Wait:
    """One waiting poll: its bin, the number it saw, and when it can take a wake-up."""

    bin_id: str
    seen: int
    not_before: float


class FeedWatcher:
    """Long polls of one server process: a bounded number of waiters, woken when their bin's
    ``last_seq`` moves.

    One thread watches the bins someone waits on, while a waiter can use news of its bin, and
    rests otherwise: a poll held back by ``not_before``, or whose bin has moved already, needs
    none (filtered listeners on a loaded bin are mostly one or the other). On SQLite it reads
    their ``last_seq`` every ``interval`` seconds at most (one query for all of them); on
    PostgreSQL it LISTENs on ``receiver_feed``, where a trigger announces every commit that
    moves a bin's sequence (see the migration that made it), and reads only when a bin comes to
    be watched and every ``fallback`` seconds, in case a notification was lost with a
    connection. ``slots`` bounds the waiters: a poll beyond it is not held, so the threads that
    serve senders are never taken by listeners (``receiver serve`` adds ``slots`` threads to
    each process for them).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        slots: int,
        interval: float = 0.1,
        fallback: float = LISTEN_FALLBACK,
        linger: float = LISTEN_LINGER,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.fallback = fallback
        self.linger = linger
        self.listens = engine.dialect.name == "postgresql"
        # the LISTEN connection (PostgreSQL), used by the watcher's thread alone
        self.listener = _Listener(engine) if self.listens else None
        # a bin came to be watched since the last read (it may have moved before it was)
        self._fresh = False
        self._slots = threading.BoundedSemaphore(slots) if slots > 0 else None
        # told +1 when a poll is held and -1 when it ends (the server's worker grows its pool)
        self.holding: Callable[[int], None] = _no_pool
        self._changed = threading.Condition()
        self._waits: set[_Wait] = set()
        self._latest: dict[str, int] = {}
        self._closed = False
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def wait(
        self,
        bin_id: str,
        seen: int,
        timeout: float,
        *,
        not_before: float = 0.0,
        client_left: Callable[[], bool] = client_stays,
    ) -> bool | None:
        """Wait until the bin's ``last_seq`` is above ``seen`` (True), ``timeout`` seconds
        pass, the client leaves or the watcher closes (False); None at once when every slot is
        taken.

        ``not_before`` (a `time.monotonic` moment) holds a wake-up back until then: a poll
        whose filter keeps leaving out what woke it need not read on every capture.
        ``client_left`` is asked every ``CLIENT_CHECK_SECONDS`` or so: a poll whose listener was
        stopped gives its slot back then, instead of being woken by every capture (and reading
        the feed for nobody) until its timeout.
        """
        if self._slots is None or not self._slots.acquire(blocking=False):
            return None
        self.holding(1)
        try:
            deadline = time.monotonic() + timeout
            this = _Wait(bin_id, seen, not_before)
            with self._changed:
                if self._closed:
                    return False
                if not self._watched(bin_id):
                    # a bin not watched until now: its number is read before the notifications
                    # are trusted (a bin watched already is up to date with them, and a poll
                    # waiting again after each read would otherwise cost a read of its own)
                    self._fresh = True
                self._waits.add(this)
                self._start()
                self._changed.notify_all()
                checked = time.monotonic()
                try:
                    while not self._closed:
                        now = time.monotonic()
                        left = deadline - now
                        moved = self._latest.get(bin_id, 0) > seen
                        if moved and now >= not_before:
                            return True
                        if left <= 0:
                            return False
                        if now - checked >= CLIENT_CHECK_SECONDS:
                            checked = now
                            if client_left():
                                return False
                        nap = min(left, CLIENT_CHECK_SECONDS)
                        if not moved:
                            self._changed.wait(nap)
                            continue
                        # held back: sleep out of reach of the watcher's wake-ups (close() ends it)
                        self._changed.release()
                        try:
                            self._closing.wait(min(nap, not_before - now))
                        finally:
                            self._changed.acquire()
                    return False
                finally:
                    self._waits.discard(this)
                    if not self._watched(bin_id):
                        self._latest.pop(bin_id, None)
        finally:
            self.holding(-1)
            self._slots.release()

    @property
    def waiting(self) -> int:
        """How many polls are waiting now."""
        with self._changed:
            return len(self._waits)

    def _watched(self, bin_id: str) -> bool:
        return any(wait.bin_id == bin_id for wait in self._waits)

    def close(self) -> None:
        """Wake every waiter and hold no more (a server shutting down); stops the thread."""
        with self._changed:
            self._closed = True
            self._closing.set()
            self._changed.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="receiver-feed", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        listener = self.listener
        read_at = -math.inf  # the last read of the bins (or attempt at one)
        try:
            while (watched := self._next_round(listener, read_at)) is not None:
                bins, fresh = watched
                listening = listener is not None and listener.ready
                latest: dict[str, int] | None = None
                if not listening or fresh or time.monotonic() - read_at >= self.fallback:
                    read_at = time.monotonic()
                    try:
                        if listener is not None:
                            listener.ensure()  # listening before reading: nothing in between
                        latest = {bin_id: GONE for bin_id in bins} | self._read(bins)
                    except Exception:  # a database hiccup: the waiters time out and poll again
                        log.exception("reading the feed's bins failed; retrying")
                        if listener is not None:
                            listener.close()
                self._publish(latest)
                if listener is None or not listener.ready:
                    continue
                try:
                    self._publish(listener.moved(self.interval))
                except Exception:  # the connection went: the next round listens again
                    log.warning("the feed's notifications stopped; listening again")
                    listener.close()
        finally:
            if listener is not None:
                listener.close()

    def _next_round(
        self, listener: _Listener | None, read_at: float
    ) -> tuple[list[str], bool] | None:
        """Wait until a waiter can use news of its bin: the bins waited on, and whether one
        came to be watched since the last round; None once the watcher is closed.

        A waiter can use news once its ``not_before`` has passed, until its bin has moved past
        what it saw; until then the watcher rests. Listening, it rests ``fallback`` seconds at
        most (the notifications of every commit gather meanwhile, and are taken in one go, not
        at one wake-up per commit); reading, it reads every ``interval`` seconds at most.
        While nobody waits a listener listens on for ``linger`` seconds, then stops (see
        `LISTEN_LINGER`); the next waiter makes the watcher listen again.
        """
        with self._changed:
            while True:
                while not self._wanted():
                    if listener is None or not listener.ready:
                        self._changed.wait()
                    elif not self._changed.wait_for(self._wanted, timeout=self.linger):
                        listener.close()
                if self._closed:
                    return None
                now = time.monotonic()
                if listener is not None and listener.ready:
                    due, latest = self._due_at(), read_at + self.fallback
                else:
                    due, latest = max(read_at + self.interval, self._due_at()), math.inf
                until = min(due, latest)
                if now >= until:
                    break
                # a waiter coming or the watcher closing ends this at once
                self._changed.wait(None if until == math.inf else until - now)
            fresh, self._fresh = self._fresh, False
            return sorted({wait.bin_id for wait in self._waits}), fresh

    def _due_at(self) -> float:
        """When the first waiter can use news: the earliest ``not_before`` of the waiters whose
        bin has not moved past what they saw (never, when every bin has)."""
        return min(
            (
                wait.not_before
                for wait in self._waits
                if self._latest.get(wait.bin_id, 0) <= wait.seen
            ),
            default=math.inf,
        )

    def _wanted(self) -> bool:
        """Whether the thread has work: waiters to serve, or the watcher to close."""
        return bool(self._waits) or self._closed

    def _publish(self, latest: dict[str, int] | None) -> None:
        """Take in new sequence numbers; wake the waiters only when a watched bin moved."""
        if not latest:
            return
        with self._changed:
            watched = {wait.bin_id for wait in self._waits}
            changed = False
            for bin_id, value in latest.items():
                if bin_id in watched:
                    changed = changed or self._latest.get(bin_id) != value
                    self._latest[bin_id] = value
            if changed:
                self._changed.notify_all()

    def _read(self, bins: list[str]) -> dict[str, int]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(Bin.id, Bin.last_seq).where(Bin.id.in_(bins))).all()
        return {row.id: int(row.last_seq or 0) for row in rows}
