"""Group commit: one writer thread per process stores captured requests in shared transactions.

Why: SQLite lets one writer in at a time, and writers that collide wait in growing sleeps (up to
100 ms each), which is where capture p99s of hundreds of milliseconds come from. Here every
request thread hands its row to the process's writer and waits; the writer takes everything that
queued up meanwhile, inserts it in one transaction, commits, and only then wakes the waiters. A
request is answered 2xx only after its own row is committed, so nothing answered is lost, and a
busy process makes few, large commits instead of many small colliding ones.

On PostgreSQL the same batching saves round trips and fsyncs.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import defaultdict
from concurrent.futures import Future
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import and_
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from .models import Bin
from .models import CapturedRequest

MAX_BATCH = 256
requests_table = CapturedRequest.__table__
bins_table = Bin.__table__


class BinGone(LookupError):
    """The bin was deleted between the lookup and the commit; nothing was stored."""


class CaptureWriter:
    """Commits captured rows in batches from a single background thread of this process."""

    def __init__(self, engine: Engine, *, keep_per_bin: int, ttl_days: int) -> None:
        self.engine = engine
        self.keep_per_bin = keep_per_bin
        self.ttl = timedelta(days=ttl_days)
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], Future[int]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self.batches = 0

    def store(self, row: dict[str, Any], timeout: float = 30.0) -> int:
        """Commit ``row`` and return its id; blocks until the row is durable.

        :raise BinGone: the bin no longer exists.
        :raise Exception: whatever the database raised for this row.
        """
        self._ensure_thread()
        future: Future[int] = Future()
        self._queue.put((row, future))
        return future.result(timeout=timeout)

    def close(self) -> None:
        """Stop the writer thread after it has committed what is queued."""
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            self._queue.put(None)
            thread.join(timeout=10)
        self._thread = None

    def _ensure_thread(self) -> None:
        # after a fork (gunicorn --preload) the parent's thread does not exist in the child
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="receiver-capture-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[dict[str, Any], Future[int]]]) -> None:
        """Commit a batch; on failure, retry row by row so one bad row fails alone."""
        try:
            with self.engine.begin() as connection:
                ids = self._insert(connection, [row for row, _ in batch])
            self.batches += 1
        except Exception:
            if len(batch) == 1:
                self._commit_one(*batch[0])
                return
            for row, future in batch:
                self._commit_one(row, future)
            return
        for (_, future), new_id in zip(batch, ids, strict=True):
            future.set_result(new_id)

    def _commit_one(self, row: dict[str, Any], future: Future[int]) -> None:
        try:
            with self.engine.begin() as connection:
                (new_id,) = self._insert(connection, [row])
        except IntegrityError as error:
            future.set_exception(BinGone(str(row.get("bin_id"))) if _is_fk(error) else error)
        except Exception as error:  # every waiter must be woken, whatever failed
            future.set_exception(error)
        else:
            future.set_result(new_id)

    def _insert(self, connection: Connection, rows: list[dict[str, Any]]) -> list[int]:
        """Insert rows, bump their bins' counters and expiry, evict beyond the per-bin limit."""
        result = connection.execute(
            insert(requests_table).returning(requests_table.c.id, sort_by_parameter_order=True),
            rows,
        )
        ids = [row_id for (row_id,) in result]
        newest: dict[str, datetime] = {}
        counts: dict[str, int] = defaultdict(int)
        for row in rows:
            counts[row["bin_id"]] += 1
            seen = newest.get(row["bin_id"], row["received_at"])
            newest[row["bin_id"]] = max(seen, row["received_at"])
        for bin_id, added in counts.items():
            count = connection.execute(
                update(bins_table)
                .where(bins_table.c.id == bin_id)
                .values(
                    request_count=bins_table.c.request_count + added,
                    last_request_at=newest[bin_id],
                    expires_at=newest[bin_id] + self.ttl,
                )
                .returning(bins_table.c.request_count)
            ).scalar_one()
            if count > self.keep_per_bin:
                self._evict(connection, bin_id)
        return ids

    def _evict(self, connection: Connection, bin_id: str) -> None:
        """Keep the newest ``keep_per_bin`` requests of a bin."""
        boundary = connection.execute(
            select(requests_table.c.id)
            .where(requests_table.c.bin_id == bin_id)
            .order_by(requests_table.c.id.desc())
            .offset(self.keep_per_bin - 1)
            .limit(1)
        ).scalar()
        if boundary is None:
            return
        connection.execute(
            delete(requests_table).where(
                and_(requests_table.c.bin_id == bin_id, requests_table.c.id < boundary)
            )
        )
        connection.execute(
            update(bins_table)
            .where(bins_table.c.id == bin_id)
            .values(request_count=self.keep_per_bin)
        )


def _is_fk(error: IntegrityError) -> bool:
    """True when the database refused the row because its bin no longer exists."""
    return "foreign key" in str(error.orig).lower()
