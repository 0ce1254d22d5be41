"""The text index, built in the background from the captures queued for it.

Each capture is queued (``search_queue``) in its own transaction, which costs little; turning its
text into index entries costs more than the capture itself (every character of the text becomes a
trigram in the index), so it happens here, in batches, in a thread of the serving processes. A
search also looks at the captures still queued (``capture.listing``), so a capture can be found
from the moment it is committed; the index only makes that fast.

Capture comes first: while captures keep arriving, the indexer takes a small share of one core;
when they stop, it catches up with a larger one. One indexer works at a time per database (the
others find the election lock taken and wait), and each capture leaves the queue in the
transaction that indexes it, so it is indexed once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import LargeBinary
from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import type_coerce
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from receiver.capture.bodies import decode_body
from receiver.capture.request import RawRequest
from receiver.capture.request import header_value
from receiver.capture.search import SEARCHED_BODY
from receiver.capture.search import search_text
from receiver.storage.models import CapturedRequest
from receiver.storage.models import SearchQueue
from receiver.storage.writelock import WriteLock

log = logging.getLogger(__name__)
BATCH = 64
# deleted captures taken out of SQLite's index per round
GONE_BATCH = 256
# the share of one core's time the indexer takes while captures arrive, and once they stopped
BUSY_SHARE = 0.02
IDLE_SHARE = 0.5
# how often an indexer with nothing to do looks for captures that other processes queued, and
# the pause after a round that found nothing to do before commits may wake it again
POLL_SECONDS = 5.0
IDLE_PAUSE = 0.5
# the PostgreSQL advisory lock that elects the one indexer at work; advisory locks belong to the
# whole database, so the second key is the schema's: receivers in other schemas of one database
# (the tests' workers, several deployments) each elect their own
ELECTION_KEY = 0x52435649  # "RCVI"
ELECTION_LOCK = "pg_try_advisory_lock(:key, hashtext(current_schema()))"
ELECTION_UNLOCK = "pg_advisory_unlock(:key, hashtext(current_schema()))"


def oldest_queued(limit: int) -> Select[Any]:
    """The ids of the ``limit`` captures queued longest."""
    return select(SearchQueue.request_id).order_by(SearchQueue.request_id).limit(limit)


def captures_to_index(ids: list[int]) -> Select[Any]:
    """Those captures, with the head of their bodies only.

    Read by id, apart from the queue: a join of the two tables ordered by id let PostgreSQL
    merge them in id order, walking every capture already indexed before the first queued one,
    a cost that grew with the table.
    """
    head = type_coerce(func.substr(CapturedRequest.body, 1, SEARCHED_BODY), LargeBinary)
    return (
        select(
            CapturedRequest.id,
            CapturedRequest.bin_id,
            CapturedRequest.method,
            CapturedRequest.path,
            CapturedRequest.query_string,
            CapturedRequest.headers,
            head.label("head"),
        )
        .where(CapturedRequest.id.in_(ids))
        .order_by(CapturedRequest.id)
    )


def index_pending(engine: Engine, write_lock: WriteLock, *, limit: int = BATCH) -> int:
    """Index up to ``limit`` queued captures, and (SQLite) take up to ``GONE_BATCH`` deleted
    ones out of the index; returns how many captures this changed (0 when there was nothing to
    do, or when another indexer holds the election lock).

    On SQLite the writes take ``write_lock`` (the capture store's): the text is worked out
    before it is taken, so captures wait for an indexer no longer than its inserts take.
    """
    with _elected(engine, write_lock) as connection:
        if connection is None:
            return 0
        removed = 0
        if engine.dialect.name == "sqlite":
            with write_lock.held():
                removed = _remove_gone(connection)
        ids = list(connection.execute(oldest_queued(limit)).scalars())
        rows = connection.execute(captures_to_index(ids)).all() if ids else []
        connection.commit()
        if not rows:
            return removed
        texts = [(row.id, row.bin_id, text_of(row)) for row in rows]
        if engine.dialect.name == "sqlite":
            with write_lock.held():
                return removed + _write_sqlite(connection, texts)
        with connection.begin():
            return _write_postgresql(connection, texts)


def _remove_gone(connection: Connection) -> int:
    """Take deleted captures out of SQLite's index (their deletion only noted their ids in
    ``search_gone``: removing the text at once costs as much as indexing it). Until then a
    search does not find them anyway: it reads the captures that still exist."""
    gone = tuple(
        row[0]
        for row in connection.exec_driver_sql(
            "SELECT request_id FROM search_gone LIMIT ?", (GONE_BATCH,)
        )
    )
    connection.commit()
    if not gone:
        return 0
    marks = ", ".join("?" * len(gone))
    connection.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        connection.exec_driver_sql(f"DELETE FROM request_search WHERE rowid IN ({marks})", gone)
        connection.exec_driver_sql(f"DELETE FROM search_gone WHERE request_id IN ({marks})", gone)
        connection.exec_driver_sql("COMMIT")
    except BaseException:
        connection.exec_driver_sql("ROLLBACK")
        raise
    return len(gone)


@contextmanager
def _elected(engine: Engine, write_lock: WriteLock) -> Iterator[Connection | None]:
    """A connection for the one indexer at work, or None when another one is."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            election = write_lock.election("indexer")
            if election is None:
                yield connection
                return
            with election.attempt() as won:
                yield connection if won else None
            return
        elected = connection.execute(text(f"SELECT {ELECTION_LOCK}"), {"key": ELECTION_KEY})
        connection.commit()
        if not elected.scalar():
            yield None
            return
        try:
            yield connection
        finally:
            connection.rollback()
            connection.execute(text(f"SELECT {ELECTION_UNLOCK}"), {"key": ELECTION_KEY})
            connection.commit()


