"""A deadline for reading each request from its sender, under gunicorn.

gunicorn's threaded worker reads a request's head and body with blocking ``recv`` calls and no
timeout once the first byte has arrived: a sender that stops half-way, or trickles a byte now and
then, holds a request thread for as long as it likes, and a handful of them stop a server.
Bounding each ``recv`` alone is not enough (a byte every few seconds renews it), so every
request gets one deadline, ``RECEIVER_READ_TIMEOUT`` seconds after its first byte, for its head
and its body together; each ``recv`` waits at most for the time that is left.

A fixed deadline would also cut a large body that is arriving steadily (10 MiB needs 350 KiB/s
to arrive in 30 s), so what arrives earns time: one more second for every `EARNED_PER_SECOND`
bytes, as Apache's mod_reqtimeout does with its ``MinRate``. A trickle earns next to nothing.
And what has already arrived is always taken: a thread that waited for the CPU past the deadline
is no sign of a slow sender, only a sender that leaves the server waiting is.

How: gunicorn's HTTP/1.x parser reads through its unreader's ``sock.recv``. receiver's worker
(``web.serving``) calls `start_request` for every request it parses; the unreader's socket is
then a `DeadlineSocket` (installed once per connection) whose deadline is renewed. A sender past
it gets `SlowSender`: during the head gunicorn closes the connection quietly (it is a
``NoMoreData``); during the body the app answers 408 (``web.ingest``, ``web.errors``) and closes.
"""

from __future__ import annotations

import functools
import os
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from gunicorn.http.errors import NoMoreData

from receiver.config import SETTINGS

READ_TIMEOUT_SETTING = "RECEIVER_READ_TIMEOUT"
# bytes that earn a sender one more second: a 10 MiB body arriving at 64 KiB/s (half a megabit)
# is never cut, and a thread held that way costs its sender real bandwidth
EARNED_PER_SECOND = 64 * 1024


class SlowSender(NoMoreData):
    """The request did not arrive within its read deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def __str__(self) -> str:
        return (
            f"the request did not arrive in time ({self.seconds:g} s from its first byte, "
            f"and a second more for every {EARNED_PER_SECOND // 1024} KiB received)"
        )


@functools.cache
def read_timeout() -> float:
    """Seconds a sender has for one request (the setting, read once per process)."""
    setting = next(s for s in SETTINGS if s.name == READ_TIMEOUT_SETTING)
    raw = os.environ.get(setting.env)
    return float(setting.parse(raw) if raw else setting.default)


class DeadlineSocket:
    """A socket whose ``recv`` never waits past the current request's deadline.

    Everything else is the socket's own. A timeout the caller set itself (gunicorn's drain of an
    unread body sets one) is kept when it is the shorter wait.
    """

    def __init__(
        self, sock: Any, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._sock = sock
        # a TLS socket takes no recv flags
        self._plain = not isinstance(sock, ssl.SSLSocket)
        self._clock = clock
        self.renew(seconds)

    def renew(self, seconds: float) -> None:
        """A request begins: its deadline is ``seconds`` from now."""
        self.seconds = seconds
        self.deadline = self._clock() + seconds

    def recv(self, size: int, *flags: int) -> bytes:
        """Receive, waiting at most until the deadline; what arrives moves it later.

        :raise SlowSender: the deadline passed before any byte came.
        """
        if not flags and self._plain:
            # what has arrived already is taken without arming a timeout (most reads: a request
            # on a kept-alive connection is handed over once its bytes are there), and even
            # past the deadline: the sender kept up, this thread did not
            try:
                return self._earning(self._sock.recv(size, socket.MSG_DONTWAIT))
            except BlockingIOError:
                pass
        left = self.deadline - self._clock()
        if left <= 0:
            raise SlowSender(self.seconds)
        outer = self._sock.gettimeout()
        if outer is not None and outer <= left:
            return self._earning(self._sock.recv(size, *flags))
        self._sock.settimeout(left)
        try:
            return self._earning(self._sock.recv(size, *flags))
        except TimeoutError:
            raise SlowSender(self.seconds) from None
        finally:
            self._sock.settimeout(outer)

    def _earning(self, received: bytes) -> bytes:
        self.deadline += len(received) / EARNED_PER_SECOND
        return received

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def start_request(unreader: Any) -> None:
    """A request begins on this connection: its deadline starts now."""
    sock = getattr(unreader, "sock", None)
    if sock is None:
        return
    seconds = read_timeout()
    if isinstance(sock, DeadlineSocket):
        sock.renew(seconds)
    else:
        unreader.sock = DeadlineSocket(sock, seconds)
