"""Capture cost flat in the size of the work: req/s into bins of 0, 100,000 and 1,000,000
captures and into a bin at its cap, and a server's memory after many captures.

    .venv/bin/python bench/flat_cost.py [--sizes 0,100000,1000000] [--cap 100000]
        [--seconds 5] [--rounds 3] [--rss 1000000] [--database-url postgresql://…]

For each size a database of its own gets one bin filled to that many captures through the
capture store (2,000 per transaction, the text index built to the end, as a long-running server
would have it), with the bin's cap raised above them; one more bin is filled to ``--cap`` with
its cap at ``--cap``, so that every capture evicts the oldest. Each is then served by
``receiver serve --workers 2 --threads 4`` and measured with wrk in interleaved rounds (the
452-byte JSON body of capture_throughput.py): req/s, and the server's CPU µs per request. The
ratios to the empty bin are the figures (the issue's target: within 10 %).

``--rss N`` then sends N captures to a fresh server (wrk until the bin holds them) and prints
each worker's resident memory after 10,000 and after N (target: within 10 %); 0 skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from capture_throughput import ROOT
from capture_throughput import cpu_seconds
from capture_throughput import free_port
from capture_throughput import run_wrk
from capture_throughput import stop
from capture_throughput import wait_for

sys.path.insert(0, str(ROOT))
RECEIVER = Path(sys.executable).with_name("receiver")
BODY = (ROOT / "bench" / "payload.lua").read_text().split("wrk.body = '", 1)[1].rsplit("'", 1)[0]
CHUNK = 2000
RAISED_CAP = 10_000_000


def database_for(name: str, work: Path, base_url: str | None) -> tuple[str, str | None]:
    """A database URL of the case's own, and the PostgreSQL schema to drop afterwards."""
    if not base_url:
        return f"sqlite:///{work / name}.db", None
    import sqlalchemy as sa

    schema = f"receiver_flat_{name}_{os.getpid()}"
    url = "postgresql+psycopg://" + base_url.split("://", 1)[1]
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}", schema


def fill(url: str, cap: int, size: int, work: Path) -> str:
    """Migrate the database, make a bin with ``cap`` and put ``size`` captures in it."""
    os.environ.update(
        DATABASE_URL=url,
        SECRET_KEY="bench",
        RECEIVER_INSTANCE_PATH=str(work / "fill-instance"),
        RECEIVER_MAX_REQUESTS_PER_BIN=str(cap),
        RECEIVER_MAX_BYTES_PER_BIN=str(2**36),
    )
    from receiver import create_app
    from receiver.capture.analysis import analyze
    from receiver.capture.indexer import index_pending
    from receiver.capture.request import RawRequest
    from receiver.capture.request import build_row
    from receiver.storage.migrate import upgrade_database
    from receiver.storage.models import utcnow
    from receiver.web.services import services
    from receiver.web.serving import close_app

    app = create_app()
    try:
        upgrade_database(app)
        bin_id = app.test_client().post("/api/bins", json={}).get_json()["id"]
        store = services(app).capture
        headers = [("Content-Type", "application/json"), ("User-Agent", "bench")]
        raw = RawRequest("POST", "/", "", headers, BODY.encode(), "127.0.0.1")
        now = utcnow()
        target = store.lookup(bin_id, now)
        columns = analyze(
            raw, target, now, services(app).catalog_for(store.known_catalog_version()), None
        ).columns
        for start in range(0, size, CHUNK):
            rows = []
            for _ in range(min(CHUNK, size - start)):
                row = build_row(raw, bin_id, utcnow()) | columns
                row.update(forward_url=None, rejection=None)
                rows.append(row)
            store.store_batch(rows)
        with app.app_context():
            while index_pending(services(app).engine, services(app).write_lock, limit=2000):
                pass
    finally:
        close_app(app)
    return bin_id


