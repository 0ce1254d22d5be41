"""The SQLite write lock: the one owner of "whose turn is it to write the SQLite file".

SQLite lets one connection write at a time. A writer that finds the file taken waits in SQLite's
busy handler, which sleeps in steps growing from 1 ms to 100 ms: that is where p99s of hundreds
of milliseconds came from when capture commits met each other or a background write. So every
write that can meet the capture path's commits takes this lock first, and a blocked writer wakes
the moment the holder lets go:

- an advisory ``flock`` on ``<database file>.writelock``, shared by every process on the host
  (one per open file description: each process opens its own, again after a fork);
- a mutex inside the process in front of it, because threads sharing one open file description
  would not exclude each other through ``flock``.

On PostgreSQL there is nothing to take: row locks order the writers (`WriteLock.none`).
`ElectionLock` is the non-blocking kind: at most one process of a host does a job (the text
indexer) while the others skip it. ``docs/concurrency.md`` lists every lock and thread.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO


class _ProcessFile:
    """A lock file opened once per process (re-opened after a fork: a child must not share the
    parent's open file description, or the two would not exclude each other)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._pid = -1
        self._file: IO[bytes] | None = None

    def get(self) -> IO[bytes]:
        if self._file is None or self._pid != os.getpid():
            self._file = open(self.path, "a+b")  # noqa: SIM115 - kept open for the process
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None


class WriteLock:
    """Turns for the writers of one SQLite file, across threads and processes."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._mutex = threading.Lock()
        self._file = _ProcessFile(path) if path else None

    @classmethod
    def none(cls) -> WriteLock:
        """The lock of a database that needs none (PostgreSQL)."""
        return cls(None)

    @classmethod
    def for_database(cls, dialect: str, database: str | None) -> WriteLock:
        """The lock for an engine: beside the SQLite file, or none."""
        if dialect == "sqlite" and database and database != ":memory:":
            return cls(f"{database}.writelock")
        return cls.none()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the turn for the body of the ``with`` (a short write: never wait inside it)."""
        if self._file is None:
            yield
            return
        with self._mutex:
            lock_file = self._file.get()
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def election(self, name: str) -> ElectionLock | None:
        """A non-blocking lock beside this one for a job one process at a time does (None on
        PostgreSQL, where the job elects itself with an advisory lock)."""
        return ElectionLock(f"{self.path}.{name}") if self.path else None

    def close(self) -> None:
        """Close this process's lock file (the lock is free: nothing holds it between writes)."""
        with self._mutex:
            if self._file is not None:
                self._file.close()


class ElectionLock:
    """Held by at most one process of the host at a time; the others are told at once."""

    def __init__(self, path: str) -> None:
        self.path = path

    @contextmanager
    def attempt(self) -> Iterator[bool]:
        """True inside the ``with`` when this process won, False when another holds it."""
        with open(self.path, "a+b") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
