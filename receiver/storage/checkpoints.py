"""SQLite's WAL checkpoints, run by a thread of each serving process instead of by a capture.

In WAL mode a commit appends the pages it changed to the write-ahead log, and once the log holds
``wal_autocheckpoint`` pages (1,000 by default) the connection that commits next copies them back
into the database file, with two fsyncs, before its commit returns. On the capture path that
connection holds the host's write lock (``storage.writelock``): every capture of every process
waits for the copy, which is where a bin's slowest answers came from.

So the capture store's writer leaves checkpoints to `Checkpointer` (its own automatic limit is
raised to ``WRITER_AUTOCHECKPOINT`` pages, a safety net only), and the checkpointer copies the
log back every ``INTERVAL`` seconds after commits, ``PASSIVE``: it never takes a lock that a
writer waits for, and writers go on while it copies. Several processes may run one each; a
checkpoint that finds another under way simply does less.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)
INTERVAL = 0.25
# the capture writer's own automatic checkpoint, should the checkpointer fall behind (80 MiB)
WRITER_AUTOCHECKPOINT = 20_000


class Checkpointer:
    """A daemon thread that checkpoints the SQLite file's log after commits of this process."""

    def __init__(self, engine: Engine, interval: float = INTERVAL) -> None:
        self.engine = engine
        self.interval = interval
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def notify(self, committed: Any = None) -> None:
        """Pages were written to the log (called after each capture commit)."""
        self._dirty.set()

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self.run, name="receiver-checkpoints", daemon=True
            )
            self._thread.start()

    def run(self) -> None:
        """Checkpoint after commits, at most every ``interval`` seconds, until stopped."""
        while not self._stop.is_set():
            self._dirty.wait()
            if self._stop.is_set():
                return
            self._dirty.clear()
            try:
                self.checkpoint()
            except Exception:  # a checkpoint that fails now is done by the next one
                log.warning("checkpoint failed; trying again later", exc_info=True)
            self._stop.wait(self.interval)

    def checkpoint(self) -> tuple[int, int, int]:
        """One passive checkpoint: (busy, pages in the log, pages copied back)."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            row: Any = cursor.fetchone()
            cursor.close()
            return int(row[0]), int(row[1]), int(row[2])
        finally:
            connection.close()

    def stop(self) -> None:
        """Stop the thread (SQLite checkpoints what is left when the last connection closes)."""
        self._stop.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
