"""Fail when a module ranks below B for maintainability, or a function, method or class above C
for cyclomatic complexity, as radon measures them (``radon mi`` and ``radon cc``).

Run: .venv/bin/python .ci/complexity.py receiver   (``make lint`` does)

Prints each offender with its figure; exits 1 when there is one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from radon.complexity import cc_rank
from radon.complexity import cc_visit
from radon.complexity import sorted_results
from radon.metrics import mi_rank
from radon.metrics import mi_visit

WORST_MODULE = "B"  # maintainability index 10 and above
WORST_FUNCTION = "C"  # cyclomatic complexity 20 and below


def offenders(root: Path) -> list[str]:
    """Every module and block of ``root`` that ranks below the bar, in words."""
    found = []
    for path in sorted(root.rglob("*.py")):
        code = path.read_text(encoding="utf-8")
        # multi-line strings count as comments, as ``radon mi`` counts them by default
        index = mi_visit(code, multi=True)
        if mi_rank(index) > WORST_MODULE:
            found.append(f"{path}: maintainability {mi_rank(index)} ({index:.1f})")
        for block in sorted_results(cc_visit(code)):
            rank = cc_rank(block.complexity)
            if rank > WORST_FUNCTION:
                where = f"{path}:{block.lineno} {block.fullname}"
                found.append(f"{where}: complexity {rank} ({block.complexity})")
    return found


def main() -> int:
    roots = [Path(arg) for arg in sys.argv[1:]] or [Path("receiver")]
    found = [line for root in roots for line in offenders(root)]
    for line in found:
        print(line)
    if found:
        print(
            f"{len(found)} over the bar: modules at maintainability {WORST_MODULE} or better, "
            f"functions at complexity {WORST_FUNCTION} or better (radon)"
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
