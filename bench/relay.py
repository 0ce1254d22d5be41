"""The listener budget: capture-to-target latency through ``receiver listen``, and ingest req/s
with 0 versus 20 connected listeners, in one run.

    .venv/bin/python bench/relay.py [--captures 200] [--pace 0.05] [--seconds 5] [--connections 32]
        [--listeners 20] [--follow loaded|other] [--database-url postgresql://…]

Starts ``receiver serve`` (2 workers; SQLite in a temporary folder unless ``--database-url``)
and a target on loopback in this process, then:

1. latency: one ``receiver listen`` delivers to the target while captures are sent one every
   ``--pace`` seconds (50 ms); each capture's latency runs from the moment its sender got the
   2xx (committed) to the moment the target received it (one clock: the target runs in this
   process). Then as many captures are sent at once, for the rate at which one listener
   catches up (one delivery and one report at a time, in order). Every capture must arrive,
   in order.
2. ingest: wrk posts a 452-byte JSON body into a bin in rounds of ``--seconds``: with no
   listener, with ``--listeners`` connected ``receiver listen`` processes, again with them, and
   again with none (A B B A, so drift on a noisy machine falls on both sides). The listeners
   follow the loaded bin itself with a filter that lets nothing through, so every capture
   wakes their long polls and they re-read the feed, but deliver nothing: the load the server
   sees is holding and waking 20 connections, not 20 times the deliveries. The script checks
   that all of them are connected while wrk runs. ``--follow other`` puts them on a quiet bin
   instead (the cost of holding 20 connections alone). Besides req/s, the server's CPU time per
   request is printed: on a shared machine it moves much less than req/s.
3. with ``--profile``: ``py-spy record --gil`` over the workers in every round, and the feed's
   samples (the watcher, the polls' reads) against ingest's in the same round and processes.
   The machine's speed, which moves req/s by more than the target between rounds, falls on
   both alike: the steadiest measure of what listeners cost (py-spy: PyPI, in the dev extras).

Targets (the issue's): p50 <= 250 ms, p99 <= 1 s; ingest drop with 20 listeners <= 10 %.
Needs `wrk` on PATH (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from capture_profile import read_stacks
from capture_profile import record
from capture_throughput import cpu_seconds
from capture_throughput import free_port
from capture_throughput import postgres_cpu_seconds
from capture_throughput import run_wrk
from capture_throughput import wait_for
from capture_throughput import wait_for_index

ROOT = Path(__file__).resolve().parent.parent
RECEIVER = Path(sys.executable).with_name("receiver")
KEY = "Receiver-Idempotency-Key"


class Target:
    """Records when each capture arrived, by its idempotency key."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.order: list[int] = []
        self.lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                now = time.monotonic()
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = int(self.headers[KEY])
                with target.lock:
                    target.arrived.setdefault(key, now)
                    target.order.append(key)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


def psql(url: str, statement: str) -> None:
    """Run one statement on PostgreSQL (through SQLAlchemy, as the server does)."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def call(base: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def start(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def listeners(base: str, bin_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = call(base, "GET", f"/api/bins/{bin_id}/listeners")["listeners"]
    return found


def wait_connected(base: str, bin_id: str, count: int, timeout: float = 90) -> None:
    """Wait until ``count`` listeners of the bin exist and have polled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(item["connected"] for item in listeners(base, bin_id)) >= count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{count} listeners did not connect in {timeout:.0f} s")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure_latency(
    base: str, env: dict[str, str], work: Path, target: Target, captures: int, pace: float
) -> tuple[list[float], float]:
    """Through one listener: the latencies (ms) of captures sent one every ``pace`` seconds,
    then how many captures a second it delivers when as many arrive at once."""
    bin_id = call(base, "POST", "/api/bins", {})["id"]
    argv = [str(RECEIVER), "listen", f"{base}/b/{bin_id}", "--to", target.url, "--name", "bench"]
    listener = start(argv, env, work / "listen-latency.log", work)
    answered: dict[int, float] = {}
    sent: list[int] = []

    def send(count: int, pause: float) -> list[int]:
        ids = []
        for n in range(count):
            request = urllib.request.Request(
                f"{base}/b/{bin_id}", data=json.dumps({"n": n}).encode(), method="POST"
            )
            request.add_header("Content-Type", "application/json")
            with urllib.request.urlopen(request, timeout=30) as answer:
                request_id = int(json.loads(answer.read())["request_id"])
            answered[request_id] = time.monotonic()
            ids.append(request_id)
            time.sleep(pause)
        sent.extend(ids)
        deadline = time.monotonic() + 60
        while not set(ids) <= set(target.arrived) and time.monotonic() < deadline:
            time.sleep(0.01)
        return ids

    try:
        wait_connected(base, bin_id, 1)
        time.sleep(0.3)
        paced = send(captures, pace)
        burst = send(captures, 0)
    finally:
        stop(listener, signal.SIGINT)
    missing = set(sent) - set(target.arrived)
    if missing:
        raise RuntimeError(f"{len(missing)} captures never reached the target")
    if list(dict.fromkeys(target.order)) != sent:
        raise RuntimeError("captures reached the target out of order")
    took = max(target.arrived[key] for key in burst) - answered[burst[0]]
    return [(target.arrived[key] - answered[key]) * 1000 for key in paced], len(burst) / took


