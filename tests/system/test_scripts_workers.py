"""A bin's response script under ``receiver serve`` with four workers, on both databases: the
steps are taken in order, one per capture, whichever worker serves it, then the bin's own
answer; ``GET`` shows what is left and ``[]`` clears."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from servers import serve_receiver

pytestmark = pytest.mark.system

SCRIPT = [
    {"status": 500},
    {"status": 503, "headers": [["Retry-After", "1"]]},
    {"status": 200, "body": "ok"},
]


def test_a_script_is_answered_in_order_by_four_workers_then_the_default(
    database_url: str, tmp_path: Path
) -> None:
    server = serve_receiver(tmp_path / "serve.log", workers=4, database_url=database_url)
    try:
        bin_id = server.api("POST", "/api/bins", {"label": "flaky"})["id"]
        patched = server.api("PATCH", f"/api/bins/{bin_id}", {"response_script": SCRIPT})
        assert patched["response_script"] == SCRIPT

        # a fresh connection per request, so the workers take turns
        answers = [httpx.post(server.url(f"/b/{bin_id}"), json={"n": n}) for n in range(4)]
        assert [a.status_code for a in answers] == [500, 503, 200, 200]
        assert answers[1].headers["Retry-After"] == "1"
        assert answers[2].text == "ok"
        assert answers[3].json()["ok"] is True, "after the script, the bin's default answer"
        assert server.api("GET", f"/api/bins/{bin_id}")["response_script"] == []

        listed = server.api("GET", f"/api/bins/{bin_id}/requests?limit=10")["requests"]
        steps = {}
        for row in listed:
            shown = server.api("GET", f"/api/bins/{bin_id}/requests/{row['id']}")
            steps[shown["body_text"]] = (shown["response"]["status"], shown["response"]["step"])
        assert steps == {
            '{"n":0}': (500, 0),
            '{"n":1}': (503, 1),
            '{"n":2}': (200, 2),
            '{"n":3}': (200, None),
        }

        # twelve at once from eight clients: each of the eight steps is taken exactly once,
        # and the step a capture took is its place in the bin's sequence
        many = [{"status": 500 + n} for n in range(8)]
        server.api("PATCH", f"/api/bins/{bin_id}", {"response_script": many})
        assert len(server.api("GET", f"/api/bins/{bin_id}")["response_script"]) == 8
        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(
                    lambda n: httpx.post(server.url(f"/b/{bin_id}"), json=n).status_code, range(12)
                )
            )
        assert sorted(statuses) == [200] * 4 + [500 + n for n in range(8)]
        listed = server.api("GET", f"/api/bins/{bin_id}/requests?limit=12")["requests"]
        taken = [
            server.api("GET", f"/api/bins/{bin_id}/requests/{row['id']}")["response"]
            for row in sorted(listed, key=lambda row: row["id"])
        ]
        by_step = sorted((a["step"], a["status"]) for a in taken if a["step"] is not None)
        assert by_step == [(n, 500 + n) for n in range(8)]

        # what is left is shown, and [] clears it
        server.api("PATCH", f"/api/bins/{bin_id}", {"response_script": SCRIPT})
        httpx.post(server.url(f"/b/{bin_id}"), content=b"x")
        assert server.api("GET", f"/api/bins/{bin_id}")["response_script"] == SCRIPT[1:]
        server.api("PATCH", f"/api/bins/{bin_id}", {"response_script": []})
        assert server.api("GET", f"/api/bins/{bin_id}")["response_script"] == []
        assert httpx.post(server.url(f"/b/{bin_id}"), content=b"x").json()["ok"] is True
    finally:
        server.stop()