def text_of(row: Any) -> str:
    """The searchable text of a stored capture (its body's head, its encoding undone)."""
    headers = [(str(name), str(value)) for name, value in row.headers or []]
    head = bytes(row.head or b"")
    decoded = decode_body(head, header_value(headers, "Content-Encoding"), limit=SEARCHED_BODY)
    raw = RawRequest(row.method, row.path, row.query_string, headers, b"")
    # a head cut inside a compressed stream does not decode: then the body is left out
    usable = decoded.error is None or decoded.truncated
    return search_text(raw, decoded.data if usable else b"")


def _write_sqlite(connection: Connection, texts: list[tuple[int, str, str]]) -> int:
    """Move queued captures into the index, each only if it was still queued (under the write
    lock: the caller holds it). Two statements for the whole batch, straight to the driver."""
    ids = [request_id for request_id, _, _ in texts]
    marks = ", ".join("?" * len(ids))
    connection.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        taken = {
            row[0]
            for row in connection.exec_driver_sql(
                f"DELETE FROM search_queue WHERE request_id IN ({marks}) RETURNING request_id",
                tuple(ids),
            )
        }
        chosen = [(i, content, bin_id) for i, bin_id, content in texts if i in taken]
        if chosen:
            connection.exec_driver_sql(
                "INSERT INTO request_search (rowid, text, bin_id) VALUES (?, ?, ?)", chosen
            )
        connection.exec_driver_sql("COMMIT")
    except BaseException:
        connection.exec_driver_sql("ROLLBACK")
        raise
    return len(chosen)


def _write_postgresql(connection: Connection, texts: list[tuple[int, str, str]]) -> int:
    ids = [request_id for request_id, _, _ in texts]
    taken = set(
        connection.execute(
            text("DELETE FROM search_queue WHERE request_id = ANY(:ids) RETURNING request_id"),
            {"ids": ids},
        ).scalars()
    )
    chosen = [
        {"id": request_id, "text": content, "bin_id": bin_id}
        for request_id, bin_id, content in texts
        if request_id in taken
    ]
    if chosen:
        connection.execute(
            text(
                "INSERT INTO request_search (request_id, text, bin_id)"
                " VALUES (:id, :text, :bin_id) ON CONFLICT DO NOTHING"
            ),
            chosen,
        )
    return len(chosen)


class SearchIndexer:
    """A daemon thread that indexes queued captures until stopped, yielding to capture.

    The capture store tells it of each commit in this process (`notify`); captures committed by
    other processes are found by a slow look every ``POLL_SECONDS`` (a search never needs the
    index to find them: it reads what is still queued too).
    """

    def __init__(self, engine: Engine, write_lock: WriteLock) -> None:
        self.engine = engine
        self.write_lock = write_lock
        # what a round of indexing costs the machine. SQLite works inside this thread: its CPU
        # time is the cost (waiting for the GIL in a busy process is not work). PostgreSQL does
        # most of the work in its own process (the trigram entries: several times the thread's
        # CPU), on the same cores: the round's wall time counts it, and the GIL waits it also
        # counts only make the indexer yield more to captures.
        self.work_clock: Callable[[], float] = (
            time.thread_time if engine.dialect.name == "sqlite" else time.monotonic
        )
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._arrivals = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self.run, name="receiver-indexer", daemon=True)
            self._thread.start()

    def notify(self, committed: Any = None) -> None:
        """Captures were queued for the index (called by the capture store after a commit)."""
        self._arrivals += 1
        self._wake.set()

    def run(self) -> None:
        """Index until stopped; a database hiccup is logged and tried again later.

        While captures keep arriving the indexer paces itself to ``BUSY_SHARE`` of a core, then
        catches up with ``IDLE_SHARE`` (measured by ``work_clock``).
        """
        unreachable = False
        seen = self._arrivals
        while not self._stop.is_set():
            started = self.work_clock()
            self._wake.clear()
            try:
                indexed = index_pending(self.engine, self.write_lock)
            except DBAPIError as error:  # the database is away: one line, not one per round
                if not unreachable:
                    log.warning("text index paused, the database is unreachable: %s", error.orig)
                unreachable = True
                indexed = 0
            except Exception:  # a bug: the indexer must still outlive it
                log.exception("indexing round failed; trying again")
                indexed = 0
            else:
                if unreachable:
                    log.warning("text index resumed, the database is back")
                unreachable = False
            if not indexed:
                # nothing queued, or another process's indexer is at work: a pause first, so
                # a stream of commits does not make this thread ask again after each one
                self._stop.wait(IDLE_PAUSE)
                self._wake.wait(POLL_SECONDS)
                continue
            busy, seen = self._arrivals != seen, self._arrivals
            share = BUSY_SHARE if busy else IDLE_SHARE
            self._stop.wait((self.work_clock() - started) * (1 / share - 1))

    def stop(self) -> None:
        """Ask the thread to stop and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
