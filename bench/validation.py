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
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from receiver.catalog import load_catalog  # noqa: E402
from receiver.validation import validate_against  # noqa: E402
from receiver.validation import validate_body  # noqa: E402

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


if __name__ == "__main__":
    main()
