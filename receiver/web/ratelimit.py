"""Ingest rate limits per bin and per client address, shared by the server processes of a host.

Why a memory-mapped file: gunicorn's workers share nothing, and a sender on one kept-alive
connection always lands on the same worker, so a limit kept per process (or divided by the
worker count) is either several times too generous or several times too strict. A row in the
database would be exact across hosts, but it would add a write to every capture, the hot path.
A small table in a file under the instance folder, updated under a file lock, is exact for every
worker of one host at the cost of a few system calls per request (only when a limit is set);
several hosts behind a load balancer each apply the limit on their own.

Each key (``bin:<id>``, ``client:<address>``) holds one number: its theoretical arrival time in
the generic cell rate algorithm (GCRA), a token bucket of ``rate`` requests per second that
holds at most ``rate`` requests at once. A slot whose time has passed is a full bucket, the same
as no slot, so slots are reused freely; when every probed slot is busy the least loaded one is
taken over (its key starts again from a full bucket). IPv6 clients are keyed by their /64, the
block a single host usually holds.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import mmap
import os
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

SLOTS = 8192
PROBES = 8
# float slack, so a burst of exactly ``rate`` requests passes (thirds do not add up exactly)
_EPSILON = 1e-9
_SLOT = struct.Struct("<Qd")  # key hash (0 = empty), theoretical arrival time (Unix seconds)


def client_key(address: str | None) -> str:
    """The key of a client address: IPv4 as is, IPv6 by its /64 network."""
    text = address or "unknown"
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return "client:" + text
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return "client:" + str(parsed.ipv4_mapped)
        return "client:" + str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return "client:" + str(parsed)


def _hash(key: str) -> int:
    value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    return value or 1


class RateTable:
    """GCRA buckets in a file every process of the host maps (opened lazily, once per process)."""

    def __init__(self, path: str | os.PathLike[str], clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self._opened: tuple[int, int, mmap.mmap] | None = None  # (pid, fd, map)

    def _handles(self) -> tuple[int, mmap.mmap]:
        if self._opened is None or self._opened[0] != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            size = SLOTS * _SLOT.size
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)  # zero-filled: every slot empty
            self._opened = (os.getpid(), fd, mmap.mmap(fd, size))
        return self._opened[1], self._opened[2]

    def take(self, key: str, rate: int) -> float:
        """Count one request for ``key``; 0.0 when allowed, else the seconds until one would be."""
        interval = 1.0 / rate
        tolerance = (rate - 1) * interval  # a burst of ``rate`` requests at once
        wanted = _hash(key)
        with self._lock:
            fd, table = self._handles()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                now = self.clock()
                offset, arrival = self._find(table, wanted, now)
                # a time further ahead than any request could have pushed it is stale (the
                # clock moved back, or the rate was lowered): start from a full bucket
                if arrival < now or arrival > now + tolerance + interval + _EPSILON:
                    arrival = now
                if arrival - now > tolerance + _EPSILON:
                    return arrival - now - tolerance
                _SLOT.pack_into(table, offset, wanted, arrival + interval)
                return 0.0
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    @staticmethod
    def _find(table: mmap.mmap, wanted: int, now: float) -> tuple[int, float]:
        """The slot of ``wanted`` (offset, its time), or a slot to take over (time ``now``)."""
        spare: tuple[float, int] | None = None
        for probe in range(PROBES):
            offset = ((wanted + probe) % SLOTS) * _SLOT.size
            key, arrival = _SLOT.unpack_from(table, offset)
            if key == wanted:
                return offset, arrival
            # an empty or idle slot first, else the one whose bucket is the fullest
            load = -1.0 if key == 0 or arrival <= now else arrival
            if spare is None or load < spare[0]:
                spare = (load, offset)
        assert spare is not None
        return spare[1], now

    def close(self) -> None:
        """Unmap and close the file (this process's handles)."""
        with self._lock:
            if self._opened is not None and self._opened[0] == os.getpid():
                self._opened[2].close()
                os.close(self._opened[1])
            self._opened = None
