"""The capture hot path's storage: bins looked up from memory, rows committed in groups.

Why not the ORM here: a webhook bin lives or dies by how many requests per second it can take
while answering only after the commit. So this module:

- looks bins up in a bounded in-process cache. Nothing asks the database "has this bin changed?"
  per request: each bin carries a ``settings_version`` (new whenever an ingest setting changes,
  and at creation), the commit's own bin update returns it, and a row analysed with other
  settings than the bin has now is not written: its request is told (`StaleAnalysis`), analyses
  again with fresh settings and queues again. The user catalog's change marker is checked in the
  same transaction, so a schema changed a moment ago is the one a capture is validated against;
- commits in groups: while one request thread (the leader) commits, the rows of the others
  queue up, and the next leader inserts them all in one transaction; a request is answered 2xx
  only after its own row is committed;
- on SQLite, takes the host's write lock (``storage.writelock``) before ``BEGIN IMMEDIATE``:
  a blocked writer wakes the moment the lock is released instead of sleeping in SQLite's busy
  handler.

Each transaction first updates the bins of its rows (``UPDATE … RETURNING``), which takes their
row locks until the commit: that is where each capture gets its number in the bin's sequence
(so numbers become visible in the order they were handed out, on PostgreSQL too; the ids are
taken after these locks, so within a bin they too become visible in increasing order, which a
reader following ``id > last seen`` relies on), and where the bin's answer settings are read,
so a response script's steps are taken one per capture across every process. The answer is then
decided and stored with the row (nothing for the default answer), the rows are queued for the
text index (``capture.indexer`` builds it in the background: indexing costs more than the
capture itself), and the bin is kept within its count and byte bounds.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import NamedTuple

from sqlalchemy.engine import Engine

from receiver.bins.responses import AnswerSettings
from receiver.bins.responses import BinResponse
from receiver.bins.responses import answer
from receiver.capture.statements import EVICTION_PAGE
from receiver.capture.statements import Statements
from receiver.capture.statements import processed
from receiver.storage.writelock import WriteLock

MAX_BATCH = 256
# the longest a leader waits for more rows, to commit them in its batch
GATHER_SECONDS = 0.001
# other threads that queued a row this recently make a leader gather (senders in parallel)
BUSY_SECONDS = 0.005
# bins whose settings a process keeps in memory (a bin is a few hundred bytes)
CACHED_BINS = 4096


class BinGone(LookupError):
    """The bin was deleted between the lookup and the commit; nothing was stored."""


class StoreClosed(RuntimeError):
    """The store was closed: a connection opened now would never be closed."""


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or written (stopped, unreachable, disk full).

    Nothing was stored. The connections involved are dropped, so the next call reconnects.
    """


class StaleAnalysis(RuntimeError):
    """The row was analysed with bin settings or a user catalog that changed since: nothing was
    stored; look the bin up again (`CaptureStore.refresh`), analyse again, store again."""


class IngestTarget(NamedTuple):
    """The bin settings the capture path reads before it commits."""

    id: str
    expires_at: datetime
    provider: str | None
    event: str | None
    strict_validation: bool
    signature_scheme: str | None
    signature_secret: str | None
    signature_header: str | None
    signature_previous_secrets: list[str] | None
    forward_url: str | None
    settings_version: int


class Committed(NamedTuple):
    """What one group commit stored: captures, and how many of them were queued to forward."""

    captures: int
    forwards: int


@dataclass(frozen=True)
class Stored:
    """A committed capture: its id, its number in the bin's sequence, and the bin's answer."""

    id: int
    seq: int
    answer: BinResponse


class _Pending:
    """A row waiting for a group commit, and its outcome; ``wake`` is held until its thread
    has something to do (its row's outcome, or the lead)."""

    __slots__ = ("row", "settings_version", "catalog_version", "result", "error", "done", "wake")

    def __init__(self, row: dict[str, Any], settings_version: int, catalog_version: Any) -> None:
        self.row = row
        self.settings_version = settings_version
        self.catalog_version = catalog_version
        self.result: Stored | None = None
        self.error: Exception | None = None
        self.done = False
        self.wake = threading.Lock()
        self.wake.acquire()

    def succeed(self, result: Stored) -> None:
        self.result, self.done = result, True

    def fail(self, error: Exception) -> None:
        self.error, self.done = error, True


class _Stale(Exception):
    """Raised inside a transaction (then rolled back) when some rows' analyses are stale."""

    def __init__(self, entries: list[_Pending]) -> None:
        super().__init__("stale analyses")
        self.entries = entries


