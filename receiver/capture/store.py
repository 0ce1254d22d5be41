"""The capture hot path's storage: a lean bin lookup and group commit of captured rows.

Why not the ORM here: a webhook bin lives or dies by how many requests per second it can take
while answering only after the commit. Measured on this project's 2-core machine, a bin lookup
through a pooled SQLAlchemy connection costs about 25 times a lookup on a kept-open DBAPI
connection, and one commit per request makes SQLite writers from several gunicorn workers collide
and wait in growing sleeps. So this module:

- keeps one DBAPI connection per thread for the lookup (taken from the engine, so the SQLite
  pragmas apply; WAL readers never wait for the writer);
- commits in groups: while one request thread (the leader) commits, the rows of the others
  queue up, and the next leader inserts them all in one transaction; a request is answered 2xx
  only after its own row is committed;
- on SQLite, serialises the writers of all processes with an advisory file lock taken before
  ``BEGIN IMMEDIATE``: a blocked writer wakes the moment the lock is released instead of polling
  in SQLite's busy-handler sleeps (1 ms growing to 100 ms).

Each transaction first updates the bins of its rows (``UPDATE … RETURNING``), which takes their
row locks until the commit: that is where each capture gets its number in the bin's sequence
(so numbers become visible in the order they were handed out, on PostgreSQL too; the ids are
taken after these locks, so within a bin they too become visible in increasing order, which a
reader following ``id > last seen`` relies on), and where the bin's answer settings are
read, so a response script's steps are taken one per capture across every process. The answer
is then decided and stored with the row (nothing for the default answer), the row is queued for
the text index (built in the background by ``capture.indexer``: indexing costs more than the
capture itself), and the bin is kept within its count and byte bounds.

SQL text and value conversion come from SQLAlchemy itself (statements compiled once for the
engine's dialect, each column type's own bind and result processors), so the rows are exactly
what the ORM would have written and read.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import NamedTuple
from typing import cast

from sqlalchemy import JSON
from sqlalchemy import Table
from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Engine

from receiver.bins.responses import AnswerSettings
from receiver.bins.responses import BinResponse
from receiver.bins.responses import answer
from receiver.catalog.user_schemas import version_query
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest
from receiver.storage.models import ForwardJob
from receiver.storage.models import SearchQueue

MAX_BATCH = 256
EVICTION_PAGE = 256
bins_table = cast(Table, Bin.__table__)
requests_table = cast(Table, CapturedRequest.__table__)
forward_table = cast(Table, ForwardJob.__table__)
search_queue_table = cast(Table, SearchQueue.__table__)

NEXT_SQLITE_ID = (
    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'captured_request'), 0),"
    " coalesce((SELECT max(id) FROM captured_request), 0))"
)


class BinGone(LookupError):
    """The bin was deleted between the lookup and the commit; nothing was stored."""


class StoreClosed(RuntimeError):
    """The store was closed: a connection opened now would never be closed."""


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or written (stopped, unreachable, disk full).

    Nothing was stored. The connections involved are dropped, so the next call reconnects.
    """


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


@dataclass(frozen=True)
class Stored:
    """A committed capture: its id, its number in the bin's sequence, and the bin's answer."""

    id: int
    seq: int
    answer: BinResponse


TARGET_COLUMNS = [bins_table.c[name] for name in IngestTarget._fields]
# what the bin update returns: the new counters, then the answer settings (see AnswerSettings)
TOUCH_RETURNS = [
    bins_table.c.request_count,
    bins_table.c.stored_bytes,
    bins_table.c.last_seq,
    bins_table.c.response_status,
    bins_table.c.response_headers,
    bins_table.c.response_body,
    bins_table.c.response_delay_ms,
    bins_table.c.response_script,
    bins_table.c.script_base_seq,
]
ROW_COLUMNS = [
    "bin_id",
    "received_at",
    "method",
    "path",
    "query_string",
    "headers",
    "body",
    "content_type",
    "size",
    "remote_addr",
    "event_provider",
    "event_id",
    "validation_status",
    "validation",
    "signature_status",
    "signature",
]
# set under the write lock, once the transaction knows them
LATE_COLUMNS = ["id", "seq", "response"]


class _Pending:
    """A row waiting for a group commit, and its outcome."""

    __slots__ = ("row", "result", "error", "done")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.result: Stored | None = None
        self.error: Exception | None = None
        self.done = False

    def succeed(self, result: Stored) -> None:
        self.result, self.done = result, True

    def fail(self, error: Exception) -> None:
        self.error, self.done = error, True


