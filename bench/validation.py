"""Cost of validating each Appery example body, against JSON parsing alone as the baseline.

Run: .venv/bin/python bench/validation.py [--number N]

For every Appery example, best of 5 repeats (the measurements of one row are interleaved, so
a busy machine skews them alike), in microseconds per payload:
- parse: ``json.loads`` of the body, the in-run baseline;
- body: ``validate_body``: parse + detect + validate + undeclared-field warnings, with the
  compiled validators cached (warmed up before timing); ratio = body / parse;
- compiled / jsonschema: ``validate_against`` of the parsed payload alone, by the compiled
  fast path and by the general jsonschema path (``fast=False``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from receiver import create_app  # noqa: E402
from receiver.capture.analysis import analyze  # noqa: E402
from receiver.capture.request import RawRequest  # noqa: E402
from receiver.capture.request import build_row  # noqa: E402
from receiver.catalog.model import Catalog  # noqa: E402
from receiver.catalog.model import load_catalog  # noqa: E402
from receiver.catalog.validation import validate_against  # noqa: E402
from receiver.catalog.validation import validate_body  # noqa: E402
from receiver.storage.models import utcnow  # noqa: E402

REPEATS = 5


def best_us(calls: list[Callable[[], object]], number: int) -> list[float]:
    """Best-of-REPEATS microseconds per call for each callable, measured interleaved."""
    best = [float("inf")] * len(calls)
    for _ in range(REPEATS):
        for index, call in enumerate(calls):
            elapsed = timeit.timeit(call, number=number)
            best[index] = min(best[index], elapsed / number * 1e6)
    return best


def main() -> None:
    """Print one row per Appery event and the median ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000, help="calls per repeat")
    args = parser.parse_args()
    catalog = load_catalog()
    header = f"{'event':32} {'bytes':>5} {'parse':>7} {'body':>7} {'ratio':>6}"
    print(header + f" {'compiled':>9} {'jsonschema':>11}   (µs per payload)")
    ratios = []
    for event in catalog.providers["appery"].events.values():
        body = json.dumps(event.example, indent=4).encode()
        payload = json.loads(body)
        result = validate_body(catalog, body)
        assert result.status == "valid" and not result.warnings, result.to_dict()
        assert validate_against(event.schema, payload, fast=False) == ([], [])
        parse, full, fast, general = best_us(
            [
                partial(json.loads, body),
                partial(validate_body, catalog, body),
                partial(validate_against, event.schema, payload),
                partial(validate_against, event.schema, payload, fast=False),
            ],
            args.number,
        )
        ratios.append(full / parse)
        print(
            f"{event.id:32} {len(body):5d} {parse:7.1f} {full:7.1f} {full / parse:6.1f}"
            f" {fast:9.1f} {general:11.1f}"
        )
    print(f"median ratio body/parse: {statistics.median(ratios):.1f}")
    capture_ratio(catalog, args.number)


def capture_ratio(catalog: Catalog, number: int) -> None:
    """Capture cost per request with and without the derived columns (detection, validation,
    signature check), the storage included: rows committed 50 to a transaction, as the group
    commit does under load, into a real SQLite file."""
    event = catalog.get("appery", "PROJECT_BUILD_IOS_FAIL")
    body = json.dumps(event.example, indent=4).encode()
    raw = RawRequest(
        method="POST",
        path="/hooks",
        query_string="",
        headers=[("Host", "bench"), ("Content-Type", "application/json")],
        body=body,
        remote_addr="127.0.0.1",
    )
    folder = Path(tempfile.mkdtemp(prefix="receiver-bench-"))
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.db'}",
            "SECRET_KEY": "bench",
            "RECEIVER_FORWARD_WORKER": False,
            "RECEIVER_MAX_REQUESTS_PER_BIN": 10_000_000,
        }
    )
    store = app.extensions["receiver.capture"]
    bin_id = app.test_client().post("/api/bins", json={}).get_json()["id"]
    target = store.lookup(bin_id, utcnow())
    connection = store._new_connection(autocommit=False)

    def rows(analysed: bool, count: int) -> list[dict[str, object]]:
        made = []
        for _ in range(count):
            now = utcnow()
            row = build_row(raw, bin_id, now)
            if analysed:
                row.update(analyze(raw, target, now, catalog, "http://bench/b/x").columns)
            made.append(row)
        return made

    def capture(analysed: bool) -> None:
        store._transaction(connection, None, rows(analysed, 50))

    plain, full = best_us([partial(capture, False), partial(capture, True)], max(1, number // 100))
    plain, full = plain / 50, full / 50
    print()
    print("capture of PROJECT_BUILD_IOS_FAIL (row + commit, 50 rows per transaction), µs/request:")
    print(f"  without derived columns {plain:7.1f}")
    print(f"  with detection, validation and signature check {full:7.1f}")
    print(f"  ratio with/without: {full / plain:.2f}")
    store.close()


if __name__ == "__main__":
    main()
