"""receiver's server boundary (receiver/web/serving.py, receiver/web/deadlines.py) subclasses
gunicorn's internals: its request class and parser, its threaded worker, its socket reader, its
errors, its settings. None of that is gunicorn's public API, and a release may move any of it.
pyproject pins the gunicorn versions this was tested with; these tests fail, naming what moved,
on a gunicorn whose internals are not where receiver expects them (before a server that starts
and then mangles every request's headers).
"""

from __future__ import annotations

import inspect
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gunicorn
import gunicorn.http.wsgi
import gunicorn.util
import pytest
from clocks import NEVER_SECONDS
from gunicorn import http
from gunicorn.config import Config
from gunicorn.http import errors
from gunicorn.http.message import Request
from gunicorn.http.parser import RequestParser
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers.gthread import ThreadWorker

from receiver import config
from receiver.web import serving
from receiver.web.deadlines import DeadlineSocket
from receiver.web.deadlines import start_request

MOVED = (
    f"gunicorn {gunicorn.__version__} is not the gunicorn receiver's server boundary was written "
    "against (receiver/web/serving.py, receiver/web/deadlines.py): install the version pyproject "
    "pins, or adapt those modules to it. What moved:"
)


def parameters(owner: Any, name: str) -> list[str] | None:
    """The parameter names of ``owner.name``; None when it is not there."""
    found = getattr(owner, name, None)
    return None if found is None else list(inspect.signature(found).parameters)


def expect(checks: list[tuple[bool, str]]) -> None:
    moved = [what for ok, what in checks if not ok]
    assert not moved, "\n".join([MOVED, *(f"- {what}" for what in moved)])


def test_the_classes_and_signatures_receiver_subclasses_are_where_it_expects_them() -> None:
    expect(
        [
            (
                (parameters(Request, "__init__") or [])[:5]
                == ["self", "cfg", "unreader", "peer_addr", "req_number"],
                "gunicorn.http.message.Request(cfg, unreader, peer_addr, req_number): "
                f"now {parameters(Request, '__init__')}",
            ),
            (
                getattr(RequestParser, "mesg_class", None) is Request,
                "gunicorn.http.parser.RequestParser.mesg_class names the request class it builds",
            ),
            (
                (parameters(http, "get_parser") or [])[:3] == ["cfg", "source", "source_addr"],
                "gunicorn.http.get_parser(cfg, source, source_addr) builds a worker's parser",
            ),
            (
                parameters(ThreadWorker, "handle_error")
                == ["self", "req", "client", "addr", "exc"],
                "ThreadWorker.handle_error(req, client, addr, exc)",
            ),
            (
                parameters(ThreadWorker, "handle_exit") == ["self", "sig", "frame"],
                "ThreadWorker.handle_exit(sig, frame)",
            ),
            (
                parameters(ThreadWorker, "init_process") == ["self"],
                "ThreadWorker.init_process()",
            ),
            (
                parameters(ThreadWorker, "handle") == ["self", "conn"],
                "ThreadWorker.handle(conn), run in a pool thread, True to keep the connection",
            ),
            (
                parameters(ThreadWorker, "get_thread_pool") == ["self"],
                "ThreadWorker.get_thread_pool() (a ThreadPoolExecutor, whose _work_queue says "
                "whether connections wait for a thread)",
            ),
            (
                "_work_queue" in inspect.getsource(ThreadPoolExecutor.__init__),
                "concurrent.futures.ThreadPoolExecutor._work_queue",
            ),
            (
                "self._max_workers" in inspect.getsource(ThreadPoolExecutor._adjust_thread_count)
                and "_shutdown_lock" in inspect.getsource(ThreadPoolExecutor.submit),
                "ThreadPoolExecutor._adjust_thread_count() reads _max_workers at each submit "
                "(under _shutdown_lock): serving.HoldingPool grows the pool through it",
            ),
            (
                parameters(ThreadWorker, "load_wsgi") == ["self"]
                and "self.get_thread_pool()" in inspect.getsource(ThreadWorker.init_process),
                "ThreadWorker.init_process() makes the pool before load_wsgi() loads the app",
            ),
            (
                "self.must_close" in inspect.getsource(Request.should_close)
                and "self.req.should_close()" in inspect.getsource(gunicorn.http.wsgi.Response),
                "Request.must_close makes the response say Connection: close and end the "
                "connection (serving.close_after_answer)",
            ),
            (
                parameters(gunicorn.util, "http_date") == ["timestamp"]
                and "util.http_date()" in inspect.getsource(gunicorn.http.wsgi),
                "gunicorn.util.http_date(timestamp=None), called by the WSGI response for Date",
            ),
            (
                parameters(Request, "_peer_is_trusted_proxy") == ["self"],
                "Request._peer_is_trusted_proxy() judges the peer by forwarded_allow_ips",
            ),
            (
                (parameters(Request, "parse_headers") or [])[:3]
                == ["self", "data", "from_trailer"],
                "Request.parse_headers(data, from_trailer) gets the head's header block",
            ),
            (
                (parameters(errors, "InvalidHeader") or [])[:1] == ["hdr"],
                "gunicorn.http.errors.InvalidHeader(hdr)",
            ),
            (
                isinstance(getattr(errors, "UnsupportedTransferCoding", None), type),
                "gunicorn.http.errors.UnsupportedTransferCoding",
            ),
            (
                issubclass(getattr(errors, "NoMoreData", type), OSError),
                "gunicorn.http.errors.NoMoreData (an IOError: a request that stopped arriving)",
            ),
        ]
    )


