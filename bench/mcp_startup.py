"""CPU time of ``receiver mcp`` starting up, against what the MCP SDK's own import costs.

Each round starts ``receiver mcp`` (no receiver server is needed to start), sends MCP's
``initialize``, waits for its answer, sends ``notifications/initialized`` and ``tools/list``,
waits for the tool list, closes stdin and reads the process's user + system CPU time from
``wait4``: what an agent pays each time it starts the server. Beside it, in the same rounds:
the interpreter alone, ``import receiver`` (the package), the SDK's import
(``import mcp.server.mcpserver``, leaving without the interpreter's teardown as ``receiver mcp``
does), and the same session served by ``receiver.mcp.server.run``
without the ``receiver`` command group around it (whose own import is the difference).

    .venv/bin/python bench/mcp_startup.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
# what `receiver mcp` runs, without the `receiver` command group around it
SERVE_ONLY = (
    "import os; from receiver.mcp.server import run; run('http://127.0.0.1:9', None); os._exit(0)"
)


def cpu_of(popen: subprocess.Popen[bytes]) -> float:
    """Reap the child and return its user + system CPU seconds."""
    _, status, usage = os.wait4(popen.pid, 0)
    popen.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def serve_round(command: list[str]) -> float:
    """Start an MCP server, list its tools, close it: its CPU seconds."""
    popen = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert popen.stdin is not None and popen.stdout is not None
    for message, answer_id in ((INITIALIZE, 1), (INITIALIZED, None), (TOOLS, 2)):
        popen.stdin.write(json.dumps(message).encode() + b"\n")
        popen.stdin.flush()
        while answer_id is not None:
            line = popen.stdout.readline()
            if not line:
                raise SystemExit(f"{command} stopped before answering")
            if json.loads(line).get("id") == answer_id:
                break
    popen.stdin.close()
    popen.stdout.read()
    return cpu_of(popen)


def import_round(code: str) -> float:
    popen = subprocess.Popen([sys.executable, "-c", code])
    return cpu_of(popen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    measures = {
        "interpreter alone (python -c pass)": lambda: import_round("pass"),
        "import receiver (the package)": lambda: import_round("import receiver"),
        # the process leaves as `receiver mcp` does, without the interpreter's teardown
        "import mcp.server.mcpserver (the SDK)": lambda: import_round(
            "import os, mcp.server.mcpserver; os._exit(0)"
        ),
        "MCP module alone, initialize + tools/list": lambda: serve_round(
            [sys.executable, "-c", SERVE_ONLY]
        ),
        "receiver mcp, initialize + tools/list": lambda: serve_round(
            [str(BIN / "receiver"), "mcp", "--server", "http://127.0.0.1:9"]
        ),
    }
    figures: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            figures[name].append(measure())
    print(
        f"CPU seconds (user + system), {rounds} interleaved rounds; load {os.getloadavg()[0]:.1f}"
    )
    for name, values in figures.items():
        print(
            f"  {name:45} median {statistics.median(values):.3f}  "
            f"min {min(values):.3f}  max {max(values):.3f}"
        )


if __name__ == "__main__":
    main()
