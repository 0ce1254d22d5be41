"""Server time of the list, the live poll and the detail for a bin holding 100,000 requests.

    .venv/bin/python bench/large_bin.py [--requests 100000] [--database-url URL]

The bin is filled through the capture code (the capture store's group commit, in batches as a busy
server would commit them), not over HTTP. Each endpoint is then called through the WSGI app in
process, so the figures are server time without the network. Targets from the core issue: first
page <= 50 ms, poll with nothing new <= 5 ms, detail <= 30 ms. The same calls on a bin with 100
requests are the in-run baseline (the ratio shows what the size of the bin costs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from receiver import create_app  # noqa: E402
from receiver.capture.request import RawRequest  # noqa: E402
from receiver.capture.request import build_row  # noqa: E402
from receiver.storage.models import utcnow  # noqa: E402

BODY = json.dumps(
    {
        "project": {"guid": "372f4a93-e8ce-46ac-a111-44b6c3f476f4", "name": "My project"},
        "build": {"status": "failed", "platform": "ios", "file_url": None},
    }
).encode()


def fill(app, bin_id: str, count: int) -> None:
    """Store ``count`` requests through the capture store, 500 per transaction."""
    store = app.extensions["receiver.capture"]
    start = utcnow() - timedelta(hours=1)
    connection = store._new_connection(autocommit=False)
    headers = [("Host", "bench"), ("Content-Type", "application/json"), ("X-Seq", "0")]
    for offset in range(0, count, 500):
        rows = []
        for number in range(offset, min(count, offset + 500)):
            raw = RawRequest(
                method="POST" if number % 5 else "GET",
                path=f"/hooks/{number % 17}",
                query_string=f"n={number}",
                headers=headers,
                body=BODY,
                remote_addr="127.0.0.1",
            )
            rows.append(build_row(raw, bin_id, start + timedelta(microseconds=number)))
        store._transaction(connection, None, rows)


def timed(client, url: str, headers: dict[str, str], repeat: int) -> tuple[float, float]:
    """Median and best server time in ms over ``repeat`` calls (after one warm-up call)."""
    assert client.get(url, headers=headers).status_code in (200, 286)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code in (200, 286), (url, response.status_code)
    return statistics.median(samples), min(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='receiver-bench-')}/big.db"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "RECEIVER_MAX_REQUESTS_PER_BIN": args.requests * 2,
        }
    )
    client = app.test_client()
    big = client.post("/api/bins", json={"label": "big"}).get_json()["id"]
    small = client.post("/api/bins", json={"label": "small"}).get_json()["id"]
    started = time.perf_counter()
    fill(app, big, args.requests)
    fill(app, small, 100)
    print(f"filled {args.requests} requests in {time.perf_counter() - started:.1f} s ({url})")

    htmx = {"HX-Request": "true"}
    results = []
    for name, target in (("100 requests", small), (f"{args.requests} requests", big)):
        newest = client.get(f"/api/bins/{target}/requests?limit=1").get_json()["requests"][0]["id"]
        middle = client.get(f"/api/bins/{target}/requests?limit=1&before={newest - 50}")
        middle_id = middle.get_json()["requests"][0]["id"]
        checks = {
            "API first page (50)": f"/api/bins/{target}/requests",
            "inspector page": f"/bins/{target}",
            "live poll, nothing new": f"/bins/{target}/requests/poll?after={newest}",
            "API page deep (before)": f"/api/bins/{target}/requests?before={middle_id}",
            "API detail": f"/api/bins/{target}/requests/{middle_id}",
            "inspector detail": f"/bins/{target}/requests/{middle_id}",
            "filter method=GET": f"/api/bins/{target}/requests?method=GET",
            "search q=hooks/3": f"/api/bins/{target}/requests?q=hooks/3",
            "search, no match (scan)": f"/api/bins/{target}/requests?q=no-such-text",
        }
        for label, path in checks.items():
            headers = htmx if "inspector detail" in label or "poll" in label else {}
            median, best = timed(client, path, headers, args.repeat)
            results.append((name, label, median, best))
    app.extensions["receiver.capture"].close()

    print(f"{'endpoint':28} {'bin':>18} {'median ms':>10} {'best ms':>8}")
    for name, label, median, best in results:
        print(f"{label:28} {name:>18} {median:10.2f} {best:8.2f}")
    print()
    targets = {
        "API first page (50)": 50,
        "live poll, nothing new": 5,
        "API detail": 30,
        "inspector detail": 30,
        "inspector page": 50,
    }
    big_rows = {label: median for name, label, median, _ in results if name != "100 requests"}
    small_rows = {label: median for name, label, median, _ in results if name == "100 requests"}
    for label, limit in targets.items():
        verdict = "ok" if big_rows[label] <= limit else "OVER"
        ratio = big_rows[label] / small_rows[label]
        print(
            f"{label:28} {big_rows[label]:7.2f} ms (target <= {limit} ms: {verdict}); "
            f"{ratio:.2f}x the 100-request bin"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
