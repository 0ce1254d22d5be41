"""Capture throughput under gunicorn against a bare Flask app, same server config, same run.

    .venv/bin/python bench/capture_throughput.py [--seconds 5] [--rounds 3] [--connections 32]
        [--against ../other-checkout] [--synchronous FULL]

Starts receiver as a user does (``receiver serve --workers 2 --threads 4`` by default) and a bare
Flask app under gunicorn gthread with the same workers and threads, drives each with wrk
(Debian's package) posting a 452-byte JSON body, and prints req/s, latency percentiles and the
ratios receiver/bare. The machines this runs on are noisy (the bare app alone varies by 2x from
one minute to the next), so every server is started once and measured in interleaved rounds, and
the medians are compared; each round also counts the CPU time the server's processes used
(``/proc``), which noise from other machines hardly touches: CPU time per request is the steadier
figure. Receiver's text index is built in the background after a burst: before the next round
the script waits until the index has caught up, and that work counts into receiver's CPU time.

``--against DIR`` measures another checkout of receiver (with its own ``.venv``) in the same
rounds, for a before/after figure of a change. Afterwards every 2xx that wrk saw must be a row
in the database. Needs `wrk` on PATH (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not start")


@contextmanager
def own_schema(url: str | None, name: str) -> Iterator[str | None]:
    """A PostgreSQL URL whose tables live in a schema of the benchmark's own, dropped at the end
    (the database may be shared, and a benchmark leaves hundreds of thousands of rows); a
    SQLite run (``None``) passes through."""
    if not url:
        yield url
        return
    import psycopg

    schema = f"{name}_{os.getpid()}"
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def cpu_seconds(session: int) -> float:
    """User plus system CPU time of every process in a session (a gunicorn master and workers)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = (Path("/proc") / entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state ppid pgrp session ... utime(12) stime(13) (0-based from state)
        if int(fields[3]) == session:
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def postgres_cpu_seconds() -> float:
    """User plus system CPU time of every PostgreSQL server process on this machine (the
    database a receiver on PostgreSQL commits to runs on the same cores)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if (Path("/proc") / entry / "comm").read_text().strip() != "postgres":
                continue
            fields = (Path("/proc") / entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def run_wrk(
    url: str, seconds: int, connections: int, script: str = "payload.lua"
) -> dict[str, float]:
    """Run wrk and parse req/s, p50/p90/p99 (ms), total requests and non-2xx."""
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50%"),
        "p90": ms("90%"),
        "p99": ms("99%"),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
    }


@dataclass
class Server:
    """One server under test, its rounds, and (for receiver) its database."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    script: str = "payload.lua"
    database: Path | None = None
    rounds: list[dict[str, float]] = field(default_factory=list)

    def measure(self, seconds: int, connections: int) -> None:
        """One round: wrk, then (for receiver) wait for the background index to catch up."""
        before = cpu_seconds(self.process.pid)
        result = run_wrk(self.url, seconds, connections, self.script)
        if self.database is not None:
            wait_for_index(f"sqlite:///{self.database}")
        result["cpu_ms"] = (cpu_seconds(self.process.pid) - before) * 1000
        self.rounds.append(result)

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.rounds)

    def cpu_us_per_request(self) -> float:
        requests = sum(r["requests"] for r in self.rounds)
        return sum(r["cpu_ms"] for r in self.rounds) * 1000 / max(requests, 1)


