"""The HAR export read by a tool nobody here wrote: httpsnippet (npm, pinned) turns each entry of
a bin's HAR into a curl command, which is run against a loopback target. No command may hang
waiting for a body the HAR promised and did not carry, and a body the HAR carries as text
arrives byte for byte. Every case of the byte-exact matrix (tests/bytecases.py) is one entry.

Skipped only when npm (or curl) is not installed; npm fetches httpsnippet from its registry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from bytecases import CASES
from servers import run

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(
        shutil.which("npm") is None or shutil.which("curl") is None,
        reason="the HAR is checked with httpsnippet (npm) and curl",
    ),
]

HTTPSNIPPET = "httpsnippet@3.0.10"
CONVERT = """
const {HTTPSnippet} = require("httpsnippet");
const entries = JSON.parse(require("fs").readFileSync(0, "utf8"));
const curl = (request) => new HTTPSnippet(request).convert("shell", "curl");
console.log(JSON.stringify(entries.map(curl)));
"""


@pytest.fixture(scope="module")
def httpsnippet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder with httpsnippet installed from npm."""
    folder = tmp_path_factory.mktemp("httpsnippet")
    run(["npm", "install", "--no-audit", "--no-fund", HTTPSNIPPET], cwd=folder, timeout=300)
    yield folder


def curl_commands(folder: Path, requests: list[dict[str, Any]]) -> list[str]:
    """httpsnippet's curl command for each HAR request."""
    converted = subprocess.run(
        ["node", "-e", CONVERT],
        input=json.dumps(requests),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(converted.stdout)


def test_httpsnippets_curl_for_every_entry_finishes_and_sends_what_the_har_carries(
    httpsnippet: Path, bins: Any, client: Any, httpserver: Any
) -> None:
    bin_id = bins.create()["id"]
    for case in CASES:
        headers = list(case.headers)
        if case.body or case.method in ("POST", "PUT", "PATCH"):
            headers.append(("Content-Length", str(len(case.body))))
        answer = bins.ingest(
            bin_id,
            method=case.method,
            path=case.path,
            query=case.query,
            body=case.body,
            headers=headers,
        )
        assert answer.status_code == 200, case.name
    har = client.get(f"/api/bins/{bin_id}/export.har").get_json()
    entries = har["log"]["entries"]
    assert len(entries) == len(CASES)
    target = httpserver.url_for("/")
    requests = []
    for entry in entries:
        request = dict(entry["request"])
        parts = urlsplit(request["url"])
        request["url"] = (
            target.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
        )
        requests.append(request)
    # no body in the answer: curl's --request HEAD would wait for the one a length announced
    httpserver.expect_request("").respond_with_data("", status=204)

    for case, request, command in zip(
        CASES, requests, curl_commands(httpsnippet, requests), strict=True
    ):
        before = len(httpserver.log)
        done = subprocess.run(
            ["bash", "-c", command.replace("curl ", "curl --silent --max-time 15 ", 1)],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{case.name}: curl exited {done.returncode}\n{command}"
        [(received, _)] = httpserver.log[before:]
        post_data = request.get("postData") or {}
        if "text" in post_data:
            assert received.get_data() == post_data["text"].encode(), case.name
