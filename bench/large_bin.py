"""Server time of the list, the searches and the details for a bin holding 100,000 requests.

    .venv/bin/python bench/large_bin.py [--requests 100000] [--database-url URL] [--repeat 30]

The bin is filled through the capture store (in transactions of 500, as a busy server's group
commit would write them) with a mix of JSON events, forms, XML and binary bodies, plus one 6 MiB
JSON body, then the text indexer runs to the end, as the serving processes' background indexer
would. Each endpoint is called through the WSGI app in process, so the figures are server time
without the network. The same calls on a 100-request bin are the in-run baseline: the ratio shows
what the size of the bin costs.

Targets (issue 8): any search <= 50 ms, the first list page <= 50 ms, the detail of a 6 MiB body
<= 30 ms; and from the core issue, a poll with nothing new <= 5 ms.

With ``--database-url postgresql://...`` the run uses a schema of its own in that database,
migrated first and dropped at the end; without it, a SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from receiver import create_app  # noqa: E402
from receiver.capture.indexer import index_pending  # noqa: E402
from receiver.capture.request import RawRequest  # noqa: E402
from receiver.capture.request import build_row  # noqa: E402
from receiver.storage.db import db  # noqa: E402
from receiver.storage.migrate import upgrade_database  # noqa: E402
from receiver.storage.models import SearchQueue  # noqa: E402
from receiver.storage.models import utcnow  # noqa: E402
from receiver.web.services import services  # noqa: E402
from receiver.web.serving import close_app  # noqa: E402

JSON_BODY = json.dumps(
    {
        "project": {"guid": "372f4a93-e8ce-46ac-a111-44b6c3f476f4", "name": "My project"},
        "build": {"status": "failed", "platform": "ios", "file_url": None},
    }
).encode()
FORM_BODY = b"name=Grace+Hopper&lang=en&note=caf%C3%A9"
XML_BODY = b'<?xml version="1.0"?><order id="7"><item sku="A-1">tea</item></order>'
BINARY_BODY = bytes(range(256)) * 4
HUGE_BYTES = 6 * 1024 * 1024
TARGETS = {
    "API first page (50)": 50,
    "inspector list partial": 50,
    "inspector page": 50,
    "live poll, nothing new": 5,
    "search, no match (API)": 50,
    "search, no match (inspector)": 50,
    "search, 2 chars, no match": 50,
    "search, common word": 50,
    "search, decoded query": 50,
    "inspector detail, 6 MiB body": 30,
    "API detail, 6 MiB body, body=head": 30,
}


def raw_request(number: int) -> RawRequest:
    """The ``number``-th request of the mix: mostly JSON, some forms, XML and binary."""
    kind = number % 10
    headers = [("Host", "bench"), ("User-Agent", "bench/1.0"), ("X-Seq", str(number))]
    if kind < 7:
        headers.append(("Content-Type", "application/json"))
        body = JSON_BODY
    elif kind == 7:
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        body = FORM_BODY
    elif kind == 8:
        headers.append(("Content-Type", "application/xml"))
        body = XML_BODY
    else:
        headers.append(("Content-Type", "application/octet-stream"))
        body = BINARY_BODY
    return RawRequest(
        method="POST" if number % 5 else "GET",
        path=f"/hooks/{number % 17}",
        query_string=f"n={number}&who=ada%20lovelace" if number == 1 else f"n={number}",
        headers=headers,
        body=body,
        remote_addr="127.0.0.1",
    )


def huge_request() -> RawRequest:
    """A 6 MiB JSON array: the worst body to render."""
    items = []
    size = 2
    number = 0
    while size < HUGE_BYTES:
        item = json.dumps({"n": number, "text": "lorem ipsum dolor sit amet " * 3})
        items.append(item)
        size += len(item) + 2
        number += 1
    body = ("[" + ", ".join(items) + "]").encode()
    headers = [("Host", "bench"), ("Content-Type", "application/json")]
    return RawRequest("POST", "/huge", "", headers, body, "127.0.0.1")


def fill(app: Any, bin_id: str, count: int) -> None:
    """Store ``count`` requests through the capture store, 500 per transaction."""
    start = utcnow() - timedelta(hours=1)
    for offset in range(0, count, 500):
        rows = []
        for number in range(offset, min(count, offset + 500)):
            row = build_row(raw_request(number), bin_id, start + timedelta(microseconds=number))
            row.update(forward_url=None, rejection=None)
            rows.append(row)
        services(app).capture.store_batch(rows)


def store_one(app: Any, bin_id: str, raw: RawRequest) -> int:
    row = build_row(raw, bin_id, utcnow())
    row.update(forward_url=None, rejection=None)
    return services(app).capture.store(row).id


def index_everything(app: Any) -> None:
    """Run the text indexer to the end, as the background indexer would; on PostgreSQL, then
    gather the planner's statistics, as autovacuum does by itself after a bulk of inserts.

    Without them the planner takes a bin's 100,000 rows for about a thousand and answers a
    search of a common word with the trigram index (200 ms) instead of walking the newest rows
    (3 ms).
    """
    with app.app_context():
        # another indexer on the same database (the election is database-wide) makes a round
        # take nothing: wait for the queue to be empty rather than for one empty round
        while db.session.scalar(sa.select(sa.func.count()).select_from(SearchQueue)):
            db.session.rollback()
            if not index_pending(db.engine, services(app).write_lock, limit=2000):
                time.sleep(0.05)
        db.session.rollback()
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")


def timed(client: Any, url: str, headers: dict[str, str], repeat: int) -> tuple[float, float]:
    """Median and best server time in ms over ``repeat`` calls (after one warm-up call)."""
    assert client.get(url, headers=headers).status_code == 200, url
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples), min(samples)


def postgres_schema(url: str) -> tuple[str, str]:
    """A fresh schema of this run's own in the PostgreSQL database at ``url``."""
    base = "postgresql+psycopg://" + url.split("://", 1)[1]
    schema = f"receiver_bench_{os.getpid()}"
    engine = sa.create_engine(base)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema},public", schema


