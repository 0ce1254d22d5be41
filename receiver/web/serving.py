"""The server boundary: how receiver is served, and the request as the server parsed it.

WSGI hands an application one ``HTTP_*`` key per header name: both Werkzeug's dev server and
gunicorn join repeated headers with commas, and both drop names containing an underscore. The
contract needs the ordered list of pairs with duplicates, exactly as sent, so each server gives
it to us here:

- Werkzeug's dev server: ``RawHeaderRequestHandler`` adds the parsed header list (original case,
  order, duplicates) to the environ as ``receiver.raw_headers``.
- gunicorn: the ``pre_request`` hook keeps the parsed request in a thread-local; the request is
  served by the same thread right after the hook, so the ingest view reads it back and checks it
  is the same request. gunicorn's parser upper-cases names (``gunicorn/http/message.py``), so
  receiver's worker class parses with `CaseKeepingRequest`, which recovers each name as sent
  from the head's own bytes; ``header_map = "dangerous"`` keeps underscore names.
- Anything else (the test client, another server): the environ is rebuilt into pairs, marked as
  not exact.

`serve` runs gunicorn with these settings and hooks (``receiver serve``); ``gunicorn.conf.py``
exposes the same ones to a plain ``gunicorn -c gunicorn.conf.py app:app``.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.config import Config
from gunicorn.http.errors import InvalidHeader
from gunicorn.http.errors import UnsupportedTransferCoding
from gunicorn.http.message import Request
from gunicorn.http.parser import RequestParser
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.serving import WSGIRequestHandler

from receiver.capture.feed import client_stays
from receiver.web.deadlines import start_request
from receiver.web.services import services

RAW_HEADERS_KEY = "receiver.raw_headers"
# how long a thread waits for the next request of a kept-alive connection before handing it back
LINGER_SECONDS = 0.01
WORKER_CLASS = "receiver.web.serving.CaseKeepingWorker"
_gunicorn_local = threading.local()


class RawHeaderRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, plus the unfolded header list in the environ."""

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ[RAW_HEADERS_KEY] = [(str(k), str(v)) for k, v in self.headers.raw_items()]
        return environ


# -- gunicorn: header names as sent ------------------------------------------------------------


class CaseKeepingRequest(Request):
    """gunicorn's request, with header names restored to the case they were sent in.

    gunicorn's parser upper-cases each name; the order, the values and the repeats are exact.
    It hands the head's header block to ``parse_headers``: that block is kept, and each parsed
    name takes back its original spelling from the raw header line it came from, in
    ``headers_as_sent`` (``headers`` stays upper-cased: gunicorn's WSGI layer relies on it).
    The worker runs gunicorn's Python parser (``http_parser = "python"``), the one that calls
    ``parse_headers``.
    """

    def __init__(self, cfg: Any, unreader: Any, peer_addr: Any, req_number: int = 1) -> None:
        start_request(unreader)  # the request's read deadline (web.deadlines)
        self._header_block = b""
        super().__init__(cfg, unreader, peer_addr, req_number)
        self.headers_as_sent = restore_case(self.headers, self._header_block)
        self._header_block = b""

    def parse_headers(self, data: bytes, from_trailer: bool = False) -> list[tuple[str, str]]:
        if not from_trailer:
            self._header_block = data
        headers: list[tuple[str, str]] = super().parse_headers(data, from_trailer)
        return headers

    def _peer_is_trusted_proxy(self) -> bool:
        """gunicorn's answer (the peer in ``forwarded_allow_ips``), once per peer address: it
        parses the address and walks the networks for every request otherwise."""
        peer = self.peer_addr
        if not isinstance(peer, tuple):
            return True
        trusted = _trusted_peers.get(peer[0])
        if trusted is None:
            trusted = bool(super()._peer_is_trusted_proxy())
            if len(_trusted_peers) >= TRUSTED_PEERS_KEPT:
                _trusted_peers.clear()
            _trusted_peers[peer[0]] = trusted
        return trusted


# forwarded_allow_ips is fixed for a worker's life: each peer address is judged once
TRUSTED_PEERS_KEPT = 4096
_trusted_peers: dict[str, bool] = {}


