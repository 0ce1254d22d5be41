"""CPU time of the ``receiver`` command's start, as a user gets it: each command run by
``/usr/bin/time`` from a virtualenv (``--venv``, default ``.venv``) in an empty folder with an
empty instance folder (no database), against a loopback server started here.

For the figure from a clean install: ``python -m venv /tmp/v && /tmp/v/bin/pip install .``, then
``.venv/bin/python bench/startup.py --venv /tmp/v``; give two with ``--against`` for a before and
after in the same run (rounds interleaved).

    .venv/bin/python bench/startup.py [--venv DIR] [--against DIR] [--rounds 7]
"""

from __future__ import annotations

import argparse
import http.server
import json
import statistics
import subprocess
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _Target(http.server.BaseHTTPRequestHandler):
    """200 to every POST (a send's target); 404 to the rest (a bin that does not exist)."""

    def _answer(self, status: int, body: bytes) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self._answer(200, b"{}")

    def do_PUT(self) -> None:
        error = {"error": {"code": "not_found", "message": "no such bin"}}
        self._answer(404, json.dumps(error).encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


def commands(base: str) -> dict[str, list[str]]:
    return {
        "receiver --help": ["--help"],
        "receiver send --help": ["send", "--help"],
        "receiver listen --help": ["listen", "--help"],
        "receiver send (shipped event, no database)": [
            "send",
            "appery",
            "PROJECT_BUILD_IOS_FAIL",
            "--to",
            f"{base}/hooks",
        ],
        "receiver listen (to a bin the server does not have)": [
            "listen",
            f"{base}/b/missing",
            "--to",
            "http://127.0.0.1:9/hooks",
        ],
    }


def cpu_seconds(venv: Path, args: list[str], folder: Path) -> float:
    """User + system CPU seconds of one run, as /usr/bin/time measures them."""
    report = folder / "time.txt"
    subprocess.run(
        ["/usr/bin/time", "-o", str(report), "-f", "%U %S", str(venv / "bin" / "receiver"), *args],
        cwd=folder,
        env={"PATH": "/usr/bin:/bin", "RECEIVER_INSTANCE_PATH": str(folder / "instance")},
        capture_output=True,
        check=False,
    )
    user, system = report.read_text().split()[-2:]
    return float(user) + float(system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv")
    parser.add_argument("--against", type=Path, help="another virtualenv, measured alongside")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    venvs = [args.venv, *([args.against] if args.against else [])]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    figures: dict[tuple[str, Path], list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for label, command in commands(base).items():
                for venv in venvs:
                    figures.setdefault((label, venv), []).append(
                        cpu_seconds(venv, command, Path(folder))
                    )
    server.shutdown()
    width = max(len(label) for label in commands(base))
    print(
        f"{'CPU seconds (user + sys), median and lowest of ' + str(args.rounds):<{width}}", end=""
    )
    print("".join(f"  {str(venv):>24}" for venv in venvs))
    for label in commands(base):
        row = [figures[(label, venv)] for venv in venvs]
        cells = "".join(f"  {statistics.median(v):>14.2f} ({min(v):.2f})" for v in row)
        print(f"{label:<{width}}{cells}")


if __name__ == "__main__":
    main()
