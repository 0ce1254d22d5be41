"""One capture's CPU time, part by part, measured in this process (thread CPU time, not wall).

    .venv/bin/python bench/capture_budget.py [--database-url URL] [-n 2000]

Each part of the capture path is run ``n`` times on the thread's own CPU clock
(``time.thread_time``), so other work on a busy machine hardly moves the figures:

- HTTP parse: gunicorn's request parser over the bytes of a 452-byte JSON POST (stock
  ``Request``), then what keeping header names as sent adds (receiver's worker), then gunicorn
  building the WSGI environ;
- the bare Flask app of ``capture_throughput.py`` called with that environ: what the baseline
  spends above the HTTP parse;
- receiver's own parts: bin lookup, body read, analysis (detection, schema, signature), row
  building (the row and its driver values), the commit of one row alone, and per row with four
  threads committing at once (as a gthread worker does), the answer (status line and headers);
- the whole ingest call (environ in, answer out) on one thread; what is left of it once the
  parts are taken out is dispatch and glue.

The server's own work per request (its event loop, sockets, system calls) is not here:
``capture_throughput.py`` measures the whole server's CPU per request under load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from capture_throughput import own_schema

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
BODY = (ROOT / "bench" / "payload.lua").read_text().split("wrk.body = '", 1)[1].rsplit("'", 1)[0]


def request_bytes(bin_id: str) -> bytes:
    body = BODY.encode()
    head = (
        f"POST /b/{bin_id} HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nUser-Agent: bench\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class BytesSocket:
    """A socket that gives the bytes of one request, for gunicorn's parser."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def recv(self, size: int, *flags: int) -> bytes:
        out, self.data = self.data[:size], self.data[size:]
        return out

    def gettimeout(self) -> None:
        return None

    def settimeout(self, value: Any) -> None:
        pass


def cpu_us(work: Callable[[], Any], n: int) -> float:
    """µs of this thread's CPU per call: the median of five runs of ``n`` calls."""
    runs = []
    for _ in range(5):
        start = time.thread_time_ns()
        for _ in range(n):
            work()
        runs.append((time.thread_time_ns() - start) / n / 1000)
    return statistics.median(runs)


def threaded_cpu_us(work: Callable[[], Any], n: int, threads: int = 4) -> float:
    """µs of process CPU per call when ``threads`` threads make ``n`` calls each at once."""
    barrier = threading.Barrier(threads)

    def loop() -> None:
        barrier.wait()
        for _ in range(n):
            work()

    runners = [threading.Thread(target=loop) for _ in range(threads)]
    start = time.process_time()
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    return (time.process_time() - start) * 1e6 / (n * threads)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("-n", type=int, default=2000, help="calls per run of each part")
    args = parser.parse_args()
    with own_schema(args.database_url, "receiver_budget") as database_url:
        return measure(database_url, args.n)


