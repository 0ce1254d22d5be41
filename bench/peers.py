"""receiver beside a bare Flask app and mockbin, under the same wrk load, in one run.

    .venv/bin/python bench/peers.py [--seconds 8] [--rounds 3] [--connections 32]
        [--database-url postgresql://…]

Three servers, each measured in interleaved rounds (medians), each sent a different webhook
body with every request (``payload_varied.lua``: an Appery build event, 470 bytes):

- bare Flask: the app of ``bare_app.py`` under gunicorn gthread, 2 workers x 4 threads; it
  reads the body and stores nothing: the server's own ceiling;
- receiver: ``receiver serve --workers 2 --threads 4`` on SQLite (or ``--database-url``): it
  detects, validates, commits, then answers; afterwards every 2xx must be a row;
- mockbin 1.6.3 (npm, Express and Redis): installed from the npm registry into a cache folder
  on the first run, with a redis-server of its own on a free loopback port; it answers before
  storing and validates nothing.

Printed per server: req/s, p50 and p99 latency, the CPU time per request of its processes
(redis-server's included for mockbin; receiver's text index, built after the answer, is waited
for after each of its rounds and billed to that round, not left to the next server's), and how
much of the machine's CPU stayed idle while it was loaded (a server that waits rather than
computes leaves some); on PostgreSQL, also the CPU time of the database's own processes per
receiver request (they share the cores).
Needs wrk, node/npm and redis-server (Debian packages).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from capture_throughput import ROOT
from capture_throughput import Server
from capture_throughput import cpu_seconds
from capture_throughput import free_port
from capture_throughput import own_schema
from capture_throughput import postgres_cpu_seconds
from capture_throughput import run_wrk
from capture_throughput import start
from capture_throughput import stop
from capture_throughput import wait_for
from capture_throughput import wait_for_index

MOCKBIN = "mockbin@1.6.3"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "receiver-bench"
SCRIPT = "payload_varied.lua"
# what mockbin's bin answers, as a HAR response (its own format for a bin's answer)
MOCK_RESPONSE = {
    "status": 200,
    "statusText": "OK",
    "httpVersion": "HTTP/1.1",
    "headers": [{"name": "Content-Type", "value": "application/json"}],
    "cookies": [],
    "content": {"mimeType": "application/json", "text": '{"ok": true}'},
}


def install_mockbin() -> Path:
    """mockbin 1.6.3 from the npm registry, once, into a cache folder (never committed)."""
    folder = CACHE / "mockbin-1.6.3"
    entry = folder / "node_modules" / "mockbin" / "bin" / "mockbin"
    if not entry.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder), MOCKBIN],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return entry


def start_mockbin(work: Path) -> tuple[list[subprocess.Popen[bytes]], str]:
    """redis-server on a free port, mockbin on another; returns both and a bin's URL."""
    entry = install_mockbin()
    redis_port, port = free_port(), free_port()
    redis = start(
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        dict(os.environ),
        work / "redis.log",
        work,
    )
    mockbin = start(
        ["node", str(entry), "-p", str(port), "-q", "-r", f"redis://127.0.0.1:{redis_port}"],
        dict(os.environ),
        work / "mockbin.log",
        work,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(base + "/")
    request = urllib.request.Request(
        base + "/bin/create",
        data=json.dumps(MOCK_RESPONSE).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as answer:
        bin_id = json.loads(answer.read())
    return [redis, mockbin], f"{base}/bin/{bin_id}"


def start_receiver(
    work: Path, database_url: str | None, checkout: Path = ROOT
) -> tuple[Server, Path | None]:
    """``receiver serve --workers 2 --threads 4`` of a checkout (with its own ``.venv``) and a
    bin of its own; the database file on SQLite."""
    database = None if database_url else work / "receiver.db"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RECEIVER_", "PYTHON", "VIRTUAL_ENV", "DATABASE_URL"))
    }
    env.update(
        DATABASE_URL=database_url or f"sqlite:///{database}",
        SECRET_KEY="bench",
        RECEIVER_MAX_REQUESTS_PER_BIN="1000000",
        RECEIVER_MAX_BYTES_PER_BIN=str(64 * 1024**3),
        RECEIVER_INSTANCE_PATH=str(work / "receiver-instance"),
    )
    port = free_port()
    receiver = str(checkout / ".venv" / "bin" / "receiver")
    argv = [receiver, "serve", "--workers", "2", "--threads", "4", "--bind", f"127.0.0.1:{port}"]
    process = start(argv, env, work / "receiver.log", checkout)
    wait_for(f"http://127.0.0.1:{port}/")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/bins",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    bin_id = json.loads(urllib.request.urlopen(request).read())["id"]
    url = f"http://127.0.0.1:{port}/b/{bin_id}"
    return Server("receiver", process, url, SCRIPT), database


def idle_ticks() -> tuple[int, int]:
    """The machine's idle (and I/O wait) ticks and all its ticks so far (``/proc/stat``)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--database-url", help="receiver on PostgreSQL (SQLite by default)")
    args = parser.parse_args()
    for tool in ("wrk", "npm", "node", "redis-server"):
        if not shutil.which(tool):
            print(f"{tool} is not installed (Debian: wrk, nodejs, npm, redis-server)")
            return 2
    work = Path(tempfile.mkdtemp(prefix="receiver-peers-"))
    servers: list[Server] = []
    extra: dict[str, list[subprocess.Popen[bytes]]] = {}
    schema = own_schema(args.database_url, "receiver_peers")
    database_url = schema.__enter__()
    try:
        port = free_port()
        gunicorn = str(ROOT / ".venv" / "bin" / "gunicorn")
        bare = start(
            [gunicorn, "--workers", "2", "--threads", "4", "--worker-class", "gthread"]
            + ["--keep-alive", "5", "--bind", f"127.0.0.1:{port}", "bare_app:app"],
            dict(os.environ),
            work / "bare.log",
            ROOT / "bench",  # not the project root: gunicorn must not read our config
        )
        servers.append(Server("bare flask", bare, f"http://127.0.0.1:{port}/b/bench", SCRIPT))
        wait_for(f"http://127.0.0.1:{port}/")
        receiver, database = start_receiver(work, database_url)
        servers.append(receiver)
        mock_processes, mock_url = start_mockbin(work)
        servers.append(Server("mockbin 1.6.3", mock_processes[1], mock_url, SCRIPT))
        extra["mockbin 1.6.3"] = [mock_processes[0]]
        for server in servers:  # warm-up
            run_wrk(server.url, 2, args.connections, server.script)
        for _ in range(args.rounds):
            for server in servers:
                helpers = extra.get(server.name, [])
                before = cpu_seconds(server.process.pid) + sum(cpu_seconds(p.pid) for p in helpers)
                database_before, idle_before = postgres_cpu_seconds(), idle_ticks()
                result = run_wrk(server.url, args.seconds, args.connections, server.script)
                idle_after = idle_ticks()
                if server is receiver:  # its text index, built after the answer, is its own cost
                    wait_for_index(database_url or f"sqlite:///{database}")
                after = cpu_seconds(server.process.pid) + sum(cpu_seconds(p.pid) for p in helpers)
                result["cpu_ms"] = (after - before) * 1000
                result["database_cpu_ms"] = (postgres_cpu_seconds() - database_before) * 1000
                result["idle"] = (idle_after[0] - idle_before[0]) / max(
                    idle_after[1] - idle_before[1], 1
                )
                server.rounds.append(result)
        time.sleep(0.5)
    finally:
        for server in servers:
            stop(server.process)
        for helpers in extra.values():
            for process in helpers:
                stop(process)
        schema.__exit__(None, None, None)
    answered = sum(r["requests"] - r["non2xx"] for r in receiver.rounds)
    print(
        f"wrk -t2 -c{args.connections}, {args.rounds} interleaved rounds of {args.seconds} s, a "
        "different 470-byte JSON body per request; receiver on "
        f"{'PostgreSQL' if args.database_url else 'SQLite'} (medians; CPU per request)"
    )
    bare_rps = statistics.median(r["rps"] for r in servers[0].rounds)
    print(
        f"{'':16} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11} {'vs bare':>8}"
        f" {'idle':>6}"
    )
    for server in servers:
        rps = server.median("rps")
        print(
            f"{server.name:16} {rps:8.0f} {server.median('p50'):8.2f} {server.median('p99'):8.2f} "
            f"{server.cpu_us_per_request():11.0f} {rps / bare_rps:8.2f} "
            f"{server.median('idle'):6.1%}"
        )
    if args.database_url:
        requests = sum(r["requests"] for r in receiver.rounds)
        database_us = sum(r["database_cpu_ms"] for r in receiver.rounds) * 1000 / max(requests, 1)
        print(f"PostgreSQL's own processes (same cores): {database_us:.0f} us per receiver request")
    if database is not None:
        with sqlite3.connect(database) as connection:
            stored = connection.execute("select count(*) from captured_request").fetchone()[0]
        lost = answered - stored if stored < answered else 0
        print(
            f"receiver: 2xx answered {answered}, rows stored {stored}: "
            + (f"LOST {lost}" if lost else "none lost (the warm-up's rows are stored too)")
        )
        if lost:
            return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
