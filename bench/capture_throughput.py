"""Capture throughput under gunicorn against a bare Flask app, same server config, same run.

    .venv/bin/python bench/capture_throughput.py [--seconds 10] [--connections 32]

Starts each app under gunicorn (gthread, 2 workers x 4 threads by default), drives it with wrk
(Debian's package) posting a 470-byte JSON body, and prints req/s, latency percentiles and the
ratios receiver/bare. Afterwards it counts the rows in receiver's SQLite file: every 2xx that wrk
saw must be stored. Needs `wrk` on PATH (apt-get install wrk).
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
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not start")


def start(
    argv: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--synchronous", default="NORMAL", choices=("NORMAL", "FULL"))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="receiver-bench-"))
    server = [
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--worker-class",
        "gthread",
    ]
    results: dict[str, dict[str, float]] = {}

    # the baseline: a bare flask app that answers and stores nothing
    port = free_port()
    # run from bench/ so that gunicorn does not pick up receiver's gunicorn.conf.py and its hooks
    bare = start(
        [GUNICORN, *server, "--keep-alive", "5", "--bind", f"127.0.0.1:{port}", "bare_app:app"],
        dict(os.environ),
        work / "bare.log",
        cwd=ROOT / "bench",
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/")
        run_wrk(f"http://127.0.0.1:{port}/b/bench", 2, args.connections)  # warm-up
        results["bare flask"] = max(
            (
                run_wrk(f"http://127.0.0.1:{port}/b/bench", args.seconds, args.connections)
                for _ in range(2)
            ),
            key=lambda r: r["rps"],
        )
    finally:
        stop(bare)

    # receiver: the real capture path, on a fresh SQLite file
    database = work / "receiver.db"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "SECRET_KEY": "bench",
        "RECEIVER_SQLITE_SYNCHRONOUS": args.synchronous,
        "RECEIVER_MAX_REQUESTS_PER_BIN": "1000000",
    }
    port = free_port()
    receiver = start(
        [GUNICORN, "-c", "gunicorn.conf.py", *server, "--bind", f"127.0.0.1:{port}", "app:app"],
        env,
        work / "receiver.log",
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/bins",
            data=b"{}",
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        bin_id = json.loads(urllib.request.urlopen(request).read())["id"]
        url = f"http://127.0.0.1:{port}/b/{bin_id}"
        run_wrk(url, 2, args.connections)  # warm-up
        with sqlite3.connect(database) as connection:
            before = connection.execute("select count(*) from captured_request").fetchone()[0]
        # interleaved and best of two each: the machine's noise hits both alike
        runs: dict[str, list[dict[str, float]]] = {"receiver": [], "no schema": []}
        for _ in range(2):
            runs["receiver"].append(run_wrk(url, args.seconds, args.connections))
            # the same capture with a body that is not JSON: no detection or schema check runs
            runs["no schema"].append(
                run_wrk(url, args.seconds, args.connections, "payload_text.lua")
            )
        time.sleep(0.5)
        with sqlite3.connect(database) as connection:
            after = connection.execute("select count(*) from captured_request").fetchone()[0]
        for name, measured in runs.items():
            results[name] = max(measured, key=lambda r: r["rps"])
        answered_total = sum(r["requests"] - r["non2xx"] for m in runs.values() for r in m)
    finally:
        stop(receiver)
    log = (work / "receiver.log").read_text()

    print(
        f"gunicorn gthread {args.workers}x{args.threads}, wrk -c{args.connections} "
        f"-d{args.seconds}s, 470-byte JSON POST, SQLite synchronous={args.synchronous}"
    )
    print(f"{'':12} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, r in results.items():
        print(
            f"{name:12} {r['rps']:9.0f} {r['p50']:8.2f} {r['p90']:8.2f} {r['p99']:8.2f} "
            f"{r['non2xx'] + r['socket_errors']:8d}"
        )
    bare_r, ours = results["bare flask"], results["receiver"]
    answered = answered_total
    stored = after - before
    print(f"throughput ratio receiver/bare: {ours['rps'] / bare_r['rps']:.2f} (target >= 0.75)")
    print(f"p99 ratio receiver/bare:        {ours['p99'] / bare_r['p99']:.2f} (target <= 2.0)")
    plain = results["no schema"]
    print(
        f"capture with/without schema check: {plain['rps'] / ours['rps']:.2f}x the time per "
        f"request ({ours['rps']:.0f} vs {plain['rps']:.0f} req/s)"
    )
    print(
        f"2xx answered {answered}, rows stored {stored}: "
        f"{'none lost' if stored >= answered else 'LOST ' + str(answered - stored)}"
    )
    locked = "yes" if "database is locked" in log else "no"
    print(f"'database is locked' in the server log: {locked}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if stored >= answered else 1


if __name__ == "__main__":
    sys.exit(main())