def wait_for_index(database_url: str, limit: float = 120) -> None:
    """Wait until receiver's text index has taken every queued capture. The index is built after
    the answer at a bounded share of a core: a round's backlog left to the next round would bill
    its indexing to that round (or to another server's). Older checkouts have no queue: nothing
    to wait for."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError

    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    engine = create_engine(database_url)
    deadline = time.monotonic() + limit
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                try:
                    query = "SELECT count(*) FROM search_queue"
                    if not connection.exec_driver_sql(query).scalar():
                        return
                except DBAPIError:
                    return
            time.sleep(0.2)
    finally:
        engine.dispose()


def start(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(20)


def start_receiver(
    name: str, checkout: Path, work: Path, server: list[str], synchronous: str
) -> tuple[Server, Server]:
    """Serve a checkout of receiver on its own SQLite file; its JSON and non-JSON runs."""
    database = work / f"{name}.db"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RECEIVER_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{database}",
            "SECRET_KEY": "bench",
            "RECEIVER_SQLITE_SYNCHRONOUS": synchronous,
            "RECEIVER_MAX_REQUESTS_PER_BIN": "1000000",
            "RECEIVER_MAX_BYTES_PER_BIN": str(64 * 1024**3),
            "RECEIVER_INSTANCE_PATH": str(work / f"{name}-instance"),
        }
    )
    port = free_port()
    # as a user runs it: ``receiver serve`` (its threads for the change feed's long polls come
    # on top of --threads, and serve senders too)
    argv = [str(checkout / ".venv" / "bin" / "receiver"), "serve", *server]
    argv += ["--bind", f"127.0.0.1:{port}"]
    process = start(argv, env, work / f"{name}.log", cwd=checkout)
    wait_for(f"http://127.0.0.1:{port}/")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/bins",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    bin_id = json.loads(urllib.request.urlopen(request).read())["id"]
    url = f"http://127.0.0.1:{port}/b/{bin_id}"
    json_run = Server(name, process, url, database=database)
    # the same capture with a body that is not JSON: no detection or schema check runs
    text_run = Server(f"{name} text", process, url, "payload_text.lua", database)
    return json_run, text_run


def stored_rows(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("select count(*) from captured_request").fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--synchronous", default="NORMAL", choices=("NORMAL", "FULL"))
    parser.add_argument("--against", type=Path, help="another checkout of receiver to compare")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="receiver-bench-"))
    server = ["--workers", str(args.workers), "--threads", str(args.threads)]
    servers: list[Server] = []
    try:
        # the baseline: a bare flask app that answers and stores nothing; run from bench/ so
        # that gunicorn does not pick up receiver's gunicorn.conf.py and its hooks
        port = free_port()
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        bare_argv = [gunicorn, *server, "--worker-class", "gthread", "--keep-alive", "5"]
        bare = start(
            [*bare_argv, "--bind", f"127.0.0.1:{port}", "bare_app:app"],
            dict(os.environ),
            work / "bare.log",
            cwd=ROOT / "bench",
        )
        servers.append(Server("bare flask", bare, f"http://127.0.0.1:{port}/b/bench"))
        wait_for(f"http://127.0.0.1:{port}/")
        checkouts = [("receiver", ROOT)]
        if args.against:
            checkouts.append(("against", args.against.resolve()))
        for name, checkout in checkouts:
            servers.extend(start_receiver(name, checkout, work, server, args.synchronous))
        before = {
            s.name: stored_rows(s.database)
            for s in servers
            if s.database is not None and "text" not in s.name
        }
        for measured in servers:  # warm-up
            run_wrk(measured.url, 2, args.connections, measured.script)
        for _ in range(args.rounds):
            for measured in servers:
                measured.measure(args.seconds, args.connections)
        time.sleep(0.5)
        losses = []
        for name, _ in checkouts:
            runs = [s for s in servers if s.name in (name, f"{name} text")]
            answered = sum(r["requests"] - r["non2xx"] for s in runs for r in s.rounds)
            # the warm-up's rows are stored too: at least every answered request must be there
            stored = stored_rows(runs[0].database) - before[name]
            losses.append((name, answered, stored))
    finally:
        for measured in {s.process.pid: s for s in servers}.values():
            stop(measured.process)

    print(
        f"gunicorn gthread {args.workers}x{args.threads}, wrk -c{args.connections}, "
        f"{args.rounds} interleaved rounds of {args.seconds} s, 452-byte JSON POST, "
        f"SQLite synchronous={args.synchronous} (medians; CPU is per request, background "
        "indexing included)"
    )
    print(f"{'':16} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11} {'non-2xx':>8}")
    for s in servers:
        errors = sum(r["non2xx"] + r["socket_errors"] for r in s.rounds)
        print(
            f"{s.name:16} {s.median('rps'):8.0f} {s.median('p50'):8.2f} {s.median('p99'):8.2f} "
            f"{s.cpu_us_per_request():11.0f} {errors:8d}"
        )
    bare_server = servers[0]
    for s in servers[1:]:
        if "text" in s.name:
            continue
        print(
            f"{s.name}/bare: throughput {s.median('rps') / bare_server.median('rps'):.2f}, "
            f"p99 {s.median('p99') / bare_server.median('p99'):.2f}, CPU per request "
            f"{s.cpu_us_per_request() / bare_server.cpu_us_per_request():.2f}x"
        )
    if args.against:
        ours, theirs = servers[1], servers[3]
        print(
            f"receiver/against: throughput {ours.median('rps') / theirs.median('rps'):.2f}, "
            f"CPU per request {ours.cpu_us_per_request() / theirs.cpu_us_per_request():.2f}x"
        )
    ok = True
    for name, answered, stored in losses:
        verdict = "none lost" if stored >= answered else f"LOST {answered - stored}"
        ok = ok and stored >= answered
        print(f"{name}: 2xx answered {answered}, rows stored {stored}: {verdict}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
