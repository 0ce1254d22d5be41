"""How long an OpenAPI import holds a request thread: parsing and planning GitHub's published
webhooks document (tests/data/octokit) as JSON and as YAML, as published and at the limits
(16 MiB for JSON, 8 MiB for YAML; YAML at 16 MiB too, as it was before YAML had its own
limit), with PyYAML's C loader (libyaml, what receiver uses) and, as published, its pure-Python
loader (what it used before).

The larger documents are GitHub's webhooks repeated under new names up to the size. Each figure
is the best of ``--rounds`` runs, in CPU seconds of this process (on a shared machine the wall
clock says more about the neighbours; the thread is held at least this long) and wall seconds.

    .venv/bin/python bench/import_yaml.py [--rounds 3] [--skip-pure]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from receiver.catalog import importing

ROOT = Path(__file__).resolve().parents[1]
GITHUB = ROOT / "tests" / "data" / "octokit" / "openapi-webhooks-api.github.com.json.gz"


def best(rounds: int, work: Callable[[], Any]) -> tuple[float, float]:
    """The shortest CPU and wall-clock seconds of ``rounds`` runs of ``work``."""
    cpu, wall = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        work()
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return min(cpu), min(wall)


class _Dumper(yaml.CSafeDumper):
    """Writes repeated objects out in full (no anchors: the import would count them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(document: dict[str, Any]) -> bytes:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False).encode()


def dump_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def repeated(
    document: dict[str, Any], limit: int, dump: Callable[[dict[str, Any]], bytes]
) -> bytes:
    """The document with its webhooks repeated under new names as often as fits in ``limit``."""

    def with_copies(copies: int) -> dict[str, Any]:
        webhooks = {
            f"{name}-{copy}" if copy else name: item
            for copy in range(copies)
            for name, item in document["webhooks"].items()
        }
        return {**document, "webhooks": webhooks}

    base = len(dump(with_copies(0)))
    each = len(dump(with_copies(1))) - base
    copies = max(1, (limit - base) // each)
    while len(data := dump(with_copies(copies))) > limit:
        copies -= 1
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-pure", action="store_true", help="leave out the pure loader")
    args = parser.parse_args()

    github = json.loads(gzip.decompress(GITHUB.read_bytes()))
    small_json, small_yaml = dump_json(github), dump_yaml(github)
    big_json = repeated(github, importing.MAX_DOCUMENT_BYTES, dump_json)
    limit_yaml = repeated(github, importing.MAX_YAML_BYTES, dump_yaml)
    big_yaml = repeated(github, importing.MAX_DOCUMENT_BYTES, dump_yaml)

    print(f"PyYAML {yaml.__version__}, libyaml: {yaml.__with_libyaml__}")
    rows: list[tuple[str, int, tuple[float, float]]] = []

    def measure(label: str, data: bytes, loader: type[yaml.SafeLoader] | None = None) -> None:
        def work() -> None:
            if data.lstrip().startswith(b"{"):
                importing.parse_document(data)
            else:  # past the YAML limit too
                importing._parse_yaml(data.decode())

        rows.append((label, len(data), best(args.rounds, work)))

    measure("JSON, GitHub's document", small_json)
    measure("YAML, GitHub's document, C loader", small_yaml)
    if not args.skip_pure:
        rows.append(
            (
                "YAML, GitHub's document, pure-Python loader (before)",
                len(small_yaml),
                best(1, lambda: yaml.load(small_yaml, Loader=yaml.SafeLoader)),
            )
        )
    measure("JSON at the limit", big_json)
    measure("YAML at the YAML limit, C loader", limit_yaml)
    measure("YAML at the JSON limit, C loader (before the YAML limit)", big_yaml)
    planned = importing.parse_document(small_yaml)
    rows.append(
        (
            "planning GitHub's 261 webhooks (bundling, examples)",
            len(small_yaml),
            best(args.rounds, lambda: importing.plan_import(planned)),
        )
    )
    width = max(len(label) for label, _, _ in rows)
    print(f"{'':<{width}}  {'size':>10}  {'CPU':>8}  {'wall':>8}")
    for label, size, (cpu, wall) in rows:
        print(f"{label:<{width}}  {size / 1024 / 1024:6.1f} MiB  {cpu:6.2f} s  {wall:6.2f} s")


if __name__ == "__main__":
    main()
