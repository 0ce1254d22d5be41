"""Real gunicorn processes (``receiver serve``): the byte-exact matrix, concurrency on SQLite,
crash durability."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from bytecases import CASES
from bytecases import assert_stored
from bytecases import send
from servers import ServedReceiver
from servers import serve_receiver

pytestmark = pytest.mark.system


@pytest.fixture
def gunicorn(database_url: str, tmp_path: Path) -> Iterator[ServedReceiver]:
    """``receiver serve`` with four workers on the test's database."""
    server = serve_receiver(tmp_path / "serve.log", workers=4, database_url=database_url)
    try:
        yield server
    finally:
        server.stop()


def test_gunicorn_stores_every_byte_of_the_matrix(gunicorn):
    bin_id = gunicorn.api("POST", "/api/bins", {})["id"]
    for case in CASES:
        status, _, _ = send("127.0.0.1", gunicorn.port, bin_id, case)
        assert status == 200, case.name
    listed = gunicorn.api("GET", f"/api/bins/{bin_id}/requests?limit=100")["requests"]
    assert len(listed) == len(CASES)
    for case, summary in zip(CASES, reversed(listed), strict=True):
        stored = gunicorn.api("GET", f"/api/bins/{bin_id}/requests/{summary['id']}")
        # gunicorn's parser upper-cases header names; order, duplicates and values are kept
        assert_stored(stored, case)


def test_gunicorn_keeps_repeated_and_underscore_headers(gunicorn):
    case = next(c for c in CASES if c.name == "repeated-headers")
    bin_id = gunicorn.api("POST", "/api/bins", {})["id"]
    send("127.0.0.1", gunicorn.port, bin_id, case)
    (summary,) = gunicorn.api("GET", f"/api/bins/{bin_id}/requests")["requests"]
    headers = gunicorn.api("GET", f"/api/bins/{bin_id}/requests/{summary['id']}")["headers"]
    sent = [pair for pair in case.headers if pair[0].lower() in ("x-repeat", "x_under_score")]
    assert [(n, v) for n, v in headers if n.lower() in ("x-repeat", "x_under_score")] == sent
    assert [v for n, v in headers if n.lower() == "x-repeat"] == ["one", "two, with comma", "three"]


def test_500_requests_from_16_clients_are_all_answered_and_stored(gunicorn):
    bin_id = gunicorn.api("POST", "/api/bins", {})["id"]
    url = gunicorn.url(f"/b/{bin_id}/load")

    def post(number: int) -> tuple[int, str]:
        body = json.dumps({"n": number}).encode()
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())["request_id"]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(post, range(500)))
    assert all(status == 200 for status, _ in answers)
    ids = {int(request_id) for _, request_id in answers}
    assert len(ids) == 500
    stored: set[int] = set()
    bodies: set[int] = set()
    cursor = ""
    while True:
        page = gunicorn.api("GET", f"/api/bins/{bin_id}/requests?limit=500{cursor}")
        stored |= {item["id"] for item in page["requests"]}
        if page["next"] is None:
            break
        cursor = f"&before={page['next']}"
    assert stored == ids
    for request_id in list(ids)[:25]:
        detail = gunicorn.api("GET", f"/api/bins/{bin_id}/requests/{request_id}")
        bodies.add(json.loads(base64.b64decode(detail["body_base64"]))["n"])
    assert len(bodies) == 25
    assert gunicorn.api("GET", f"/api/bins/{bin_id}")["request_count"] == 500
    log = gunicorn.output()
    assert "database is locked" not in log, gunicorn.describe()
    assert "Traceback" not in log, gunicorn.describe()


def test_answered_requests_survive_killing_every_process(database_url, tmp_path):
    """SIGKILL the master and its workers right after the answers: every 2xx is in the database."""
    first = serve_receiver(tmp_path / "first.log", workers=2, database_url=database_url)
    try:
        bin_id = first.api("POST", "/api/bins", {})["id"]
        answered = []
        for number in range(40):
            request = urllib.request.Request(
                first.url(f"/b/{bin_id}"), data=b'{"n": %d}' % number, method="POST"
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                answered.append(int(json.loads(response.read())["request_id"]))
    finally:
        first.kill()  # the master and every worker at once, mid-flight

    second = serve_receiver(tmp_path / "second.log", workers=1, database_url=database_url)
    try:
        page = second.api("GET", f"/api/bins/{bin_id}/requests?limit=100")
        assert sorted(item["id"] for item in page["requests"]) == sorted(answered)
    finally:
        second.stop()


def test_a_busy_kept_alive_connection_does_not_keep_another_waiting(tmp_path: Path, database_url):
    """A thread serves its connection's next request itself when it comes at once (saving a
    trip through gunicorn's main thread), but not while another connection waits for a thread:
    with one thread, a sender that never pauses must not starve a second one."""
    import http.client
    import threading

    env = {"RECEIVER_THREADS": "1", "RECEIVER_FEED_WAITERS": "0"}
    server = serve_receiver(tmp_path / "one.log", workers=1, database_url=database_url, env=env)
    try:
        bin_id = server.api("POST", "/api/bins", {})["id"]
        answered = threading.Event()
        sent_while_waiting: list[int] = []

        def busy_sender() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            count = 0
            while not answered.is_set() and count < 100_000:
                connection.request("POST", f"/b/{bin_id}/busy", body=b"{}")
                assert connection.getresponse().read()
                count += 1
            sent_while_waiting.append(count)
            connection.close()

        sender = threading.Thread(target=busy_sender)
        sender.start()
        other = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        other.request("POST", f"/b/{bin_id}/other", body=b"{}")
        status = other.getresponse().status
        answered.set()
        sender.join(60)
        other.close()

        assert status == 200
        # answered while the busy sender was still sending (it stops only once this is set)
        assert sent_while_waiting and sent_while_waiting[0] < 100_000
    finally:
        server.stop()
