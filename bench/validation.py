"""Microseconds per payload to validate: before (the ``jsonschema`` package, as receiver used
until jsonschema-rs) and after (receiver's ``validate_against`` on jsonschema-rs), in one run.

Run: .venv/bin/python bench/validation.py [--number N]

Two workloads:
- the shipped catalog: every event's example against its own schema (draft 2020-12, formats
  asserted), one row per provider;
- a large user schema: GitHub's published webhook schema (``@octokit/webhooks-schemas``,
  draft-07, 615 KB, tests/data/octokit, MIT) against every ``--sample``-th of its 329
  published examples, one pass (jsonschema takes a few hundred ms per payload there).

"before" is ``jsonschema``'s validator for the schema's draft with its format checker, listing
every error (``iter_errors``), which is what a verdict with paths needs; "after" is the same
verdict from receiver (validity, paths, keywords, closest-branch errors, undeclared-field
warnings). Each catalog figure is the best of 3 repeats, payloads interleaved, compiled
schemas cached (compiled once before timing); the last column is before / after.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from receiver.catalog.model import load_catalog  # noqa: E402
from receiver.catalog.validation import validate_against  # noqa: E402

OCTOKIT = Path(__file__).resolve().parent.parent / "tests" / "data" / "octokit"
REPEATS = 3


def before(schema: dict[str, Any]) -> Callable[[Any], int]:
    """jsonschema's validator for the schema's draft, formats asserted, every error listed."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return lambda payload: sum(1 for _ in validator.iter_errors(payload))


def after(schema: dict[str, Any]) -> Callable[[Any], int]:
    """receiver's verdict on jsonschema-rs."""
    return lambda payload: len(validate_against(schema, payload)[0])


def per_payload(
    cases: list[tuple[Callable[[Any], int], Any]], number: int, repeats: int = REPEATS
) -> float:
    """Best of ``repeats``, in microseconds per payload."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(number):
            for check, payload in cases:
                check(payload)
        best = min(best, (time.perf_counter() - started) / (number * len(cases)))
    return best * 1e6


def row(
    name: str, pairs: list[tuple[dict[str, Any], Any]], number: int, repeats: int = REPEATS
) -> None:
    compiled_before = {id(schema): before(schema) for schema, _ in pairs}
    compiled_after = {id(schema): after(schema) for schema, _ in pairs}
    old = [(compiled_before[id(schema)], payload) for schema, payload in pairs]
    new = [(compiled_after[id(schema)], payload) for schema, payload in pairs]
    for check, payload in old + new:  # warm up (compile lazily built parts)
        check(payload)
    slow, fast = per_payload(old, number, repeats), per_payload(new, number, repeats)
    print(f"{name:<34} {len(pairs):>5} {slow:>12.1f} {fast:>10.1f} {slow / fast:>8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20, help="passes over the payloads")
    parser.add_argument(
        "--sample", type=int, default=8, help="every Nth GitHub example (jsonschema is slow)"
    )
    arguments = parser.parse_args()
    number = arguments.number

    catalog = load_catalog()
    print(f"{'workload':<34} {'cases':>5} {'before µs':>12} {'after µs':>10} {'speed-up':>9}")
    for provider in catalog.providers.values():
        pairs = [
            (event.schema, event.example)
            for event in catalog.events()
            if event.provider_id == provider.id and event.example is not None
        ]
        if pairs:
            row(f"shipped: {provider.id}", pairs, number)

    github = json.loads(gzip.decompress((OCTOKIT / "webhooks-schemas.json.gz").read_bytes()))
    examples = json.loads(
        gzip.decompress((OCTOKIT / "webhooks-examples-api.github.com.json.gz").read_bytes())
    )
    payloads = [payload for event in examples for payload in event["examples"]]
    sample = payloads[:: arguments.sample]
    row(
        f"user: GitHub webhooks, {len(payloads)}/{arguments.sample}",
        [(github, p) for p in sample],
        1,
        1,
    )


if __name__ == "__main__":
    main()
