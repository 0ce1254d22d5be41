"""Where a capture's CPU goes in a running server, sorted into parts by py-spy, before and after.

    .venv/bin/python bench/capture_profile.py [--seconds 10] [--rate 250] [--against DIR]
        [--database-url postgresql://…]

Starts ``receiver serve --workers 2 --threads 4`` of this checkout (and of ``--against``, another
checkout with its own ``.venv``, one after the other), loads it with wrk as ``peers.py`` does (a
different 470-byte Appery body per request), and records every worker with ``py-spy record
--gil --subprocesses`` (only the thread holding the GIL is sampled: CPU spent in Python, not
waiting). Each sampled stack is given to one part by its frames, leaf first:

- HTTP parse: gunicorn's ``http`` package (request line, headers, body reader);
- server loop: the rest of gunicorn (accepting, polling, handing to threads, writing answers);
- Flask and Werkzeug: routing, request and response objects, contexts;
- analysis: the catalog (detection, validation, signatures) and ``capture/analysis.py``;
- storage: the capture store, SQLAlchemy, the database drivers (bin lookup, row building,
  commit and its coordination);
- receiver's ingest glue and answer: the rest of ``receiver/web`` and ``receiver/capture``;
- background threads: indexer, forwarder, scenario runner, feed watcher, checkpoints;
- other: whatever matched none (the interpreter's own, the standard library at top level).

Each part's µs per request is its share of the samples times the server's CPU per request in
the same window (``/proc``): an estimate (work done without the GIL, in SQLite's C code or in
system calls, is spread over the parts in proportion), good for seeing what moved between two
checkouts measured the same way. Needs wrk (Debian) and py-spy (PyPI, in the dev extras).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from capture_throughput import ROOT
from capture_throughput import cpu_seconds
from capture_throughput import run_wrk
from capture_throughput import stop
from peers import start_receiver

# (part, substrings of a frame's file), tried from the leaf frame to the root
PARTS = (
    ("HTTP parse", ("gunicorn/http/",)),
    ("analysis", ("receiver/catalog/", "capture/analysis.py", "jsonschema")),
    (
        "storage",
        ("capture/store.py", "capture/statements.py", "sqlalchemy/", "psycopg", "sqlite3/"),
    ),
    ("Flask and Werkzeug", ("flask/", "werkzeug/")),
    ("receiver's ingest glue and answer", ("receiver/",)),
    ("server loop", ("gunicorn/",)),
)
# a stack with any of these frames belongs to a background thread, whatever its leaf
BACKGROUND = (
    "capture/indexer.py",
    "delivery/forwarding.py",
    "delivery/scenarios.py",
    "capture/feed.py",
    "storage/checkpoints.py",
    "catalog/isolation.py",
)


def part_of(frames: list[str]) -> str:
    """The part a stack (root first) belongs to."""
    if any(marker in frame for frame in frames for marker in BACKGROUND):
        return "background threads"
    for frame in reversed(frames):
        for part, markers in PARTS:
            if any(marker in frame for marker in markers):
                return part
    return "other"


def record(
    py_spy: str, pid: int, seconds: int, raw: Path, *, rate: int = 250
) -> subprocess.Popen[bytes]:
    """``py-spy record --gil`` of a server's workers (the children of ``pid``) for
    ``seconds``, into ``raw`` in py-spy's raw (collapsed) format."""
    argv = [py_spy, "record", "--pid", str(pid), "--subprocesses", "--gil", "--nonblocking"]
    argv += ["--rate", str(rate), "--duration", str(seconds), "--format", "raw"]
    argv += ["--output", str(raw)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def read_stacks(raw: Path) -> Iterator[tuple[str, int]]:
    """py-spy's raw (collapsed) output: ``frame;frame;... count`` per line (the first frame is
    the process, then its thread: py-spy's own labels)."""
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack, int(count)


def read_samples(raw: Path) -> Counter[str]:
    """Samples by part."""
    parts: Counter[str] = Counter()
    for stack, count in read_stacks(raw):
        parts[part_of(stack.split(";"))] += count
    return parts


def profile(checkout: Path, args: argparse.Namespace, work: Path) -> tuple[Counter[str], float]:
    """Samples by part, and the server's CPU µs per request in the recorded window."""
    server, _ = start_receiver(work, args.database_url, checkout=checkout)
    try:
        run_wrk(server.url, 2, args.connections, server.script)  # warm-up
        raw = work / f"{checkout.name}.raw"
        spy = record(args.py_spy, server.process.pid, args.seconds, raw, rate=args.rate)
        time.sleep(1)  # py-spy attaches to the workers
        before = cpu_seconds(server.process.pid)
        result = run_wrk(server.url, args.seconds - 2, args.connections, server.script)
        used = cpu_seconds(server.process.pid) - before
        spy.wait(args.seconds + 30)
    finally:
        stop(server.process)
    return read_samples(raw), used * 1e6 / max(result["requests"], 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--against", type=Path, help="another checkout of receiver to compare")
    parser.add_argument("--database-url", help="receiver on PostgreSQL (SQLite by default)")
    # the virtualenv's own py-spy (a dev extra) when the venv is not on PATH
    beside = Path(sys.executable).parent / "py-spy"
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or str(beside))
    args = parser.parse_args()
    if not shutil.which("wrk") or not shutil.which(args.py_spy):
        print("needs wrk (apt-get install wrk) and py-spy (pip install py-spy)", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("note: py-spy needs ptrace rights (root, or CAP_SYS_PTRACE)", file=sys.stderr)
    checkouts = [("this checkout", ROOT)]
    if args.against:
        checkouts.append((str(args.against), args.against.resolve()))
    results = []
    for name, checkout in checkouts:
        with tempfile.TemporaryDirectory(prefix="receiver-profile-") as work:
            results.append((name, *profile(checkout, args, Path(work))))
    names = [part for part, _ in PARTS] + ["background threads", "other"]
    print(
        f"µs of server CPU per capture by part (py-spy --gil shares x CPU per request), "
        f"wrk -c{args.connections}, {args.seconds} s, "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}"
    )
    print(f"{'':36}" + "".join(f"{name[:22]:>24}" for name, *_ in results))
    for part in names:
        cells = ""
        for _, samples, per_request in results:
            total = sum(samples.values()) or 1
            share = samples[part] / total
            cells += f"{share * per_request:>15.0f} ({share:5.1%})"
        print(f"{part:36}{cells}")
    print(f"{'whole server (/proc)':36}" + "".join(f"{r[2]:>24.0f}" for r in results))
    print(f"{'samples':36}" + "".join(f"{sum(r[1].values()):>24}" for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
