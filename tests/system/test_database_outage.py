"""The database goes away: with its PostgreSQL stopped, ingest answers 503 with Retry-After and
never a 2xx; once the server is back, ingest recovers by itself. And a server configured against
the capture store (autovacuum off) is named when ``receiver serve`` starts. The tests start and
stop PostgreSQL servers of their own (initdb and pg_ctl in a temporary folder), never the shared
one."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import WAIT_SECONDS
from servers import free_port
from servers import serve_receiver

pytestmark = pytest.mark.system
BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


class OwnPostgres:
    """A throw-away PostgreSQL cluster (run as the ``postgres`` user when we are root)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.bin = Path(BINARIES[-1])
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, text=True, timeout=60)

    def init(self) -> None:
        self.run(
            str(self.bin / "initdb"),
            "-D",
            str(self.folder / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        )

    def start(self, *settings: str) -> None:
        """Start the server; ``settings``: more ``name=value`` for its configuration."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += "".join(f" -c {setting}" for setting in settings)
        self.run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.folder / "data"),
            "-w",
            "-t",
            "30",
            "-l",
            str(self.folder / "log"),
            "-o",
            options,
            "start",
        )

    def stop(self) -> None:
        self.run(
            str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-w", "-m", "fast", "stop"
        )


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    if not BINARIES or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin)")
    folder = Path(tempfile.mkdtemp(prefix="receiver-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = OwnPostgres(folder)
    server.init()
    server.start()
    yield server
    try:
        server.stop()
    except subprocess.CalledProcessError:
        pass  # already stopped
    shutil.rmtree(folder, ignore_errors=True)


def test_ingest_answers_503_while_postgres_is_stopped_and_recovers_by_itself(
    own_postgres: OwnPostgres, tmp_path: Path
):
    served = serve_receiver(tmp_path / "serve.log", workers=1, database_url=own_postgres.url)
    try:
        bin_id = served.api("POST", "/api/bins", {"id": "outage"})["id"]
        ingest = served.url(f"/b/{bin_id}")
        assert httpx.post(ingest, content=b'{"n": 1}', timeout=10).status_code == 200

        own_postgres.stop()
        during = [httpx.post(ingest, content=b'{"n": 2}', timeout=30) for _ in range(3)]
        for answer in during:
            assert answer.status_code == 503, answer.text
            assert int(answer.headers["Retry-After"]) >= 1
            assert answer.json()["error"]["code"] == "database_unavailable"
        assert httpx.get(served.url("/healthz"), timeout=30).status_code == 503

        own_postgres.start()
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            answer = httpx.post(ingest, content=b'{"n": 3}', timeout=30)
            if answer.status_code == 200 or time.monotonic() > deadline:
                break
            assert answer.status_code == 503, answer.text
            time.sleep(0.2)
        assert answer.status_code == 200, answer.text

        stored = served.api("GET", f"/api/bins/{bin_id}/requests")["requests"]
        bodies = sorted(
            httpx.get(served.url(f"/api/bins/{bin_id}/requests/{r['id']}/raw"), timeout=10).content
            for r in stored
        )
        assert bodies == [b'{"n": 1}', b'{"n": 3}']  # nothing answered 503 was kept
        assert served.running()
    finally:
        served.stop()
    log = served.output()
    # (the background indexer may log its own failed attempts: no request failed with a 500)
    for sign in ("unhandled error", "WORKER TIMEOUT", "Exception on /"):
        assert sign not in log, log[-4000:]


@pytest.mark.parametrize("autovacuum", ["on", "off"])
def test_serve_warns_when_postgresql_runs_without_autovacuum(
    own_postgres: OwnPostgres, tmp_path: Path, autovacuum: str
) -> None:
    own_postgres.stop()
    own_postgres.start(f"autovacuum={autovacuum}")
    log = tmp_path / "serve.log"
    serve_receiver(log, workers=1, database_url=own_postgres.url).stop()

    warned = "PostgreSQL runs with autovacuum off" in log.read_text()
    assert warned == (autovacuum == "off")