def test_receivers_parser_is_the_one_a_worker_builds_and_keeps_header_names_as_sent() -> None:
    head = (
        b"POST /hooks/x?a=1&a=2 HTTP/1.1\r\nHost: h\r\nX-Mixed-Case: one\r\n"
        b"x-lower: two\r\nX-Mixed-Case: three\r\nContent-Length: 2\r\n\r\n{}"
    )
    build = getattr(http, "get_parser", None)
    expect([(build is not None, "gunicorn.http.get_parser builds a worker's parser")])
    original = RequestParser.mesg_class
    try:
        RequestParser.mesg_class = serving._CaseKeepingParser.mesg_class  # as the worker does
        parser = build(Config(), iter([head]), ("127.0.0.1", 5000))
        request = next(iter(parser))
    finally:
        RequestParser.mesg_class = original

    expect(
        [
            (
                type(parser) is RequestParser,
                f"get_parser builds a {type(parser).__name__} for HTTP/1.x, not a RequestParser",
            ),
            (
                isinstance(request, serving.CaseKeepingRequest),
                "the parser builds its requests from the mesg_class it holds",
            ),
            (
                (getattr(request, "method", None), getattr(request, "uri", None))
                == ("POST", "/hooks/x?a=1&a=2"),
                "a request's method and uri (raw_headers matches a request with RAW_URI by them)",
            ),
            (
                getattr(request, "headers", None)
                == [
                    ("HOST", "h"),
                    ("X-MIXED-CASE", "one"),
                    ("X-LOWER", "two"),
                    ("X-MIXED-CASE", "three"),
                    ("CONTENT-LENGTH", "2"),
                ],
                "a request's headers: (NAME, value) pairs upper-cased, in order, repeats kept",
            ),
        ]
    )
    assert request.headers_as_sent == [
        ("Host", "h"),
        ("X-Mixed-Case", "one"),
        ("x-lower", "two"),
        ("X-Mixed-Case", "three"),
        ("Content-Length", "2"),
    ]


def test_the_read_deadline_wraps_the_socket_gunicorn_reads_requests_from() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        unreader = SocketUnreader(ours)
        expect(
            [(getattr(unreader, "sock", None) is ours, "SocketUnreader keeps its socket as .sock")]
        )
        theirs.sendall(b"GET / HTTP/1.1\r\n\r\n")

        start_request(unreader)

        assert isinstance(unreader.sock, DeadlineSocket)
        expect(
            [
                (
                    unreader.read() == b"GET / HTTP/1.1\r\n\r\n",
                    "SocketUnreader reads through its .sock (the deadline is installed there)",
                )
            ]
        )


