"""SQLite's disk fills up: ingest answers 503 with Retry-After, never a 2xx for what it could
not store, and recovers by itself once there is room again. The database lives on a small
tmpfs the test mounts itself (root only), filled with a file the test then removes."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import WAIT_SECONDS
from servers import serve_receiver

pytestmark = pytest.mark.system
SIZE = 16 * 1024 * 1024
BODY = b'{"pad": "' + b"x" * (256 * 1024) + b'"}'


@pytest.fixture
def small_disk() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder = Path(tempfile.mkdtemp(prefix="receiver-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)
    folder.rmdir()


def fill(folder: Path, leave: int) -> Path:
    """Fill the file system but ``leave`` bytes with one file; return it."""
    filler = folder / "filler"
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    with filler.open("wb") as out:
        out.truncate(0)
        remaining = max(0, free - leave)
        chunk = b"\0" * (1024 * 1024)
        while remaining > 0:
            remaining -= out.write(chunk[: min(len(chunk), remaining)])
    return filler


def test_ingest_answers_503_on_a_full_disk_and_recovers(small_disk: Path, tmp_path: Path):
    served = serve_receiver(tmp_path / "serve.log", workers=1, instance_path=small_disk / "db")
    try:
        bin_id = served.api("POST", "/api/bins", {"id": "full"})["id"]
        ingest = served.url(f"/b/{bin_id}")
        filler = fill(small_disk, leave=768 * 1024)

        answers = []
        for _ in range(12):
            answers.append(httpx.post(ingest, content=BODY, timeout=30))
            if answers[-1].status_code != 200:
                break
        refused = answers[-1]
        assert refused.status_code == 503, [a.status_code for a in answers]
        assert int(refused.headers["Retry-After"]) >= 1
        assert all(a.status_code in (200, 503) for a in answers)

        filler.unlink()
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            again = httpx.post(ingest, content=b'{"room": true}', timeout=30)
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            assert again.status_code == 503, again.text
            time.sleep(0.2)
        assert again.status_code == 200, again.text

        listed = served.api("GET", f"/api/bins/{bin_id}/requests")["requests"]
        stored = sum(1 for a in answers if a.status_code == 200) + 1
        assert len(listed) == stored  # what was answered 503 was not kept
        assert served.running()
    finally:
        served.stop()
    log = served.output()
    for sign in ("unhandled error", "WORKER TIMEOUT", "Exception on /"):
        assert sign not in log, log[-4000:]