class SettledConfig(Config):
    """gunicorn's settings in a worker, where they no longer change: each one is looked up
    through ``Config.__getattr__`` once and then kept as a plain attribute (gunicorn reads a
    few dozen settings per request, each through that method otherwise)."""

    def __getattr__(self, name: str) -> Any:
        value = super().__getattr__(name)
        self.__dict__[name] = value  # past Config.__setattr__, which refuses setting names
        return value


class _SecondDate:
    """gunicorn's ``util.http_date`` for the answers of this process, worked out once a second
    (email.utils.formatdate for every answer is a few percent of a request)."""

    def __init__(self, stock: Any, clock: Callable[[], float] = time.time) -> None:
        self.stock = stock
        self.clock = clock
        self.last: tuple[int, str] = (-1, "")

    def __call__(self, timestamp: float | None = None) -> str:
        if timestamp is not None:
            return str(self.stock(timestamp))
        now = int(self.clock())
        second, text = self.last
        if second != now:
            text = str(self.stock(now))
            self.last = (now, text)
        return text


def raw_header_names(block: bytes) -> list[str]:
    """The header names of a head's header block as sent (Latin-1, as gunicorn decodes them)."""
    names = []
    for line in block.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):  # an obsolete continuation line carries no name
            continue
        name, colon, _ = line.partition(b":")
        if colon:
            names.append(name.rstrip(b" \t").decode("latin-1"))
    return names


def restore_case(parsed: list[tuple[str, str]], block: bytes) -> list[tuple[str, str]]:
    """``parsed`` (upper-cased names, in order) with each name spelled as in ``block``.

    Names are matched in order; a parsed name with no raw counterpart keeps its parsed form.
    """
    raw = raw_header_names(block)
    if len(raw) == len(parsed) and all(
        name.upper() == upper for name, (upper, _) in zip(raw, parsed, strict=True)
    ):
        return [(name, value) for name, (_, value) in zip(raw, parsed, strict=True)]
    restored = []
    at = 0
    for name, value in parsed:
        for index in range(at, len(raw)):
            if raw[index].upper() == name:
                name, at = raw[index], index + 1
                break
        restored.append((name, value))
    return restored


class _CaseKeepingParser(RequestParser):
    """gunicorn's HTTP/1.x parser, building `CaseKeepingRequest` messages."""

    mesg_class = CaseKeepingRequest


class HoldingPool(ThreadPoolExecutor):
    """gthread's request threads, one more for each long poll being held.

    A held poll waits on a thread of the pool for as long as its bin is quiet; without this,
    every held poll would be a thread fewer for the senders. `hold` is the change feed's
    ``holding``: a thread is added on the next hand-over that finds none idle, and threads
    stay once made, so the pool never has fewer threads for senders than before the polls.
    """

    def hold(self, change: int) -> None:
        with self._shutdown_lock:
            self._max_workers += change


class CaseKeepingWorker(ThreadWorker):
    """gunicorn's gthread worker whose HTTP/1.x requests keep their header names as sent, and
    whose threads stay a moment with a busy kept-alive connection.

    gthread builds each connection's parser through ``gunicorn.http.get_parser``; in this
    worker process that parser's message class is `CaseKeepingRequest`.

    After each answer gthread hands a kept-alive connection back to its main thread, which
    watches it and hands it to a thread again when the next request comes: per request, a trip
    through the main thread, two thread-pool hand-overs and four system calls. A sender that
    keeps its connection busy (a load test, a provider's burst, a CI suite) has the next request
    ready at once, so the thread waits ``LINGER_SECONDS`` for it first and serves it itself.
    """

    def init_process(self) -> None:
        RequestParser.mesg_class = _CaseKeepingParser.mesg_class
        if not isinstance(gunicorn_util.http_date, _SecondDate):
            gunicorn_util.http_date = _SecondDate(gunicorn_util.http_date)
        if type(self.cfg) is Config:
            self.cfg.__class__ = SettledConfig
        super().init_process()

    def get_thread_pool(self) -> HoldingPool:
        return HoldingPool(max_workers=self.cfg.threads)

    def load_wsgi(self) -> None:
        super().load_wsgi()
        if isinstance(self.wsgi, Flask) and isinstance(self.tpool, HoldingPool):
            services(self.wsgi).feed.holding = self.tpool.hold

    def handle(self, conn: Any) -> Any:
        """Serve requests of ``conn`` while the next one arrives within the linger time, and no
        other connection waits for a thread (then this one goes back to the main thread too,
        so that a few busy senders cannot keep the others waiting)."""
        keep = super().handle(conn)
        while (
            keep is True
            and self.alive
            and not conn.is_http2
            and not self._others_wait()
            and _next_request_soon(conn)
        ):
            keep = super().handle(conn)
        return keep

    def _others_wait(self) -> bool:
        """Whether connections are queued for a thread of the pool."""
        queue = getattr(self.tpool, "_work_queue", None)
        return queue is not None and queue.qsize() > 0

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """A transfer coding gunicorn does not know is the sender's error: 400, not gunicorn's
        501 (senders retry a 5xx; this request will never be understood)."""
        if isinstance(exc, UnsupportedTransferCoding):
            exc = InvalidHeader("Transfer-Encoding")
        super().handle_error(req, client, addr, exc)

    def handle_exit(self, sig: int, frame: Any) -> None:
        """Stopping: long polls answer now rather than hold the graceful shutdown."""
        super().handle_exit(sig, frame)
        app = getattr(self, "wsgi", None)
        if isinstance(app, Flask):
            services(app).feed.close()