# which samples are whose, by the files in their stacks
FEED_FILES = ("capture/feed.py", "web/api/feed.py")
INGEST_FILES = ("web/ingest.py",)


def feed_and_ingest(raw: Path) -> tuple[int, int]:
    """py-spy samples in the feed's code and in ingest's, from its raw (collapsed) output."""
    feed = ingest = 0
    for stack, count in read_stacks(raw):
        if any(name in stack for name in FEED_FILES):
            feed += count
        elif any(name in stack for name in INGEST_FILES):
            ingest += count
    return feed, ingest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=200)
    parser.add_argument("--pace", type=float, default=0.05, help="seconds between captures")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--listeners", type=int, default=20)
    parser.add_argument("--database-url", help="PostgreSQL (default: SQLite in a temp folder)")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the workers: the feed's share of ingest"
    )
    parser.add_argument(
        "--follow",
        choices=("loaded", "other"),
        default="loaded",
        help="the listeners follow the loaded bin (filtered out) or another, quiet bin",
    )
    args = parser.parse_args()
    # the virtualenv's own py-spy (a dev extra) when the venv is not on PATH
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="receiver-relay-bench-"))
    schema = f"relay_bench_{os.getpid()}"
    if args.database_url:
        # a schema of its own, dropped at the end: the database may be shared
        psql(args.database_url, f'CREATE SCHEMA "{schema}"')
        separator = "&" if "?" in args.database_url else "?"
        database_url = f"{args.database_url}{separator}options=-csearch_path%3D{schema}"
    else:
        database_url = f"sqlite:///{work / 'receiver.db'}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RECEIVER_", "PYTHON", "VIRTUAL_ENV", "FLASK_"))
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench",
            "RECEIVER_AUTO_MIGRATE": "1",
            "RECEIVER_MAX_REQUESTS_PER_BIN": "1000000",
            "RECEIVER_MAX_BYTES_PER_BIN": str(64 * 1024**3),
            "RECEIVER_INSTANCE_PATH": str(work / "instance"),
        }
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(
        [str(RECEIVER), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env,
        work / "serve.log",
        work,
    )
    group: list[subprocess.Popen[bytes]] = []
    rounds: list[tuple[int, dict[str, float]]] = []
    try:
        wait_for(f"{base}/")
        target = Target()
        latencies, rate = measure_latency(base, env, work, target, args.captures, args.pace)

        bin_id = call(base, "POST", "/api/bins", {})["id"]
        url = f"{base}/b/{bin_id}"
        followed = bin_id if args.follow == "loaded" else call(base, "POST", "/api/bins", {})["id"]
        run_wrk(url, 2, args.connections)  # warm-up
        wait_for_index(database_url)

        def connect() -> None:
            for n in range(args.listeners):
                argv = [str(RECEIVER), "listen", f"{base}/b/{followed}", "--to", target.url]
                argv += ["--name", f"dev-{n}"]
                argv += ["--path-prefix", "/nothing-matches"]
                group.append(start(argv, env, work / f"listen-{n}.log", work))
            wait_connected(base, followed, args.listeners)
            time.sleep(1)

        def measure(connected: int) -> None:
            before = cpu_seconds(server.pid), sum(cpu_seconds(p.pid) for p in group)
            database_before = postgres_cpu_seconds()
            raw = work / f"round-{len(rounds)}.raw"
            spy = record(py_spy, server.pid, args.seconds - 1, raw) if args.profile else None
            result = run_wrk(url, args.seconds, args.connections)
            if spy is not None:
                spy.wait(60)
                result["feed_samples"], result["ingest_samples"] = feed_and_ingest(raw)
            result["server_cpu_us"] = (
                (cpu_seconds(server.pid) - before[0]) * 1e6 / result["requests"]
            )
            result["database_cpu_us"] = (
                (postgres_cpu_seconds() - database_before) * 1e6 / result["requests"]
            )
            result["listeners_cpu_s"] = sum(cpu_seconds(p.pid) for p in group) - before[1]
            wait_for_index(database_url)
            if connected:  # still held: every listener polled within the last seconds
                now = sum(item["connected"] for item in listeners(base, followed))
                if now < connected:
                    raise RuntimeError(f"only {now} of {connected} listeners stayed connected")
            rounds.append((connected, result))

        measure(0)
        connect()
        measure(args.listeners)
        measure(args.listeners)
        for process in group:
            stop(process, signal.SIGINT)
        group.clear()
        measure(0)
    finally:
        for process in group:
            stop(process, signal.SIGKILL)
        stop(server)
        if args.database_url:
            psql(args.database_url, f'DROP SCHEMA "{schema}" CASCADE')

    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    print(
        f"receiver serve, 2 workers (gthread 4 threads + feed waiters), "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}"
    )
    print(
        f"capture-to-target latency through receiver listen, {len(latencies)} captures one "
        f"every {args.pace * 1000:.0f} ms: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max "
        f"{max(latencies):.0f} ms (targets 250 ms / 1000 ms: "
        f"{'met' if p50 <= 250 and p99 <= 1000 else 'MISSED'})"
    )
    print(
        f"one listener catching up with {args.captures} captures sent at once: {rate:.0f} a second"
    )
    print(f"ingest, wrk -c{args.connections}, rounds of {args.seconds} s (A B B A):")
    for connected, result in rounds:
        print(
            f"  {connected:2d} listeners: {result['rps']:8.0f} req/s  p50 {result['p50']:6.2f} ms"
            f"  p99 {result['p99']:7.2f} ms  non-2xx {result['non2xx'] + result['socket_errors']}"
            f"  server CPU {result['server_cpu_us']:.0f} us/req"
            + (f" (PostgreSQL {result['database_cpu_us']:.0f})" if args.database_url else "")
            + f"  listeners CPU {result['listeners_cpu_s']:.2f} s"
        )
        if args.profile:
            feed, ingest = result["feed_samples"], result["ingest_samples"]
            print(
                f"               py-spy --gil: feed {feed} samples, ingest {ingest}: "
                f"{feed / max(ingest, 1) * 100:.1f} % of ingest's"
            )
    without = statistics.mean(r["rps"] for c, r in rounds if c == 0)
    with_them = statistics.mean(r["rps"] for c, r in rounds if c)
    drop = (1 - with_them / without) * 100
    print(
        f"mean req/s: {without:.0f} without, {with_them:.0f} with {args.listeners} listeners: "
        f"drop {drop:.1f} % (target <= 10 %: {'met' if drop <= 10 else 'MISSED'})"
    )
    cpu_without = statistics.mean(r["server_cpu_us"] for c, r in rounds if c == 0)
    cpu_with = statistics.mean(r["server_cpu_us"] for c, r in rounds if c)
    print(
        f"server CPU per request (steadier on a shared machine): {cpu_without:.0f} us without, "
        f"{cpu_with:.0f} us with them ({(cpu_with / cpu_without - 1) * 100:+.1f} %)"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