class _Prepared(NamedTuple):
    """A batch converted for the driver before the write lock is taken."""

    rows: list[dict[str, Any]]
    values: list[dict[str, Any]]
    # bin id -> (rows of that bin in batch order, touch parameters)
    bins: dict[str, tuple[list[int], Any]]


class CompiledStatement:
    """A Core statement compiled once for a dialect, run on a raw DBAPI cursor."""

    def __init__(self, engine: Engine, statement: Any, types: dict[str, Any]) -> None:
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        # binds SQLAlchemy renders itself (a LIMIT, say) keep the values it compiled in
        self.defaults = dict(compiled.params)
        self.positional = compiled.positional
        self.names = list(compiled.positiontup or []) if compiled.positional else []
        self.processors: dict[str, Callable[[Any], Any]] = {
            name: processor
            for name, type_ in types.items()
            if (processor := type_.dialect_impl(dialect).bind_processor(dialect)) is not None
        }

    def convert(self, values: dict[str, Any]) -> dict[str, Any]:
        """The values as the driver takes them (each column type's bind processor applied)."""
        return {
            name: (self.processors[name](value) if name in self.processors else value)
            for name, value in values.items()
        }

    def bind(self, converted: dict[str, Any]) -> Any:
        """Driver parameters from converted values (a tuple for positional paramstyles)."""
        merged = {**self.defaults, **converted}
        if self.positional:
            return tuple(merged[name] for name in self.names)
        return merged

    def params(self, values: dict[str, Any]) -> Any:
        """Convert and bind in one step."""
        return self.bind(self.convert(values))


def _result_processors(engine: Engine, columns: list[Any]) -> list[Any]:
    dialect = engine.dialect
    return [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]


def _json_value(raw: Any) -> Any:
    """A JSON column's value from the driver: SQLite gives text, psycopg decoded values."""
    if raw is None or not isinstance(raw, str | bytes):
        return raw
    return [] if raw == "[]" else json.loads(raw)


def _processed(processors: list[Any], row: Any) -> list[Any]:
    return [
        processor(value) if processor is not None else value
        for processor, value in zip(processors, row, strict=True)
    ]