def _next_request_soon(conn: Any) -> bool:
    """True when the connection has (or within ``LINGER_SECONDS`` gets) bytes to read."""
    if conn.parser.unreader.buf.getvalue():
        return True  # read ahead already (a pipelined request)
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(LINGER_SECONDS * 1000))


def pre_request(worker: Any, req: Any) -> None:
    """gunicorn hook: remember the parsed request for the thread that is about to serve it."""
    _gunicorn_local.request = req


def _gunicorn_request(environ: dict[str, Any]) -> Any:
    """The request gunicorn parsed for ``environ`` (None under another server)."""
    req = getattr(_gunicorn_local, "request", None)
    if (
        req is not None
        and environ.get("SERVER_SOFTWARE", "").startswith("gunicorn")
        and getattr(req, "uri", None) == environ.get("RAW_URI")
        and getattr(req, "method", None) == environ.get("REQUEST_METHOD")
    ):
        return req
    return None


def raw_headers(environ: dict[str, Any]) -> tuple[list[tuple[str, str]], bool]:
    """The request's header pairs in arrival order, and whether they are exact."""
    pairs = environ.get(RAW_HEADERS_KEY)
    if pairs is not None:
        return list(pairs), True
    req = _gunicorn_request(environ)
    if req is not None:
        _gunicorn_local.request = None
        return getattr(req, "headers_as_sent", req.headers), True
    return headers_from_environ(environ), False


def close_after_answer(environ: dict[str, Any]) -> None:
    """Have gunicorn close the connection after this answer, and its ``Connection`` header say
    so (it drops an application's own ``Connection: close`` and writes ``keep-alive``).

    For an answer given before the request's body was read to its end: where the next request
    starts is unknown. Call it before the answer starts, and before `raw_headers`.
    """
    req = _gunicorn_request(environ)
    if req is not None:
        req.must_close = True


def client_left(environ: dict[str, Any]) -> Callable[[], bool]:
    """A check of whether the client of a request still being served has closed its connection
    (a long poll whose listener was stopped: nobody would read the answer).

    The request's socket is peeked at without blocking: its end of stream means the client left.
    A TLS socket cannot be peeked at, and a server may give no socket at all: then the check
    never says so, and the request ends at its own time as before.
    """
    connection = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if not isinstance(connection, socket.socket) or isinstance(connection, ssl.SSLSocket):
        return client_stays
    peek = socket.MSG_PEEK | socket.MSG_DONTWAIT

    def left() -> bool:
        try:
            return connection.recv(1, peek) == b""
        except BlockingIOError:  # nothing sent, the connection open
            return False
        except OSError:  # reset, or closed under the request
            return True

    return left


