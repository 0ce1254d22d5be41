"""The malformed-request corpus (tests/data/malformed/) sent on raw sockets to ``receiver serve``.

Every case is stored with the right bytes or refused with a 4xx (or, for what is not HTTP at
all, the connection is closed); none gets a 5xx, none hangs, no worker dies or logs a traceback,
and the inspector still renders every bin afterwards.
"""

from __future__ import annotations

import hashlib
import json
import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from clocks import NEVER_SECONDS
from servers import ServedReceiver
from servers import serve_receiver

pytestmark = pytest.mark.system

CORPUS = Path(__file__).resolve().parents[1] / "data" / "malformed"
CASES: list[dict[str, Any]] = json.loads((CORPUS / "cases.json").read_text())
READ_TIMEOUT = 2  # RECEIVER_READ_TIMEOUT for this server: the slow senders' deadline
# no case may keep the connection longer: the slow senders are cut at READ_TIMEOUT, and a server
# without that deadline would hold them for as long as they drip (NEVER_SECONDS says why the
# bound holds)
ANSWER_WITHIN = READ_TIMEOUT + NEVER_SECONDS
SENDERS = 6  # cases in flight at once


def generated(name: str) -> bytes:
    """The cases too large to keep as files."""
    if name == "huge_json":
        body = b"[" + b",".join(b'{"i": %d, "pad": "%s"}' % (i, b"x" * 40) for i in range(150_000))
        body += b"]"
    elif name == "over_limit_json":
        body = b'{"pad": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    elif name == "many_keys_json":
        body = b"{" + b",".join(b'"k%d": %d' % (i, i) for i in range(200_000)) + b"}"
    else:
        raise AssertionError(f"no generator {name}")
    head = b"POST /b/{BIN} HTTP/1.1\r\nHost: receiver.test\r\nContent-Type: application/json\r\n"
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def case_bytes(case: dict[str, Any], bin_id: str) -> bytes:
    name = case.get("generate")
    data = generated(name) if name else (CORPUS / f"{case['name']}.http").read_bytes()
    return data.replace(b"{BIN}", bin_id.encode())


def expected_body(case: dict[str, Any], data: bytes) -> tuple[int, str] | None:
    """(size, sha256) of the body that must be stored, when the case says."""
    if "body_size" in case:
        return case["body_size"], case["body_sha256"]
    if case.get("generate") and case["expect"] == "stored":
        body = data.split(b"\r\n\r\n", 1)[1]
        return len(body), hashlib.sha256(body).hexdigest()
    return None


def exchange(port: int, data: bytes, case: dict[str, Any]) -> bytes:
    """Send a case as its mode says; return every byte the server sent before closing."""
    mode = case.get("mode", "whole")
    connection = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN)
    received = b""
    started = time.monotonic()
    try:
        try:
            if mode == "drip":
                at = case.get("drip_after", 0)
                connection.sendall(data[:at])
                for offset in range(at, len(data)):
                    readable, _, _ = select.select([connection], [], [], 0)
                    if readable:  # the server answered or closed: stop sending
                        break
                    connection.send(data[offset : offset + 1])
                    time.sleep(case["drip"])
                else:
                    connection.shutdown(socket.SHUT_WR)
            else:
                connection.sendall(data)
                if mode == "whole":
                    connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server refused before reading everything: its answer is still readable
        while time.monotonic() - started < ANSWER_WITHIN:
            try:
                chunk = connection.recv(65536)
            except ConnectionResetError:
                break
            except TimeoutError:
                pytest.fail(f"{case['name']}: no answer and no close within {ANSWER_WITHIN} s")
            if not chunk:
                break
            received += chunk
        else:
            pytest.fail(f"{case['name']}: the connection stayed open for {ANSWER_WITHIN} s")
    finally:
        connection.close()
    return received


def statuses(received: bytes) -> list[int]:
    """The status of every response in ``received`` (interim 100 Continue left out)."""
    found = []
    for line in received.split(b"\r\n"):
        if line.startswith(b"HTTP/1.") and len(line) >= 12 and line[9:12].isdigit():
            status = int(line[9:12])
            if status != 100:
                found.append(status)
    return found


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Any:
    served = serve_receiver(
        tmp_path / "serve.log",
        workers=2,
        database_url=database_url,
        env={"RECEIVER_READ_TIMEOUT": str(READ_TIMEOUT)},
    )
    yield served
    served.stop()


