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

SQL text and value conversion come from SQLAlchemy itself (statements compiled once for the
engine's dialect, each column type's own bind and result processors), so the rows are exactly
what the ORM would have written and read.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections import defaultdict
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import NamedTuple

from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Engine

from receiver.catalog.user_schemas import version_query
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest
from receiver.storage.models import ForwardJob

MAX_BATCH = 256
bins_table = Bin.__table__
requests_table = CapturedRequest.__table__
forward_table = ForwardJob.__table__


NEXT_SQLITE_ID = (
    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'captured_request'), 0),"
    " coalesce((SELECT max(id) FROM captured_request), 0))"
)


class BinGone(LookupError):
    """The bin was deleted between the lookup and the commit; nothing was stored."""


class StoreClosed(RuntimeError):
    """The store was closed: a connection opened now would never be closed."""


class _Pending:
    """A row waiting for a group commit, and its outcome."""

    __slots__ = ("row", "id", "error", "done")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.id: int | None = None
        self.error: Exception | None = None
        self.done = False

    def succeed(self, new_id: int) -> None:
        self.id, self.done = new_id, True

    def fail(self, error: Exception) -> None:
        self.error, self.done = error, True


class _Prepared(NamedTuple):
    """A batch converted for the driver before the write lock is taken."""

    rows: list[dict[str, Any]]
    inserts: list[Any]
    touches: list[tuple[str, Any]]


class IngestTarget(NamedTuple):
    """The bin settings the capture path needs."""

    id: str
    expires_at: datetime
    provider: str | None
    event: str | None
    strict_validation: bool
    response_status: int
    response_headers: list[list[str]]
    response_body: str | None
    response_delay_ms: int
    signature_scheme: str | None
    signature_secret: str | None
    signature_header: str | None
    forward_url: str | None