def headers_from_environ(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """Best effort when the server gave nothing better: rebuild pairs from WSGI keys."""
    pairs: list[tuple[str, str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            name = key.replace("_", "-").title()
        else:
            continue
        pairs.append((name, str(value)))
    return pairs


def raw_query(environ: dict[str, Any]) -> str:
    """The query string as sent, from the raw request target when the server keeps it."""
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if target and "?" in target:
        return target.split("?", 1)[1].split("#", 1)[0]
    return environ.get("QUERY_STRING", "")


def start_background_work(app: Flask) -> None:
    """Start the threads of a serving process (``Services.start``)."""
    services(app).start()


# -- serving -------------------------------------------------------------------------------------


def gunicorn_settings(config: dict[str, Any]) -> dict[str, Any]:
    """gunicorn's settings for receiver, from the app's settings table."""
    return {
        "bind": [config["RECEIVER_BIND"]],
        "worker_class": WORKER_CLASS,
        "workers": config["RECEIVER_WORKERS"],
        # the RECEIVER_FEED_WAITERS threads for the change feed's long polls (receiver listen,
        # web.api.feed) serve senders while no poll is held, and each held poll adds a thread
        # of its own (HoldingPool): listeners never leave senders fewer threads
        "threads": config["RECEIVER_THREADS"] + config["RECEIVER_FEED_WAITERS"],
        # webhook senders put long signed query strings in URLs: gunicorn's largest bounded line
        "limit_request_line": 8190,
        # keep header names that contain an underscore: a capture tool must show what was sent
        "header_map": "dangerous",
        # the parser that hands the raw header block to CaseKeepingRequest.parse_headers
        "http_parser": "python",
        # the live inspector polls; keep-alive saves a handshake per poll
        "keepalive": 5,
        # the runtime control socket (gunicorn 25+) is not used; parallel servers would share it
        "control_socket_disable": True,
        "accesslog": config["RECEIVER_ACCESS_LOG"] or None,
        "on_starting": on_starting,
        "post_worker_init": post_worker_init,
        "pre_request": pre_request,
    }


AUTOVACUUM_OFF = (
    "PostgreSQL runs with autovacuum off: every capture updates its bin's row and queues it "
    "for the text index, and without vacuum their dead row versions pile up, so each capture "
    "costs the database more than the last. Turn autovacuum on (PostgreSQL's default), or "
    "VACUUM the bin, captured_request and search_queue tables often."
)


def on_starting(server: Any) -> None:
    """gunicorn hook: create or upgrade the tables once, in the master, before any worker, and
    warn of a PostgreSQL server that runs without autovacuum."""
    from receiver import create_app
    from receiver.storage.db import autovacuum_is_off
    from receiver.storage.db import db
    from receiver.storage.migrate import prepare_database

    app = create_app({"RECEIVER_FORWARD_WORKER": False})
    try:
        prepare_database(app)
        with app.app_context():
            if autovacuum_is_off(db.engine):
                server.log.warning(AUTOVACUUM_OFF)
    finally:
        close_app(app)


def post_worker_init(worker: Any) -> None:
    """gunicorn hook: each worker forwards captured requests in a thread of its own."""
    start_background_work(worker.wsgi)


def close_app(app: Flask) -> None:
    """Stop the app's threads and close its connections (a server that is done with it)."""
    services(app).close()


class ReceiverApplication(BaseApplication):
    """gunicorn serving receiver's app with receiver's settings: what ``receiver serve`` runs."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.settings.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        from receiver import create_app

        return create_app()


def serve(config: dict[str, Any], **overrides: Any) -> None:
    """Run the production server until it is stopped (``overrides`` are gunicorn settings)."""
    if "threads" in overrides:  # request threads, as RECEIVER_THREADS: the feed's come on top
        overrides["threads"] += config["RECEIVER_FEED_WAITERS"]
    ReceiverApplication({**gunicorn_settings(config), **overrides}).run()


def run_dev_server(app: Flask) -> None:
    """Werkzeug's development server on ``RECEIVER_BIND``, keeping raw headers."""
    from receiver.storage.migrate import prepare_database

    host, _, port = app.config["RECEIVER_BIND"].rpartition(":")
    prepare_database(app)
    start_background_work(app)
    app.run(
        host=host or "127.0.0.1",
        port=int(port),
        request_handler=RawHeaderRequestHandler,
        threaded=True,
    )
