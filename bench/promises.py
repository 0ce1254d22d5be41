"""The speed and timing promises the test suite used to assert on wall-clock time, measured.

    .venv/bin/python bench/promises.py [--only NAME]

Tests cannot hold these figures (a busy CI machine misses any wall-clock bound that a working
implementation meets on a quiet one), so they live here, each with its promise:

- ``validation``: one GitHub payload against GitHub's published draft-07 schema (615 KB,
  tests/data/octokit, MIT), median of 15, compiled schema cached: <= 5 ms;
- ``examples``: all 329 published GitHub examples against that schema: <= 10 s;
- ``backtracking``: ``^(a+)+$`` against 26, 40 and 10,000 ``a`` and a ``!`` (Python's ``re`` takes
  seconds, hours and forever; the linear-time engine answers at once): <= 100 ms each;
- ``import``: GitHub's whole webhooks document (261 webhooks, every example checked against its
  schema on the way in) through ``POST /api/catalog/import``: <= 30 s;
- ``alias-bomb``: a YAML document whose aliases expand to 10^8 strings, refused through the same
  route without expanding it: <= 10 s;
- ``scenario``: 20 captures 400 ms apart replayed at their original spacing by the background
  runner to a target on loopback: each send within 80 ms (a fifth of the spacing) of its
  planned moment, from the median start; at least 18 of 20.

Each line prints the figure, the promise and ``ok`` or ``MISSED``. The app runs in process on a
SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug import Request  # noqa: E402
from werkzeug import Response  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from receiver import create_app  # noqa: E402
from receiver.capture.request import RawRequest  # noqa: E402
from receiver.capture.request import build_row  # noqa: E402
from receiver.catalog.validation import validate_against  # noqa: E402
from receiver.storage.migrate import upgrade_database  # noqa: E402
from receiver.storage.models import utcnow  # noqa: E402
from receiver.web.serving import close_app  # noqa: E402
from receiver.web.serving import start_scenario_runner  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
OCTOKIT = DATA / "octokit"
SPACING_MS = 400


def report(name: str, figure: float, promise: float, unit: str = "") -> None:
    verdict = "ok" if figure <= promise else "MISSED"
    shown = f"{figure:>10.1f} {unit:<3}" if unit else f"{figure:>10g}    "
    print(f"{name:<44} {shown} (promise <= {promise:g} {unit})  {verdict}".replace(" )", ")"))


def timed(function: Callable[[], Any]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def github() -> tuple[dict[str, Any], list[Any]]:
    schema = json.loads(gzip.decompress((OCTOKIT / "webhooks-schemas.json.gz").read_bytes()))
    events = json.loads(
        gzip.decompress((OCTOKIT / "webhooks-examples-api.github.com.json.gz").read_bytes())
    )
    return schema, [payload for event in events for payload in event["examples"]]


def validation() -> None:
    schema, payloads = github()
    issue = copy.deepcopy(next(p for p in payloads if "issue" in p and p.get("action") == "opened"))
    validate_against(schema, issue)  # compiled once, then cached
    times = [timed(lambda: validate_against(schema, issue)) for _ in range(15)]
    report("one GitHub payload, median of 15", statistics.median(times) * 1000, 5, "ms")


def examples() -> None:
    schema, payloads = github()
    validate_against(schema, payloads[0])
    took = timed(lambda: [validate_against(schema, payload) for payload in payloads])
    report(f"all {len(payloads)} GitHub examples", took, 10, "s")


def backtracking() -> None:
    evil = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}}}
    for length in (26, 40, 10_000):
        took = timed(lambda n=length: validate_against(evil, {"name": "a" * n + "!"}))
        report(f"^(a+)+$ on {length} characters", took * 1000, 100, "ms")


def in_app(work: Callable[[Any], None]) -> None:
    """``work(app)`` with an app on a fresh SQLite file."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db",
                "SECRET_KEY": "bench",
                "RECEIVER_FORWARD_WORKER": False,
            }
        )
        try:
            upgrade_database(app)
            work(app)
        finally:
            close_app(app)


def import_document() -> None:
    data = gzip.decompress((OCTOKIT / "openapi-webhooks-api.github.com.json.gz").read_bytes())

    def work(app: Any) -> None:
        client = app.test_client()
        started = time.perf_counter()
        answer = client.post(
            "/api/catalog/import?provider=github", data=data, content_type="application/json"
        )
        took = time.perf_counter() - started
        assert answer.status_code == 201, answer.get_json()
        report("GitHub's whole webhooks document imported", took, 30, "s")

    in_app(work)


def alias_bomb() -> None:
    lines = ['openapi: "3.1.0"', "x-lol:", '  a0: &a0 ["lol"]']
    lines += [f"  a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    lines += ["webhooks:", "  boom:", "    post:", "      requestBody:", "        content:"]
    lines += ["          application/json:", "            schema: {type: object}"]
    lines += ["            example: *a8"]

    def work(app: Any) -> None:
        client = app.test_client()
        started = time.perf_counter()
        answer = client.post(
            "/api/catalog/import?provider=lol", data="\n".join(lines).encode(), content_type="x"
        )
        took = time.perf_counter() - started
        assert answer.status_code == 400, answer.get_json()
        report("a YAML alias bomb refused", took, 10, "s")

    in_app(work)


def scenario() -> None:
    arrivals: list[float] = []

    @Request.application
    def target(request: Request) -> Response:
        arrivals.append(time.monotonic())
        return Response("ok")

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, target, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def work(app: Any) -> None:
        client = app.test_client()
        bin_id = client.post("/api/bins", json={}).get_json()["id"]
        store = app.extensions["receiver.capture"]
        start = utcnow() - timedelta(minutes=5)
        for n in range(20):
            raw = RawRequest("POST", "/", "", [("Content-Type", "application/json")], b"{}")
            row = build_row(raw, bin_id, start + timedelta(milliseconds=n * SPACING_MS))
            row.update(forward_url=None, rejection=None)
            store.store(row)
        start_scenario_runner(app)
        made = client.post(
            f"/api/bins/{bin_id}/scenarios",
            json={"url": f"http://127.0.0.1:{server.server_port}/"},
        ).get_json()
        while client.get(f"/api/bins/{bin_id}/scenarios/{made['id']}").get_json()["status"] in (
            "pending",
            "running",
        ):
            time.sleep(0.5)

    try:
        in_app(work)
    finally:
        server.shutdown()
    starts = sorted(at * 1000 - n * SPACING_MS for n, at in enumerate(arrivals))
    origin = starts[len(starts) // 2]
    late = [abs(at * 1000 - n * SPACING_MS - origin) for n, at in enumerate(arrivals)]
    on_time = sum(1 for value in late if value <= SPACING_MS / 5)
    print(
        f"scenario sends off their planned moment (ms): median {statistics.median(late):.1f}, "
        f"worst {max(late):.1f}"
    )
    report(f"of {len(late)} scenario sends, late by > 80 ms", len(late) - on_time, 2)


PROMISES = {
    "validation": validation,
    "examples": examples,
    "backtracking": backtracking,
    "import": import_document,
    "alias-bomb": alias_bomb,
    "scenario": scenario,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(PROMISES), help="measure one promise")
    arguments = parser.parse_args()
    for name, measure in PROMISES.items():
        if arguments.only in (None, name):
            measure()


if __name__ == "__main__":
    main()