TARGET_COLUMNS = [bins_table.c[name] for name in IngestTarget._fields]
INSERT_COLUMNS = [
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
        self.processors = {
            name: processor
            for name, type_ in types.items()
            if (processor := type_.dialect_impl(dialect).bind_processor(dialect)) is not None
        }

    def params(self, values: dict[str, Any]) -> Any:
        converted = {
            name: (self.processors[name](value) if name in self.processors else value)
            for name, value in {**self.defaults, **values}.items()
        }
        if self.positional:
            return tuple(converted[name] for name in self.names)
        return converted


class CaptureStore:
    """Bin lookups and group-committed inserts for the ingest path of one app."""

    def __init__(self, engine: Engine, *, keep_per_bin: int, ttl_days: int) -> None:
        self.engine = engine
        self.keep_per_bin = keep_per_bin
        self.ttl = timedelta(days=ttl_days)
        self.is_sqlite = engine.dialect.name == "sqlite"
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
        self._compile()

    def _compile(self) -> None:
        dialect = self.engine.dialect
        self._lookup = CompiledStatement(
            self.engine,
            select(*TARGET_COLUMNS).where(bins_table.c.id == bindparam("bin_id")),
            {"bin_id": bins_table.c.id.type},
        )
        self._result_processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in TARGET_COLUMNS
        ]
        self._insert = CompiledStatement(
            self.engine,
            insert(requests_table)
            .values({name: bindparam(name) for name in INSERT_COLUMNS})
            .returning(requests_table.c.id),
            {name: requests_table.c[name].type for name in INSERT_COLUMNS},
        )
        self._schema_version = CompiledStatement(self.engine, version_query(), {})
        self._insert_with_id = CompiledStatement(
            self.engine,
            insert(requests_table).values(
                {name: bindparam(name) for name in ["id", *INSERT_COLUMNS]}
            ),
            {name: requests_table.c[name].type for name in INSERT_COLUMNS},
        )
        # sqlite's paramstyle is positional: where the id goes in each parameter tuple
        self._id_position = (
            self._insert_with_id.names.index("id") if self._insert_with_id.positional else 0
        )
        self._enqueue_forward = CompiledStatement(
            self.engine,
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
            self.engine,
            update(bins_table)
            .where(bins_table.c.id == bindparam("bin_id"))
            .values(
                request_count=bins_table.c.request_count + bindparam("added"),
                last_request_at=bindparam("last_request_at"),
                expires_at=bindparam("expires_at"),
            )
            .returning(bins_table.c.request_count),
            {
                "bin_id": bins_table.c.id.type,
                "last_request_at": bins_table.c.last_request_at.type,
                "expires_at": bins_table.c.expires_at.type,
            },
        )
        self._boundary = CompiledStatement(
            self.engine,
            select(requests_table.c.id)
            .where(requests_table.c.bin_id == bindparam("bin_id"))
            .order_by(requests_table.c.id.desc())
            .limit(1)
            .offset(bindparam("keep")),
            {"bin_id": requests_table.c.bin_id.type},
        )
        self._evict = CompiledStatement(
            self.engine,
            requests_table.delete().where(
                requests_table.c.bin_id == bindparam("bin_id"),
                requests_table.c.id <= bindparam("boundary"),
            ),
            {"bin_id": requests_table.c.bin_id.type},
        )
        self._set_count = CompiledStatement(
            self.engine,
            update(bins_table)
            .where(bins_table.c.id == bindparam("bin_id"))
            .values(request_count=bindparam("count")),
            {"bin_id": bins_table.c.id.type},
        )

    # -- connections ---------------------------------------------------------------------------

    def _new_connection(self, *, autocommit: bool, reader: bool = False) -> Any:
        """A DBAPI connection taken out of the engine's pool for good (pragmas applied).

        :raise StoreClosed: after `close` (a thread still serving a request when its server
            closed the app): nothing would ever close a connection opened then.
        """
        proxied = self.engine.raw_connection()
        proxied.detach()
        connection = proxied.dbapi_connection
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

    # -- lookup --------------------------------------------------------------------------------

    def lookup(self, bin_id: str, now: datetime) -> IngestTarget | None:
        """The bin's capture settings; None when it does not exist or has expired."""
        cursor = self._reader().cursor()
        try:
            cursor.execute(self._lookup.sql, self._lookup.params({"bin_id": bin_id}))
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        values = [
            processor(value) if processor is not None else value
            for processor, value in zip(self._result_processors, row, strict=True)
        ]
        target = IngestTarget(*values)
        if target.expires_at <= now:
            return None
        return target

    def user_schema_version(self) -> tuple[Any, ...]:
        """The user-schema table's change marker (see ``user_schemas.CatalogCache``)."""
        cursor = self._reader().cursor()
        try:
            cursor.execute(self._schema_version.sql, self._schema_version.params({}))
            return tuple(cursor.fetchone())
        finally:
            cursor.close()

    # -- group commit --------------------------------------------------------------------------

    def store(self, row: dict[str, Any]) -> int:
        """Commit ``row`` (captured_request columns) and return its id, once it is durable.

        Group commit without a writer thread: the first thread to find no commit under way
        becomes the leader and commits every row queued so far (its own included) in one
        transaction; the others wait, and those whose rows were not in that batch elect the next
        leader when it is done. A leader commits one batch, so no request waits on others' rows
        for more than one transaction.

        :raise BinGone: the bin no longer exists.
        :raise Exception: whatever the database raised for this row.
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
        assert entry.id is not None
        return entry.id

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
        """The leaders' shared connection and lock file (new ones after a fork)."""
        if self._writer is None or self._writer[0] != os.getpid():
            connection = self._new_connection(autocommit=False)
            lock_file = open(self.lock_path, "a+b") if self.lock_path else None  # noqa: SIM115
            self._writer = (os.getpid(), connection, lock_file)
        return self._writer[1], self._writer[2]

    def _commit_batch(self, batch: list[_Pending]) -> None:
        """Commit a batch; when it fails, retry row by row so one bad row fails alone."""
        try:
            connection, lock_file = self._writer_handles()
            ids = self._transaction(connection, lock_file, [entry.row for entry in batch])
        except Exception as error:
            if len(batch) == 1:
                batch[0].fail(self._translate(error))
                return
            for entry in batch:
                try:
                    connection, lock_file = self._writer_handles()
                    (new_id,) = self._transaction(connection, lock_file, [entry.row])
                except Exception as row_error:  # every waiter must get an answer
                    entry.fail(self._translate(row_error))
                else:
                    entry.succeed(new_id)
            return
        for entry, new_id in zip(batch, ids, strict=True):
            entry.succeed(new_id)

    def _translate(self, error: Exception) -> Exception:
        if "foreign key" in str(error).lower():
            return BinGone(str(error))
        return error

    def _transaction(
        self, connection: Any, lock_file: Any, rows: list[dict[str, Any]]
    ) -> list[int]:
        """Insert ``rows`` in one transaction; returns their ids in order.

        Every value is converted before the lock is taken: in a threaded worker the lock holder
        competes for the GIL, so only a few database calls may stand between lock and unlock.
        """
        prepared = self._prepare(rows)
        if lock_file is not None:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        cursor = connection.cursor()
        try:
            if self.is_sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            ids = self._write(cursor, prepared)
            if self.is_sqlite:
                cursor.execute("COMMIT")
            else:
                connection.commit()
            return ids
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
            if lock_file is not None:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _prepare(self, rows: list[dict[str, Any]]) -> _Prepared:
        """Driver-ready parameters for the inserts and the bins' counters."""
        statement = self._insert_with_id if self.is_sqlite else self._insert
        placeholder = {"id": 0} if self.is_sqlite else {}  # the real id is set under the lock
        inserts = [
            statement.params({**placeholder, **{name: row.get(name) for name in INSERT_COLUMNS}})
            for row in rows
        ]
        newest: dict[str, datetime] = {}
        counts: dict[str, int] = defaultdict(int)
        for row in rows:
            bin_id = row["bin_id"]
            counts[bin_id] += 1
            newest[bin_id] = max(newest.get(bin_id, row["received_at"]), row["received_at"])
        touches = [
            (
                bin_id,
                self._touch.params(
                    {
                        "bin_id": bin_id,
                        "added": added,
                        "last_request_at": newest[bin_id],
                        "expires_at": newest[bin_id] + self.ttl,
                    }
                ),
            )
            for bin_id, added in counts.items()
        ]
        return _Prepared(rows, inserts, touches)

    def _write(self, cursor: Any, prepared: _Prepared) -> list[int]:
        """Insert rows, queue their forwards, bump their bins, evict beyond the per-bin limit."""
        if self.is_sqlite:
            ids = self._insert_sqlite(cursor, prepared.inserts)
        else:
            ids = []
            for params in prepared.inserts:
                cursor.execute(self._insert.sql, params)
                ids.append(int(cursor.fetchone()[0]))
        forwards = [
            self._enqueue_forward.params(
                {
                    "request_id": new_id,
                    "bin_id": row["bin_id"],
                    "url": row["forward_url"],
                    "status": "pending",
                    "attempts": 0,
                    "now": row["received_at"],
                }
            )
            for row, new_id in zip(prepared.rows, ids, strict=True)
            if row.get("forward_url")
        ]
        if forwards:
            # queued in the capture's own transaction: a forward can never be lost in between
            cursor.executemany(self._enqueue_forward.sql, forwards)
        for bin_id, params in prepared.touches:
            cursor.execute(self._touch.sql, params)
            touched = cursor.fetchone()
            if touched is None:
                raise BinGone(bin_id)
            if touched[0] > self.keep_per_bin:
                self._evict_oldest(cursor, bin_id)
        return ids

    def _insert_sqlite(self, cursor: Any, inserts: list[Any]) -> list[int]:
        """One ``executemany`` with ids assigned here: the loop runs in C, inside the lock.

        The file lock plus ``BEGIN IMMEDIATE`` make this the only writer, so the next ids are
        known; AUTOINCREMENT's sequence guarantees an id is never handed out twice.
        """
        cursor.execute(NEXT_SQLITE_ID)
        first = int(cursor.fetchone()[0]) + 1
        at = self._id_position
        cursor.executemany(
            self._insert_with_id.sql,
            [
                (*params[:at], first + offset, *params[at + 1 :])
                for offset, params in enumerate(inserts)
            ],
        )
        return list(range(first, first + len(inserts)))

    def _evict_oldest(self, cursor: Any, bin_id: str) -> None:
        """Keep the newest ``keep_per_bin`` requests of a bin."""
        cursor.execute(
            self._boundary.sql, self._boundary.params({"bin_id": bin_id, "keep": self.keep_per_bin})
        )
        boundary = cursor.fetchone()
        if boundary is not None:
            cursor.execute(
                self._evict.sql, self._evict.params({"bin_id": bin_id, "boundary": boundary[0]})
            )
        cursor.execute(
            self._set_count.sql,
            self._set_count.params({"bin_id": bin_id, "count": self.keep_per_bin}),
        )


def _is_alive(owner: weakref.ref[threading.Thread]) -> bool:
    thread = owner()
    return thread is not None and thread.is_alive()


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # closing during shutdown must not mask the real outcome
        pass