class CaptureStore:
    """Bin lookups and group-committed inserts for the ingest path of one app."""

    def __init__(
        self,
        engine: Engine,
        *,
        keep_per_bin: int,
        max_bytes_per_bin: int,
        ttl_days: int,
        max_delay_ms: int,
    ) -> None:
        self.engine = engine
        self.keep_per_bin = keep_per_bin
        self.max_bytes_per_bin = max_bytes_per_bin
        self.ttl = timedelta(days=ttl_days)
        self.max_delay_ms = max_delay_ms
        self.is_sqlite = engine.dialect.name == "sqlite"
        dbapi = engine.dialect.dbapi
        # what a DBAPI raises when the database cannot be reached or written
        self._unavailable: tuple[type[BaseException], ...] = (
            (dbapi.OperationalError, dbapi.InterfaceError) if dbapi is not None else ()
        )
        # the committers of every process on this file take turns through this lock
        self.lock_path = f"{engine.url.database}.writelock" if self.is_sqlite else None
        self._local = threading.local()
        self._connections: list[Any] = []
        # each thread's reader with its thread and process, to close it when the thread ends
        self._readers: list[tuple[weakref.ref[threading.Thread], int, Any]] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._group = threading.Condition()
        self._pending: list[_Pending] = []
        self._leading = False
        self._writer: tuple[int, Any, Any] | None = None
        self._id_sequence: str | None = None
        self._compile()

    def _compile(self) -> None:
        engine = self.engine
        self._lookup = CompiledStatement(
            engine,
            select(*TARGET_COLUMNS).where(bins_table.c.id == bindparam("bin_id")),
            {"bin_id": bins_table.c.id.type},
        )
        self._lookup_processors = _result_processors(engine, TARGET_COLUMNS)
        self._schema_version = CompiledStatement(engine, version_query(), {})
        columns = [*LATE_COLUMNS, *ROW_COLUMNS]
        self._insert = CompiledStatement(
            engine,
            insert(requests_table).values({name: bindparam(name) for name in columns}),
            {name: requests_table.c[name].type for name in columns},
        )
        self._enqueue_forward = CompiledStatement(
            engine,
            insert(forward_table).values(
                {
                    name: bindparam(name)
                    for name in ("request_id", "bin_id", "url", "status", "attempts")
                }
                | {
                    "next_attempt_at": bindparam("now"),
                    "created_at": bindparam("now"),
                }
            ),
            {
                "now": forward_table.c.created_at.type,
                "bin_id": forward_table.c.bin_id.type,
            },
        )
        self._touch = CompiledStatement(
            engine,
            update(bins_table)
            .where(bins_table.c.id == bindparam("bin_id"))
            .values(
                request_count=bins_table.c.request_count + bindparam("added"),
                stored_bytes=bins_table.c.stored_bytes + bindparam("added_bytes"),
                last_seq=bins_table.c.last_seq + bindparam("added"),
                last_request_at=bindparam("last_request_at"),
                expires_at=bindparam("expires_at"),
            )
            .returning(*TOUCH_RETURNS),
            {
                "bin_id": bins_table.c.id.type,
                "last_request_at": bins_table.c.last_request_at.type,
                "expires_at": bins_table.c.expires_at.type,
            },
        )
        # the answer settings' JSON columns are decoded by _json_value: most bins hold an empty
        # list or nothing there, and this runs for every commit
        self._touch_processors = [
            _json_value if isinstance(column.type, JSON) else processor
            for column, processor in zip(
                TOUCH_RETURNS, _result_processors(engine, TOUCH_RETURNS), strict=True
            )
        ]
        self._oldest = CompiledStatement(
            engine,
            select(requests_table.c.id, requests_table.c.size)
            .where(
                requests_table.c.bin_id == bindparam("bin_id"),
                requests_table.c.id > bindparam("after"),
            )
            .order_by(requests_table.c.id)
            .limit(EVICTION_PAGE),
            {"bin_id": requests_table.c.bin_id.type},
        )
        self._evict = CompiledStatement(
            engine,
            requests_table.delete().where(
                requests_table.c.bin_id == bindparam("bin_id"),
                requests_table.c.id <= bindparam("boundary"),
            ),
            {"bin_id": requests_table.c.bin_id.type},
        )
        self._set_counters = CompiledStatement(
            engine,
            update(bins_table)
            .where(bins_table.c.id == bindparam("bin_id"))
            .values(request_count=bindparam("count"), stored_bytes=bindparam("bytes")),
            {"bin_id": bins_table.c.id.type},
        )
        self._enqueue_search = CompiledStatement(
            engine,
            insert(search_queue_table).values(
                request_id=bindparam("request_id"), bin_id=bindparam("bin_id")
            ),
            {"bin_id": search_queue_table.c.bin_id.type},
        )

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
        """The bin's capture settings; None when it does not exist or has expired.

        :raise DatabaseUnavailable: the database could not be reached.
        """
        row = self._read(self._lookup.sql, self._lookup.params({"bin_id": bin_id}))
        if row is None:
            return None
        target = IngestTarget(*_processed(self._lookup_processors, row))
        if target.expires_at <= now:
            return None
        return target

    def user_schema_version(self) -> tuple[Any, ...]:
        """The user-schema table's change marker (see ``user_schemas.CatalogCache``).

        :raise DatabaseUnavailable: the database could not be reached.
        """
        return tuple(self._read(self._schema_version.sql, self._schema_version.params({})))

    # -- group commit --------------------------------------------------------------------------

    def store(self, row: dict[str, Any]) -> Stored:
        """Commit ``row`` and return its id, number and answer once it is durable.

        ``row`` holds the captured_request columns (``ROW_COLUMNS``), plus ``forward_url`` and
        ``rejection`` (the verdict a strict bin refuses, or None).

        Group commit without a writer thread: the first thread to find no commit under way
        becomes the leader and commits every row queued so far (its own included) in one
        transaction; the others wait, and those whose rows were not in that batch elect the next
        leader when it is done. A leader commits one batch, so no request waits on others' rows
        for more than one transaction.

        :raise BinGone: the bin no longer exists.
        :raise DatabaseUnavailable: the database could not be reached or written.
        :raise Exception: whatever else the database raised for this row.
        """
        entry = _Pending(row)
        with self._group:
            self._pending.append(entry)
            while not entry.done:
                if self._leading:
                    self._group.wait()
                    continue
                self._leading = True
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                self._group.release()
                try:
                    self._commit_batch(batch)
                finally:
                    for waiting in batch:  # an interrupted leader must not strand its batch
                        if not waiting.done:
                            waiting.fail(RuntimeError("the commit was interrupted"))
                    self._group.acquire()
                    self._leading = False
                    self._group.notify_all()
        if entry.error is not None:
            raise entry.error
        assert entry.result is not None
        return entry.result

    def close(self) -> None:
        """Close every connection this store opened (waiting commits finish first).

        For good: afterwards the store opens no connection (`StoreClosed`).
        """
        with self._group:
            while self._leading:
                self._group.wait()
            writer, self._writer = self._writer, None
        if writer is not None and writer[2] is not None:
            writer[2].close()
        with self._connections_lock:
            self._closed = True
            connections, self._connections, self._readers = self._connections, [], []
        for connection in connections:
            _close_quietly(connection)
        self._local = threading.local()

    def _writer_handles(self) -> tuple[Any, Any]:
        """The leaders' shared connection and lock file (new ones after a fork or a failure)."""
        if self._writer is None or self._writer[0] != os.getpid():
            connection = self._new_connection(autocommit=False)
            lock_file = open(self.lock_path, "a+b") if self.lock_path else None  # noqa: SIM115
            self._writer = (os.getpid(), connection, lock_file)
        return self._writer[1], self._writer[2]

    def _drop_writer(self) -> None:
        """Forget the writer connection after the database failed under it (the lock file is
        still held by the failing transaction, which releases it; a new one is opened)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            self._forget(writer[1])

    def _commit_batch(self, batch: list[_Pending]) -> None:
        """Commit a batch; when it fails, retry row by row so one bad row fails alone."""
        try:
            results = self._transaction([entry.row for entry in batch])
        except DatabaseUnavailable as error:
            for entry in batch:
                entry.fail(error)
            return
        except Exception as error:
            if len(batch) == 1:
                batch[0].fail(self._translate(error))
                return
            for entry in batch:
                try:
                    (result,) = self._transaction([entry.row])
                except Exception as row_error:  # every waiter must get an answer
                    entry.fail(self._translate(row_error))
                else:
                    entry.succeed(result)
            return
        for entry, result in zip(batch, results, strict=True):
            entry.succeed(result)

    def _translate(self, error: Exception) -> Exception:
        if "foreign key" in str(error).lower():
            return BinGone(str(error))
        return error

    def _transaction(self, rows: list[dict[str, Any]]) -> list[Stored]:
        """Insert ``rows`` in one transaction; returns what each became, in order.

        Every value that can be is converted before the lock is taken: in a threaded worker the
        lock holder competes for the GIL, so only a few database calls may stand between lock
        and unlock.

        :raise DatabaseUnavailable: the database could not be reached or written.
        """
        prepared = self._prepare(rows)
        try:
            connection, lock_file = self._writer_handles()
        except self._unavailable as error:
            raise DatabaseUnavailable(str(error)) from error
        if lock_file is not None:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            cursor = connection.cursor()
            try:
                if self.is_sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                results = self._write(cursor, prepared)
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
        finally:
            if lock_file is not None:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _prepare(self, rows: list[dict[str, Any]]) -> _Prepared:
        """Driver-ready values for the inserts, and each bin's counter update."""
        values = [
            self._insert.convert({name: row.get(name) for name in ROW_COLUMNS}) for row in rows
        ]
        by_bin: dict[str, list[int]] = defaultdict(list)
        newest: dict[str, datetime] = {}
        added_bytes: dict[str, int] = defaultdict(int)
        for index, row in enumerate(rows):
            bin_id = row["bin_id"]
            by_bin[bin_id].append(index)
            added_bytes[bin_id] += row["size"]
            newest[bin_id] = max(newest.get(bin_id, row["received_at"]), row["received_at"])
        bins = {
            bin_id: (
                indexes,
                self._touch.params(
                    {
                        "bin_id": bin_id,
                        "added": len(indexes),
                        "added_bytes": added_bytes[bin_id],
                        "last_request_at": newest[bin_id],
                        "expires_at": newest[bin_id] + self.ttl,
                    }
                ),
            )
            for bin_id, indexes in by_bin.items()
        }
        return _Prepared(rows, values, bins)

    def _write(self, cursor: Any, prepared: _Prepared) -> list[Stored]:
        """Number the rows, decide their answers, insert them with their search text and
        forwards, and keep their bins within bounds."""
        rows = prepared.rows
        seqs = [0] * len(rows)
        answers: list[BinResponse | None] = [None] * len(rows)
        after: list[tuple[str, int, int]] = []
        numbered: list[tuple[list[int], AnswerSettings, int]] = []
        for bin_id, (indexes, touch) in prepared.bins.items():
            cursor.execute(self._touch.sql, touch)
            returned = cursor.fetchone()
            if returned is None:
                raise BinGone(bin_id)
            count, size, last_seq, *answer_values = _processed(self._touch_processors, returned)
            numbered.append((indexes, AnswerSettings(*answer_values), last_seq - len(indexes) + 1))
            after.append((bin_id, count, size))
        # ids are taken under the bins' row locks too, so within a bin they also become visible
        # in increasing order: a reader asking for ids above the last one it saw skips nothing
        ids = self._next_ids(cursor, len(rows))
        for indexes, settings, first in numbered:
            for offset, index in enumerate(indexes):
                seqs[index] = first + offset
                answers[index] = answer(
                    settings,
                    seq=first + offset,
                    request_id=ids[index],
                    max_delay_ms=self.max_delay_ms,
                    rejection=rows[index].get("rejection"),
                )
        inserts = []
        to_json = self._insert.processors["response"]
        for index, converted in enumerate(prepared.values):
            kept = cast(BinResponse, answers[index]).stored()
            late = {
                "id": ids[index],
                "seq": seqs[index],
                # SQL NULL for the default answer (a JSON null would need the processor too)
                "response": None if kept is None else to_json(kept),
            }
            inserts.append(self._insert.bind({**converted, **late}))
        cursor.executemany(self._insert.sql, inserts)
        # the text index is built in the background (capture.indexer); the queue is cheap
        cursor.executemany(
            self._enqueue_search.sql,
            [
                self._enqueue_search.params({"request_id": ids[i], "bin_id": row["bin_id"]})
                for i, row in enumerate(rows)
            ],
        )
        forwards = [
            self._enqueue_forward.params(
                {
                    "request_id": ids[index],
                    "bin_id": row["bin_id"],
                    "url": row["forward_url"],
                    "status": "pending",
                    "attempts": 0,
                    "now": row["received_at"],
                }
            )
            for index, row in enumerate(rows)
            if row.get("forward_url")
        ]
        if forwards:
            # queued in the capture's own transaction: a forward can never be lost in between
            cursor.executemany(self._enqueue_forward.sql, forwards)
        for bin_id, count, size in after:
            if count > self.keep_per_bin or size > self.max_bytes_per_bin:
                self._evict_oldest(cursor, bin_id, count, size)
        return [
            Stored(ids[index], seqs[index], cast(BinResponse, answers[index]))
            for index in range(len(rows))
        ]

    def _next_ids(self, cursor: Any, count: int) -> list[int]:
        """Ids for ``count`` new rows, known before the insert so each answer can name its own.

        On SQLite the file lock plus ``BEGIN IMMEDIATE`` make this the only writer, so the next
        ids are known; AUTOINCREMENT's sequence guarantees an id is never handed out twice. On
        PostgreSQL they come from the id column's own sequence.
        """
        if self.is_sqlite:
            cursor.execute(NEXT_SQLITE_ID)
            first = int(cursor.fetchone()[0]) + 1
            return list(range(first, first + count))
        if self._id_sequence is None:
            cursor.execute("SELECT pg_get_serial_sequence('captured_request', 'id')")
            self._id_sequence = str(cursor.fetchone()[0])
        cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", (self._id_sequence, count))
        return [int(found[0]) for found in cursor.fetchall()]

    def _evict_oldest(self, cursor: Any, bin_id: str, count: int, size: int) -> None:
        """Delete a bin's oldest requests until it holds at most ``keep_per_bin`` of them and
        ``max_bytes_per_bin`` bytes of bodies; the newest request always stays."""
        boundary = 0
        after = 0
        while count > 1 and (count > self.keep_per_bin or size > self.max_bytes_per_bin):
            cursor.execute(
                self._oldest.sql, self._oldest.params({"bin_id": bin_id, "after": after})
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
            cursor.execute(
                self._evict.sql, self._evict.params({"bin_id": bin_id, "boundary": boundary})
            )
            cursor.execute(
                self._set_counters.sql,
                self._set_counters.params({"bin_id": bin_id, "count": count, "bytes": size}),
            )


def _is_alive(owner: weakref.ref[threading.Thread]) -> bool:
    thread = owner()
    return thread is not None and thread.is_alive()


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # closing during shutdown or after a failure must not mask the outcome
        pass