def measure(database_url: str | None, n: int) -> int:
    """Run each part ``n`` times on a database (SQLite in a temporary folder by default)."""
    work = tempfile.mkdtemp(prefix="receiver-budget-")
    os.environ.update(
        SECRET_KEY="bench",
        RECEIVER_INSTANCE_PATH=work,
        DATABASE_URL=database_url or f"sqlite:///{work}/budget.db",
        RECEIVER_MAX_REQUESTS_PER_BIN="1000000",
        RECEIVER_MAX_BYTES_PER_BIN=str(64 * 1024**3),
    )
    import bare_app
    from gunicorn.config import Config
    from gunicorn.http import wsgi
    from gunicorn.http.message import Request
    from gunicorn.http.parser import RequestParser

    from receiver import create_app
    from receiver.capture.analysis import analyze
    from receiver.capture.request import RawRequest
    from receiver.capture.request import build_row
    from receiver.storage.migrate import prepare_database
    from receiver.storage.models import utcnow
    from receiver.web import serving
    from receiver.web.ingest import read_body
    from receiver.web.services import services
    from receiver.web.serving import close_app

    app = create_app()
    prepare_database(app)
    found = services(app)
    store = found.capture
    bin_id = app.test_client().post("/api/bins", json={}).get_json()["id"]
    cfg = Config()
    for name, value in serving.gunicorn_settings(app.config).items():
        if name in ("header_map", "limit_request_line", "http_parser"):
            cfg.set(name, value)
    sent = request_bytes(bin_id)

    class StockParser(RequestParser):
        mesg_class = Request

    class KeepingParser(RequestParser):
        mesg_class = serving.CaseKeepingRequest

    def parse(parser_class: type[RequestParser]) -> Any:
        return next(parser_class(cfg, BytesSocket(sent), ("127.0.0.1", 1)))

    def environ() -> tuple[Any, dict[str, Any]]:
        req = parse(KeepingParser)
        _, env = wsgi.create(req, BytesSocket(b""), ("127.0.0.1", 1), ("127.0.0.1", 5000), cfg)
        return req, env

    def call(application: Any) -> None:
        req, env = environ()
        serving.pre_request(None, req)
        answer = application(env, lambda status, headers, exc_info=None: None)
        b"".join(answer)
        getattr(answer, "close", lambda: None)()

    parts: dict[str, float] = {}
    parts["HTTP parse (gunicorn)"] = cpu_us(lambda: parse(StockParser), n)
    parts["header names as sent"] = (
        cpu_us(lambda: parse(KeepingParser), n) - parts["HTTP parse (gunicorn)"]
    )
    parts["WSGI environ (gunicorn)"] = (
        cpu_us(environ, n) - parts["HTTP parse (gunicorn)"] - parts["header names as sent"]
    )
    before_app = sum(parts.values())
    bare = cpu_us(lambda: call(bare_app.app), n) - before_app
    whole = cpu_us(lambda: call(app), n) - before_app

    now = utcnow()
    target = store.lookup(bin_id, now)
    assert target is not None
    catalog = found.catalog_for(store.known_catalog_version())
    headers = [
        ("Host", "127.0.0.1:5000"),
        ("User-Agent", "bench"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(BODY))),
    ]
    raw = RawRequest("POST", "/", "", headers, BODY.encode(), "127.0.0.1")
    analysis = analyze(raw, target, now, catalog, None)

    def row() -> dict[str, Any]:
        made = build_row(raw, bin_id, now) | analysis.columns
        made.update(forward_url=None, rejection=None)
        return made

    def body() -> bytes:
        from io import BytesIO

        env = {"wsgi.input": BytesIO(raw.body), "CONTENT_LENGTH": str(len(raw.body))}
        return read_body(env, 10_000_000, 10_000_000)

    ours = {
        "bin lookup": cpu_us(lambda: store.lookup(bin_id, now), n),
        "body read": cpu_us(body, n),
        "analysis (detect, validate, verify)": cpu_us(
            lambda: analyze(raw, target, now, catalog, None), n
        ),
        "row building": cpu_us(lambda: store.sql.row_values(row()), n),
        "commit, one thread": cpu_us(lambda: store.store(row()), n // 4),
    }
    ours["commit, 4 threads (per row)"] = threaded_cpu_us(lambda: store.store(row()), n // 4)
    ours["commit, 4 threads (per row)"] -= ours["row building"] - cpu_us(
        lambda: store.sql.row_values(row()), n
    )
    close_app(app)

    width = 44
    print(f"one capture's CPU, µs per request ({os.environ['DATABASE_URL'].split(':')[0]})")
    for name, value in parts.items():
        print(f"  {name:{width}} {value:7.1f}")
    print(f"  {'bare Flask app above the parse (baseline)':{width}} {bare:7.1f}")
    print(f"  {'receiver ingest above the parse, whole':{width}} {whole:7.1f}")
    for name, value in ours.items():
        print(f"    {name:{width - 2}} {value:7.1f}")
    counted = sum(v for k, v in ours.items() if k != "commit, 4 threads (per row)")
    print(f"    {'dispatch, answer and glue (the rest)':{width - 2}} {whole - counted:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