def serve(url: str, cap: int, work: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECEIVER_", "DATABASE"))}
    env.update(
        DATABASE_URL=url,
        SECRET_KEY="bench",
        RECEIVER_INSTANCE_PATH=str(work / f"{name}-instance"),
        RECEIVER_MAX_REQUESTS_PER_BIN=str(cap),
        RECEIVER_MAX_BYTES_PER_BIN=str(2**36),
    )
    argv = [str(RECEIVER), "serve", "--workers", "2", "--threads", "4"]
    process = subprocess.Popen(
        [*argv, "--bind", f"127.0.0.1:{port}"],
        env=env,
        cwd=work,
        stdout=(work / f"{name}.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(base + "/")
    return process, base


def bin_count(base: str, bin_id: str) -> int:
    with urllib.request.urlopen(f"{base}/api/bins/{bin_id}") as answer:
        return int(json.loads(answer.read())["request_count"])


def rss_kib(process: subprocess.Popen[bytes]) -> list[int]:
    """Resident memory of each worker of a ``receiver serve`` (the master's children)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = (Path("/proc") / entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(process.pid):
            found.append(int(fields["VmRSS"].split()[0]))
    return sorted(found)


def measure_rss(url: str, work: Path, captures: int, args: Any) -> None:
    bin_id = fill(url, RAISED_CAP, 0, work)
    process, base = serve(url, RAISED_CAP, work, "rss")
    try:
        marks: dict[int, list[int]] = {}
        for mark in (10_000, captures):
            while bin_count(base, bin_id) < mark:
                run_wrk(f"{base}/b/{bin_id}", args.seconds, 32)
            time.sleep(2)  # the indexer catches up; its memory counts too
            marks[mark] = rss_kib(process)
        first, last = marks[10_000], marks[captures]
        print(f"worker RSS after 10,000 captures: {first} KiB; after {captures:,}: {last} KiB")
        ratio = sum(last) / sum(first)
        print(f"memory after {captures:,} / after 10,000: {ratio:.3f}")
    finally:
        stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,100000,1000000")
    parser.add_argument("--cap", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rss", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="PostgreSQL; a SQLite file per case otherwise")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="receiver-flat-"))
    cases = [(f"{int(size):,} captures", int(size), RAISED_CAP) for size in args.sizes.split(",")]
    cases.append((f"at its cap ({args.cap:,})", args.cap, args.cap))
    schemas: list[str] = []
    servers: list[tuple[str, subprocess.Popen[bytes], str, list[dict[str, float]]]] = []
    try:
        for index, (label, size, cap) in enumerate(cases):
            url, schema = database_for(f"case{index}", work, args.database_url)
            schemas += [schema] if schema else []
            started = time.monotonic()
            bin_id = fill(url, cap, size, work)
            print(f"filled {label} in {time.monotonic() - started:.0f} s", flush=True)
            process, base = serve(url, cap, work, f"case{index}")
            servers.append((label, process, f"{base}/b/{bin_id}", []))
        for _, _, url, _ in servers:  # warm-up
            run_wrk(url, 2, 32)
        for _ in range(args.rounds):
            for _, process, url, rounds in servers:
                before = cpu_seconds(process.pid)
                result = run_wrk(url, args.seconds, 32)
                result["cpu_us"] = (cpu_seconds(process.pid) - before) * 1e6 / result["requests"]
                rounds.append(result)
    finally:
        for _, process, _, _ in servers:
            stop(process)
    print(
        f"receiver serve 2x4, wrk -c32, {args.rounds} interleaved rounds of {args.seconds} s, "
        f"{'PostgreSQL' if args.database_url else 'SQLite'} (medians)"
    )
    base_rps = statistics.median(r["rps"] for r in servers[0][3])
    base_cpu = statistics.median(r["cpu_us"] for r in servers[0][3])
    print(f"{'bin holding':24} {'req/s':>8} {'vs empty':>9} {'CPU us/req':>11} {'vs empty':>9}")
    for label, _, _, rounds in servers:
        rps = statistics.median(r["rps"] for r in rounds)
        cpu = statistics.median(r["cpu_us"] for r in rounds)
        print(f"{label:24} {rps:8.0f} {rps / base_rps:9.2f} {cpu:11.0f} {cpu / base_cpu:9.2f}")
    if args.rss:
        url, schema = database_for("rss", work, args.database_url)
        schemas += [schema] if schema else []
        measure_rss(url, work, args.rss, args)
    if args.database_url and schemas:
        import sqlalchemy as sa

        engine = sa.create_engine("postgresql+psycopg://" + args.database_url.split("://", 1)[1])
        with engine.begin() as connection:
            for schema in schemas:
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