def test_gunicorn_takes_every_setting_and_hook_receiver_serve_gives_it() -> None:
    settings = serving.gunicorn_settings(config.load_settings({}))
    known = Config()
    unknown = [name for name in settings if name not in known.settings]
    expect([(not unknown, f"settings gunicorn no longer knows: {unknown}")])
    for name, value in settings.items():
        try:
            known.set(name, value)  # gunicorn's own validation (a hook's arity included)
        except Exception as error:  # whatever gunicorn refuses, name it
            pytest.fail(f"{MOVED}\n- gunicorn refuses the setting {name}={value!r}: {error}")
    application = serving.ReceiverApplication(settings)
    expect(
        [
            (
                application.cfg.worker_class_str == serving.WORKER_CLASS,
                "BaseApplication.load_config() sets what cfg reads",
            )
        ]
    )


def test_the_date_of_answers_is_worked_out_once_a_second_and_stays_gunicorns() -> None:
    now = [1_700_000_000.25]
    calls: list[float | None] = []

    def stock(timestamp: float | None = None) -> str:
        calls.append(timestamp)
        return gunicorn.util.http_date(timestamp)

    date = serving._SecondDate(stock, clock=lambda: now[0])

    first = date()
    now[0] += 0.5  # the same second
    assert date() == first
    assert calls == [1_700_000_000]
    now[0] += 1  # the next second
    assert date() == gunicorn.util.http_date(1_700_000_001)
    assert first == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"  # an explicit time is passed through
    assert len(calls) == 3


def test_a_peer_is_judged_by_forwarded_allow_ips_once_with_gunicorns_answer() -> None:
    cfg = Config()
    cfg.set("forwarded_allow_ips", "10.0.0.0/8,127.0.0.1")
    head = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    serving._trusted_peers.clear()

    def judged(peer: Any) -> tuple[bool, bool]:
        request = serving.CaseKeepingRequest(cfg, http.unreader.IterUnreader([head]), peer)
        return request._peer_is_trusted_proxy(), Request._peer_is_trusted_proxy(request)

    try:
        assert judged(("10.1.2.3", 4000)) == (True, True)
        assert judged(("192.0.2.7", 4000)) == (False, False)
        assert judged(("127.0.0.1", 4000)) == (True, True)
        assert serving._trusted_peers == {"10.1.2.3": True, "192.0.2.7": False, "127.0.0.1": True}
        assert judged(("192.0.2.7", 5000)) == (False, False)  # kept, by address not port
        assert judged("/run/receiver.sock") == (True, True)  # a UNIX socket is always trusted
    finally:
        serving._trusted_peers.clear()


def test_a_settled_config_answers_as_gunicorns_config_and_keeps_each_answer() -> None:
    stock = Config()
    stock.set("keepalive", 7)
    settled = Config()
    settled.set("keepalive", 7)
    settled.__class__ = serving.SettledConfig  # as the worker does

    for name in ("keepalive", "limit_request_line", "secure_scheme_headers", "forwarded_allow_ips"):
        assert getattr(settled, name) == getattr(stock, name), name
        assert name in vars(settled), name
    with pytest.raises(AttributeError):
        settled.no_such_setting  # noqa: B018


def test_a_holding_pool_gives_each_held_poll_a_thread_of_its_own() -> None:
    """A pool of one whose thread is held by a poll still serves a sender at once."""
    pool = serving.HoldingPool(max_workers=1)
    release = threading.Event()
    try:
        pool.hold(1)
        held = pool.submit(release.wait, NEVER_SECONDS)
        served = pool.submit(lambda: "served")
        assert served.result(timeout=NEVER_SECONDS) == "served"
        release.set()
        assert held.result(timeout=NEVER_SECONDS) is True
        pool.hold(-1)
        assert pool._max_workers == 1
    finally:
        release.set()
        pool.shutdown(wait=True)


def test_without_a_hold_a_busy_pool_makes_the_next_task_wait() -> None:
    """The control for the test above: the same pool, no hold, the second task waits."""
    pool = serving.HoldingPool(max_workers=1)
    release, started = threading.Event(), threading.Event()
    try:
        pool.submit(lambda: started.set() or release.wait(NEVER_SECONDS))
        assert started.wait(NEVER_SECONDS)
        queued = pool.submit(lambda: "served")
        assert not queued.done()
        assert pool._work_queue.qsize() == 1
        release.set()
        assert queued.result(timeout=NEVER_SECONDS) == "served"
    finally:
        release.set()
        pool.shutdown(wait=True)