def check_case(server: ServedReceiver, case: dict[str, Any]) -> list[str]:
    """Send one case; what is wrong with its answer, in words."""
    problems: list[str] = []
    bin_id = case["name"][:64]
    data = case_bytes(case, bin_id)
    received = exchange(server.port, data, case)
    answered = statuses(received)
    first = answered[0] if answered else None
    if any(status >= 500 for status in answered):
        problems.append(f"{case['name']}: answered {answered}")
        return problems
    expect = case["expect"]
    if expect == "stored" and (first is None or not 200 <= first < 300):
        problems.append(f"{case['name']}: expected a 2xx, got {answered or 'a closed connection'}")
    elif expect == "refused" and (first is None or not 400 <= first < 500):
        problems.append(f"{case['name']}: expected a 4xx, got {answered or 'a closed connection'}")
    elif expect == "closed" and first is not None and not 400 <= first < 500:
        problems.append(f"{case['name']}: expected a close or a 4xx, got {answered}")
    if first == 408 and b"\r\nconnection: close\r\n" not in received.lower():
        # the sender stalled mid-request: the connection cannot be used again, and says so
        problems.append(f"{case['name']}: a 408 without Connection: close")
    if "status" in case and first != case["status"]:
        problems.append(f"{case['name']}: expected {case['status']}, got {answered}")
    return problems


def test_the_corpus_has_at_least_60_cases():
    assert len(CASES) >= 60
    assert len({case["name"] for case in CASES}) == len(CASES)


def test_every_malformed_request_is_stored_or_refused_never_a_5xx(server: ServedReceiver):
    workers_before = server.worker_pids()
    for case in CASES:
        server.api("POST", "/api/bins", {"id": case["name"][:64]})
    # the cases go several at a time (slow senders spend most of their time waiting), which
    # also checks that one bad connection does not hold up the others
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        problems = [
            problem for found in pool.map(partial(check_case, server), CASES) for problem in found
        ]
    assert not problems, "\n".join(problems)

    # nothing refused was stored; what was stored is exact, and the inspector shows every bin
    for case in CASES:
        bin_id = case["name"][:64]
        listed = server.api("GET", f"/api/bins/{bin_id}/requests")["requests"]
        page = httpx.get(server.url(f"/bins/{bin_id}"), timeout=30)
        assert page.status_code == 200, (case["name"], page.status_code)
        if case["expect"] != "stored":
            assert listed == [], (case["name"], "stored although refused")
            continue
        assert len(listed) == 1, (case["name"], listed)
        captured = listed[0]
        if "method" in case:
            assert captured["method"] == case["method"]
        raw = httpx.get(server.url(f"/api/bins/{bin_id}/requests/{captured['id']}/raw"), timeout=30)
        expected = expected_body(case, case_bytes(case, bin_id))
        if expected is not None:
            assert (len(raw.content), hashlib.sha256(raw.content).hexdigest()) == expected, case
        for path in (
            f"/bins/{bin_id}?request={captured['id']}",
            f"/api/bins/{bin_id}/requests/{captured['id']}",
            f"/api/bins/{bin_id}/requests/{captured['id']}/export.har",
        ):
            shown = httpx.get(server.url(path), timeout=60)
            assert shown.status_code == 200, (case["name"], path, shown.status_code)

    assert server.running()
    assert server.worker_pids() == workers_before, "a worker died or was restarted"
    log = server.output()
    for sign in ("Traceback", "[CRITICAL]", "WORKER TIMEOUT", "unhandled error"):
        assert sign not in log, f"{sign!r} in the server log:\n{log[-5000:]}"


def test_a_body_that_keeps_arriving_is_stored_past_the_read_timeout(server: ServedReceiver):
    """A large body on a slow link outlasts RECEIVER_READ_TIMEOUT and is not cut: what arrives
    earns time (a second for every 64 KiB). The sender cannot be faster than its pauses, so the
    request always takes longer than the timeout; each piece earns half a second and comes a
    tenth of a second after the last."""
    pieces, piece, pause = 24, 32 * 1024, 0.1
    assert pieces * pause > READ_TIMEOUT
    server.api("POST", "/api/bins", {"id": "steady-sender"})
    body = bytes(range(256)) * (pieces * piece // 256)
    head = b"POST /b/steady-sender HTTP/1.1\r\nHost: receiver.test\r\nContent-Length: %d\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=NEVER_SECONDS) as connection:
        try:
            connection.sendall(head % len(body))
            for at in range(0, len(body), piece):
                time.sleep(pause)
                connection.sendall(body[at : at + piece])
        except OSError:
            pass  # cut off: the answer says why
        answer = connection.recv(65536)

    assert statuses(answer)[:1] == [200], answer[:300]
    listed = server.api("GET", "/api/bins/steady-sender/requests")["requests"]
    raw = httpx.get(server.url(f"/api/bins/steady-sender/requests/{listed[0]['id']}/raw"))
    assert raw.content == body