def drop_schema(url: str, schema: str) -> None:
    engine = sa.create_engine("postgresql+psycopg://" + url.split("://", 1)[1])
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    schema = None
    if args.database_url and args.database_url.startswith("postgres"):
        url, schema = postgres_schema(args.database_url)
    else:
        folder = tempfile.mkdtemp(prefix="receiver-bench-")
        url = args.database_url or f"sqlite:///{folder}/big.db"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "RECEIVER_MAX_REQUESTS_PER_BIN": args.requests * 2,
            "RECEIVER_MAX_BYTES_PER_BIN": 1 << 40,
            "RECEIVER_FORWARD_WORKER": False,
        }
    )
    try:
        upgrade_database(app)
        return run(app, args, url)
    finally:
        close_app(app)
        if schema is not None:
            drop_schema(args.database_url, schema)


def run(app: Any, args: argparse.Namespace, url: str) -> int:
    client = app.test_client()
    big = client.post("/api/bins", json={"label": "big"}).get_json()["id"]
    small = client.post("/api/bins", json={"label": "small"}).get_json()["id"]
    started = time.perf_counter()
    fill(app, big, args.requests)
    fill(app, small, 100)
    huge = {big: store_one(app, big, huge_request()), small: store_one(app, small, huge_request())}
    for bin_id in (big, small):  # the huge one is not the newest: the first page stays typical
        fill_tail = [raw_request(n) for n in range(3)]
        for raw in fill_tail:
            store_one(app, bin_id, raw)
    filled = time.perf_counter() - started
    started = time.perf_counter()
    index_everything(app)
    print(
        f"filled {args.requests} requests in {filled:.1f} s, indexed in "
        f"{time.perf_counter() - started:.1f} s ({url.split('?')[0]})"
    )

    htmx = {"HX-Request": "true"}
    results = []
    for name, target in (("100 requests", small), (f"{args.requests} requests", big)):
        listed = client.get(f"/api/bins/{target}/requests?limit=1").get_json()["requests"]
        newest = listed[0]["seq"]
        middle = client.get(f"/api/bins/{target}/requests?limit=1&before={listed[0]['id'] - 50}")
        middle_id = middle.get_json()["requests"][0]["id"]
        checks = {
            "API first page (50)": (f"/api/bins/{target}/requests", {}),
            "inspector list partial": (f"/bins/{target}/requests", htmx),
            "inspector page": (f"/bins/{target}", {}),
            "live poll, nothing new": (f"/bins/{target}/requests/poll?after={newest}", htmx),
            "API page deep (before)": (f"/api/bins/{target}/requests?before={middle_id}", {}),
            "API detail": (f"/api/bins/{target}/requests/{middle_id}", {}),
            "inspector detail": (f"/bins/{target}/requests/{middle_id}", htmx),
            "inspector detail, 6 MiB body": (f"/bins/{target}/requests/{huge[target]}", htmx),
            "API detail, 6 MiB body, body=head": (
                f"/api/bins/{target}/requests/{huge[target]}?body=head",
                {},
            ),
            "API detail, 6 MiB body, full": (f"/api/bins/{target}/requests/{huge[target]}", {}),
            "filter method=GET": (f"/api/bins/{target}/requests?method=GET", {}),
            "search, no match (API)": (f"/api/bins/{target}/requests?q=no-such-text", {}),
            "search, no match (inspector)": (f"/bins/{target}/requests?q=no-such-text", htmx),
            "search, 2 chars, no match": (f"/api/bins/{target}/requests?q=%7E%7E", {}),
            "search, common word": (f"/api/bins/{target}/requests?q=hooks/3", {}),
            "search, decoded query": (f"/api/bins/{target}/requests?q=ada+lovelace", {}),
        }
        for label, (path, headers) in checks.items():
            median, best = timed(client, path, headers, args.repeat)
            results.append((name, label, median, best))

    print(f"{'endpoint':36} {'bin':>18} {'median ms':>10} {'best ms':>8}")
    for name, label, median, best in results:
        print(f"{label:36} {name:>18} {median:10.2f} {best:8.2f}")
    print()
    big_rows = {label: median for name, label, median, _ in results if name != "100 requests"}
    small_rows = {label: median for name, label, median, _ in results if name == "100 requests"}
    over = 0
    for label, limit in TARGETS.items():
        verdict = "ok" if big_rows[label] <= limit else "OVER"
        over += verdict == "OVER"
        ratio = big_rows[label] / small_rows[label]
        print(
            f"{label:36} {big_rows[label]:7.2f} ms (target <= {limit} ms: {verdict}); "
            f"{ratio:.2f}x the 100-request bin"
        )
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