class CaptureStore:
    """Bin lookups and group-committed inserts for the ingest path of one app."""

    def __init__(
        self,
        engine: Engine,
        *,
        write_lock: WriteLock,
        keep_per_bin: int,
        max_bytes_per_bin: int,
        ttl_days: int,
        max_delay_ms: int,
        wal_autocheckpoint: int | None = None,
    ) -> None:
        self.engine = engine
        # SQLite: the writer's own automatic checkpoint (None: SQLite's default); raised when a
        # storage.checkpoints.Checkpointer takes checkpoints off the capture path
        self.wal_autocheckpoint = wal_autocheckpoint
        self.write_lock = write_lock
        self.keep_per_bin = keep_per_bin
        self.max_bytes_per_bin = max_bytes_per_bin
        self.ttl = timedelta(days=ttl_days)
        self.max_delay_ms = max_delay_ms
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.sql = Statements(engine.dialect)
        dbapi = engine.dialect.dbapi
        # what a DBAPI raises when the database cannot be reached or written
        self._unavailable: tuple[type[BaseException], ...] = (
            (dbapi.OperationalError, dbapi.InterfaceError) if dbapi is not None else ()
        )
        self._targets: dict[str, IngestTarget] = {}
        # the user catalog's change marker as the last transaction saw it (None: not read yet)
        self.catalog_version: Any = None
        # told of each committed batch (the text indexer and the forwarder wake up)
        self.on_commit: list[Callable[[Committed], None]] = []
        self._local = threading.local()
        self._connections: list[Any] = []
        # each thread's reader with its thread and process, to close it when the thread ends
        self._readers: list[tuple[weakref.ref[threading.Thread], int, Any]] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        # one lock, two conditions: store_batch and close wait in _group for no one to lead, a
        # gathering leader waits in _arrivals for a full batch; a queued row's thread waits on
        # its own _Pending.wake
        queue_lock = threading.Lock()
        self._group = threading.Condition(queue_lock)
        self._arrivals = threading.Condition(queue_lock)
        self._pending: list[_Pending] = []
        self._leading = False
        # when each request thread last queued a row (bounded by the server's threads)
        self._queued_at: dict[int, float] = {}
        self._writer: tuple[int, Any] | None = None

    # -- connections ---------------------------------------------------------------------------

    def _new_connection(self, *, autocommit: bool, reader: bool = False) -> Any:
        """A DBAPI connection taken out of the engine's pool for good (pragmas applied).

        :raise StoreClosed: after `close` (a thread still serving a request when its server
            closed the app): nothing would ever close a connection opened then.
        """
        proxied = self.engine.raw_connection()
        proxied.detach()
        connection: Any = proxied.dbapi_connection
        if self.is_sqlite:
            # explicit BEGIN/COMMIT: the sqlite3 module's implicit transactions stay out
            connection.isolation_level = None
        else:
            connection.autocommit = autocommit
        with self._connections_lock:
            if self._closed:
                _close_quietly(connection)
                raise StoreClosed("the capture store is closed")
            self._connections.append(connection)
            if reader:
                owner = weakref.ref(threading.current_thread())
                self._readers.append((owner, os.getpid(), connection))
        return connection

    def _forget(self, connection: Any) -> None:
        """Close and drop a connection that failed, so the next call opens a fresh one."""
        with self._connections_lock:
            self._connections = [c for c in self._connections if c is not connection]
            self._readers = [entry for entry in self._readers if entry[2] is not connection]
        _close_quietly(connection)

    def _reader(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None or getattr(self._local, "pid", None) != os.getpid():
            self._close_finished_readers()
            connection = self._new_connection(autocommit=True, reader=True)
            self._local.connection = connection
            self._local.pid = os.getpid()
        return connection

    def _close_finished_readers(self) -> None:
        """Close the readers of threads that have ended (in this process).

        A server that starts a thread per connection (Werkzeug's) would otherwise keep one open
        connection per finished thread until `close`.
        """
        pid = os.getpid()
        with self._connections_lock:
            finished = [
                connection
                for owner, opened_in, connection in self._readers
                if opened_in == pid and not _is_alive(owner)
            ]
            if not finished:
                return
            self._readers = [entry for entry in self._readers if entry[2] not in finished]
            self._connections = [c for c in self._connections if c not in finished]
        for connection in finished:
            _close_quietly(connection)

    def _read(self, sql: str, params: Any) -> Any:
        """Run a read on this thread's connection and return its first row.

        :raise DatabaseUnavailable: the database could not be reached (the connection is dropped).
        """
        try:
            connection = self._reader()
        except self._unavailable as error:
            raise DatabaseUnavailable(str(error)) from error
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, params)
                return cursor.fetchone()
            finally:
                cursor.close()
        except self._unavailable as error:
            self._local.connection = None
            self._forget(connection)
            raise DatabaseUnavailable(str(error)) from error

    # -- lookup --------------------------------------------------------------------------------

    def lookup(self, bin_id: str, now: datetime) -> IngestTarget | None:
        """The bin's capture settings, from memory when known; None when it does not exist or
        has expired. A cached bin may have been deleted or changed meanwhile: the commit finds
        out (`BinGone`, `StaleAnalysis`).

        :raise DatabaseUnavailable: the database could not be reached.
        """
        target = self._targets.get(bin_id)
        # every capture moves a bin's expiry forward: an expiry in the past is read again
        if target is None or target.expires_at <= now:
            return self.refresh(bin_id, now)
        return target

    def refresh(self, bin_id: str, now: datetime) -> IngestTarget | None:
        """The bin's capture settings as the database has them now (and remembered).

        :raise DatabaseUnavailable: the database could not be reached.
        """
        row = self._read(self.sql.lookup.sql, self.sql.lookup.bind({"bin_id": bin_id}))
        if row is None:
            self._targets.pop(bin_id, None)
            return None
        target = IngestTarget(*processed(self.sql.target_processors, row))
        if len(self._targets) >= CACHED_BINS:
            self._targets.pop(next(iter(self._targets)), None)  # the oldest remembered
        self._targets[bin_id] = target
        return target if target.expires_at > now else None

    def forget(self, bin_id: str) -> None:
        """Drop a bin from memory (its settings changed or it was deleted in this process; the
        commit would find out too, one analysis later)."""
        self._targets.pop(bin_id, None)

    def user_schema_version(self) -> tuple[Any, ...]:
        """The user catalog's change marker as the database has it now (see
        ``user_schemas.CatalogCache``); the capture path reads it in its transactions instead.

        :raise DatabaseUnavailable: the database could not be reached.
        """
        version = self.sql.catalog_version
        row = self._read(version.sql, version.bind({}))
        self.catalog_version = tuple(processed(self.sql.catalog_processors, row))
        return self.catalog_version

    def known_catalog_version(self) -> tuple[Any, ...]:
        """The user catalog's change marker as the last commit saw it (read once at first)."""
        return self.catalog_version or self.user_schema_version()

    # -- group commit --------------------------------------------------------------------------

    def _gather(self) -> None:
        """As the leader (holding ``_group``): while other threads of this process queued a row
        a moment ago (senders on several connections), wait up to ``GATHER_SECONDS`` for their
        next rows, to commit them in one transaction. A lone sender, however fast, never
        waits."""
        if len(self._pending) >= MAX_BATCH or not self._others_busy(time.monotonic()):
            return
        deadline = time.monotonic() + GATHER_SECONDS
        while len(self._pending) < MAX_BATCH:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._arrivals.wait(left)

    def _others_busy(self, now: float) -> bool:
        """Whether another thread of this process queued a row within ``BUSY_SECONDS``."""
        me = threading.get_ident()
        return any(
            now - at < BUSY_SECONDS for thread, at in self._queued_at.items() if thread != me
        )

    def store(
        self,
        row: dict[str, Any],
        *,
        settings_version: int = -1,
        catalog_version: Any = None,
    ) -> Stored:
        """Commit ``row`` and return its id, number and answer once it is durable.

        ``row`` holds the captured_request columns (``statements.ROW_COLUMNS``), plus
        ``forward_url`` and ``rejection`` (the verdict a strict bin refuses, or None).
        ``settings_version`` and ``catalog_version`` are those the row was analysed with; when
        given, a row whose bin or catalog has changed since is not stored (`StaleAnalysis`).

        Group commit without a writer thread: the first thread to find no commit under way
        becomes the leader and commits every row queued so far (its own included) in one
        transaction; the others wait, and those whose rows were not in that batch elect the next
        leader when it is done. A leader commits one batch, so no request waits on others' rows
        for more than one transaction. A leader first waits a moment for more rows when other
        threads are queueing rows too (`_gather`).

        :raise BinGone: the bin no longer exists.
        :raise StaleAnalysis: the bin's settings or the user catalog changed since the analysis.
        :raise DatabaseUnavailable: the database could not be reached or written.
        :raise Exception: whatever else the database raised for this row.
        """
        entry = _Pending(row, settings_version, catalog_version)
        with self._group:
            self._pending.append(entry)
            now = time.monotonic()
            if len(self._queued_at) > MAX_BATCH:  # a thread per connection (a dev server)
                self._queued_at = {
                    thread: at for thread, at in self._queued_at.items() if now - at < BUSY_SECONDS
                }
            self._queued_at[threading.get_ident()] = now
            if len(self._pending) >= MAX_BATCH:  # a gathering leader waits for a full batch
                self._arrivals.notify()
            leads = not self._leading
            self._leading = True
        while not entry.done:
            if not leads:
                entry.wake.acquire()  # its batch was committed, or the lead was handed to it
                if entry.done:
                    break
            self._lead()
            leads = False
        if entry.error is not None:
            raise entry.error
        assert entry.result is not None
        return entry.result

    def _lead(self) -> None:
        """Commit one batch as the leader, wake its rows' threads, and hand the lead to the
        thread of the oldest row still queued (or give it up). Each waiting thread is woken
        once, when there is something for it: no thread wakes only to wait again."""
        with self._group:
            self._gather()
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        try:
            self._commit_batch(batch)
        finally:
            for waiting in batch:  # an interrupted leader must not strand its batch
                if not waiting.done:
                    waiting.fail(RuntimeError("the commit was interrupted"))
            with self._group:
                successor = self._pending[0] if self._pending else None
                if successor is None:
                    self._leading = False
                    self._group.notify_all()  # store_batch and close wait for that
            for waiting in batch:
                waiting.wake.release()
            if successor is not None:
                successor.wake.release()

    def store_batch(self, rows: list[dict[str, Any]]) -> list[Stored]:
        """Commit ``rows`` in one transaction of their own, unchecked (filling a bin for a
        benchmark or a test: ``store`` is the capture path's way).

        :raise BinGone: a bin of the rows no longer exists.
        :raise DatabaseUnavailable: the database could not be reached or written.
        """
        with self._group:
            while self._leading:
                self._group.wait()
            self._leading = True
        try:
            return self._transaction([_Pending(row, -1, None) for row in rows])
        finally:
            with self._group:
                self._leading = False
                self._group.notify_all()

    def close(self) -> None:
        """Close every connection this store opened (waiting commits finish first).

        For good: afterwards the store opens no connection (`StoreClosed`).
        """
        with self._group:
            while self._leading:
                self._group.wait()
            self._writer = None
        with self._connections_lock:
            self._closed = True
            connections, self._connections, self._readers = self._connections, [], []
        for connection in connections:
            _close_quietly(connection)
        self._local = threading.local()

    def _writer_connection(self) -> Any:
        """The leaders' shared connection (a new one after a fork or a failure)."""
        if self._writer is None or self._writer[0] != os.getpid():
            connection = self._new_connection(autocommit=False)
            if self.is_sqlite and self.wal_autocheckpoint is not None:
                connection.execute(f"PRAGMA wal_autocheckpoint = {int(self.wal_autocheckpoint)}")
            if not self.is_sqlite:
                # one plan per statement, made once: the batch's ids come from a series as long
                # as the batch, for which PostgreSQL would plan every execution afresh (a tenth
                # of the database's time per capture) when left to choose
                connection.execute("SET plan_cache_mode = force_generic_plan")
                connection.commit()
            self._writer = (os.getpid(), connection)
        return self._writer[1]

    def _drop_writer(self) -> None:
        """Forget the writer connection after the database failed under it."""
        writer, self._writer = self._writer, None
        if writer is not None:
            self._forget(writer[1])

    def _commit_batch(self, batch: list[_Pending]) -> None:
        """Commit a batch; rows with stale analyses go back to their requests; when the batch
        fails otherwise, retry row by row so one bad row fails alone."""
        while batch:
            try:
                results = self._transaction(batch)
            except _Stale as stale:
                for entry in stale.entries:
                    entry.fail(StaleAnalysis("the bin or the catalog changed; analyse again"))
                batch = [entry for entry in batch if not entry.done]
                continue
            except DatabaseUnavailable as error:
                for entry in batch:
                    entry.fail(error)
                return
            except Exception as error:
                if len(batch) == 1:
                    batch[0].fail(_translate(error))
                    return
                for entry in batch:
                    self._commit_batch([entry])
                return
            for entry, result in zip(batch, results, strict=True):
                entry.succeed(result)
            committed = Committed(
                len(batch), sum(1 for entry in batch if entry.row.get("forward_url"))
            )
            for listener in self.on_commit:
                listener(committed)
            return

    def _transaction(self, batch: list[_Pending]) -> list[Stored]:
        """Insert the batch's rows in one transaction; returns what each became, in order.

        Every value that can be is converted before the lock is taken: in a threaded worker the
        lock holder competes for the GIL, so only a few database calls may stand between lock
        and unlock.

        :raise _Stale: some rows were analysed with settings or a catalog that changed (rolled
            back; nothing stored).
        :raise DatabaseUnavailable: the database could not be reached or written.
        """
        values = [self.sql.row_values(entry.row) for entry in batch]
        touches = self._touches(batch)
        try:
            connection = self._writer_connection()
        except self._unavailable as error:
            raise DatabaseUnavailable(str(error)) from error
        try:
            with self.write_lock.held():
                cursor = connection.cursor()
                try:
                    if self.is_sqlite:
                        cursor.execute("BEGIN IMMEDIATE")
                    results = self._write(cursor, batch, values, touches)
                    if self.is_sqlite:
                        cursor.execute("COMMIT")
                    else:
                        connection.commit()
                    return results
                except BaseException:
                    try:
                        if self.is_sqlite:
                            cursor.execute("ROLLBACK")
                        else:
                            connection.rollback()
                    except Exception:  # the original error is the one to report
                        pass
                    raise
                finally:
                    cursor.close()
        except self._unavailable as error:
            self._drop_writer()
            raise DatabaseUnavailable(str(error)) from error

    def _touches(self, batch: list[_Pending]) -> dict[str, tuple[list[int], Any]]:
        """Each bin of the batch: its rows (in batch order) and its counter update; the last
        one also takes the batch's ids and reads the catalog's change marker."""
        by_bin: dict[str, list[int]] = defaultdict(list)
        for index, entry in enumerate(batch):
            by_bin[entry.row["bin_id"]].append(index)
        touches = {}
        # bins are locked in the order of their ids: two batches never wait for each other
        order = sorted(by_bin)
        last = order[-1]
        for bin_id in order:
            indexes = by_bin[bin_id]
            rows = [batch[index].row for index in indexes]
            newest = max(row["received_at"] for row in rows)
            touches[bin_id] = (
                indexes,
                self.sql.touch_values(
                    bin_id,
                    len(indexes),
                    sum(row["size"] for row in rows),
                    newest,
                    newest + self.ttl,
                    count=len(batch) if bin_id == last else None,
                ),
            )
        return touches

    def _write(
        self,
        cursor: Any,
        batch: list[_Pending],
        values: list[dict[str, Any]],
        touches: dict[str, tuple[list[int], Any]],
    ) -> list[Stored]:
        """Number the rows, decide their answers, insert them with their index queue entries
        and forwards, and keep their bins within bounds."""
        numbered, bounds, ids = self._number(cursor, batch, touches)
        stored: list[Stored | None] = [None] * len(batch)
        for indexes, settings, first in numbered:
            for offset, index in enumerate(indexes):
                seq = first + offset
                response = answer(
                    settings,
                    seq=seq,
                    request_id=ids[index],
                    max_delay_ms=self.max_delay_ms,
                    rejection=batch[index].row.get("rejection"),
                )
                stored[index] = Stored(ids[index], seq, response)
                kept = response.stored()
                values[index]["id"] = ids[index]
                values[index]["seq"] = seq
                values[index]["response"] = None if kept is None else self.sql.to_json(kept)
        if self.is_sqlite:  # in-process: a statement per row costs no round trip
            insert = self.sql.insert
            cursor.executemany(insert.sql, [insert.bind(value) for value in values])
            cursor.execute(self.sql.enqueue_search.sql, self.sql.search_values(ids))
        else:
            for arrays in self.sql.column_arrays(values):
                cursor.execute(self.sql.insert_queued, arrays)
        rows = [entry.row for entry in batch]
        forwards = [
            self.sql.forward_values(ids[i], row["bin_id"], row["forward_url"], row["received_at"])
            for i, row in enumerate(rows)
            if row.get("forward_url")
        ]
        if forwards:
            # queued in the capture's own transaction: a forward can never be lost in between
            cursor.executemany(self.sql.enqueue_forward.sql, forwards)
        for bin_id, count, size in bounds:
            if count > self.keep_per_bin or size > self.max_bytes_per_bin:
                self._evict_oldest(cursor, bin_id, count, size)
        return [result for result in stored if result is not None]

    def _number(
        self, cursor: Any, batch: list[_Pending], touches: dict[str, tuple[list[int], Any]]
    ) -> tuple[list[tuple[list[int], AnswerSettings, int]], list[tuple[str, int, int]], list[int]]:
        """Update each bin's counters (taking its row lock), take the batch's ids once every
        bin is locked, and check that every row was analysed with the bin's current settings
        and the current user catalog; returns the numbering, each bin's bounds and the ids.

        Ids are taken after the bins' row locks, so within a bin they become visible in
        increasing order (a reader asking for ids above the last one it saw skips nothing). On
        SQLite the write lock plus ``BEGIN IMMEDIATE`` make this the only writer, so the next
        ids follow the highest one; AUTOINCREMENT's sequence guarantees an id is never handed
        out twice. On PostgreSQL they come from the id column's own sequence.

        :raise BinGone: a bin of the batch no longer exists.
        :raise _Stale: some analyses are stale.
        """
        numbered: list[tuple[list[int], AnswerSettings, int]] = []
        bounds: list[tuple[str, int, int]] = []
        stale: list[_Pending] = []
        ids: list[int] = []
        catalog: Any = None
        for bin_id, (indexes, touch) in touches.items():
            last = len(numbered) == len(touches) - 1
            sql = self.sql.touch_last if last else self.sql.touch
            cursor.execute(sql.sql, touch)
            returned = cursor.fetchone()
            if returned is None:
                self.forget(bin_id)
                raise BinGone(bin_id)
            processors = self.sql.touch_last_processors if last else self.sql.touch_processors
            values = processed(processors, returned)
            if last:
                *values, catalog, taken = values
                ids = _ids(taken, len(batch))
            count, size, last_seq, version, *answer_values = values
            moved = [batch[i] for i in indexes if batch[i].settings_version not in (-1, version)]
            if moved:
                self.forget(bin_id)
                stale += moved
            numbered.append((indexes, AnswerSettings(*answer_values), last_seq - len(indexes) + 1))
            bounds.append((bin_id, count, size))
        self.catalog_version = (catalog,)
        stale += [
            entry
            for entry in batch
            if entry.catalog_version not in (None, self.catalog_version) and entry not in stale
        ]
        if stale:
            raise _Stale(stale)
        return numbered, bounds, ids

    def _evict_oldest(self, cursor: Any, bin_id: str, count: int, size: int) -> None:
        """Delete a bin's oldest requests until it holds at most ``keep_per_bin`` of them and
        ``max_bytes_per_bin`` bytes of bodies; the newest request always stays."""
        sql = self.sql
        boundary = 0
        after = 0
        while count > 1 and (count > self.keep_per_bin or size > self.max_bytes_per_bin):
            # over the count alone, exactly the surplus is read (one row, for a bin at its cap)
            surplus = count - self.keep_per_bin
            page = EVICTION_PAGE if size > self.max_bytes_per_bin else min(EVICTION_PAGE, surplus)
            cursor.execute(
                sql.oldest.sql, sql.oldest.bind({"bin_id": bin_id, "after": after, "page": page})
            )
            page = cursor.fetchall()
            if not page:
                break
            for request_id, request_size in page:
                if count <= 1 or (count <= self.keep_per_bin and size <= self.max_bytes_per_bin):
                    break
                boundary, count, size = request_id, count - 1, size - request_size
            after = page[-1][0]
        if boundary:
            cursor.execute(sql.evict.sql, sql.evict.bind({"bin_id": bin_id, "boundary": boundary}))
            cursor.execute(
                sql.set_counters.sql,
                sql.set_counters.bind({"bin_id": bin_id, "count": count, "bytes": size}),
            )


def _ids(taken: Any, count: int) -> list[int]:
    """The batch's ids from the last bin update: SQLite's first one, or PostgreSQL's array."""
    if isinstance(taken, list):
        return sorted(int(found) for found in taken)
    first = int(taken)
    return list(range(first, first + count))


def _translate(error: Exception) -> Exception:
    if "foreign key" in str(error).lower():
        return BinGone(str(error))
    return error


def _is_alive(owner: weakref.ref[threading.Thread]) -> bool:
    thread = owner()
    return thread is not None and thread.is_alive()


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # closing during shutdown or after a failure must not mask the outcome
        pass
