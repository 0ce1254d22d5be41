"""Forwarding: every capture of a bin with a forward URL is re-sent there, outside the request.

Real targets on loopback (pytest-httpserver, raw sockets, a port nothing listens on), the real
queue on each backend. Time-based behaviour (backoff, leases) moves by injecting ``now`` into
``forward_due``; only the tests of the background thread wait, and they wait for an event.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import signal
import sys
import textwrap
import threading
from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from actions import logged_above_info
from flask import Flask
from pytest_httpserver import HTTPServer
from servers import WAIT_SECONDS
from servers import described
from servers import free_port
from servers import run
from servers import wait_until
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from targets import SilentServer
from werkzeug import Request
from werkzeug import Response

from receiver.delivery.forwarding import ForwardPolicy
from receiver.delivery.forwarding import claim_jobs
from receiver.delivery.forwarding import deliver
from receiver.delivery.forwarding import forward_due
from receiver.storage.db import db
from receiver.storage.models import utcnow
from receiver.web.serving import RAW_HEADERS_KEY
from receiver.web.serving import close_app
from receiver.web.serving import start_background_work

POLICY = ForwardPolicy(max_attempts=5, timeout=5.0, first_delay=10.0)
LATER = timedelta(hours=1)


# -- helpers -------------------------------------------------------------------------------------


class Counter:
    """A target handler that answers 200 and records what arrived, with an event per count."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def __call__(self, request: Request) -> Response:
        with self.changed:
            self.bodies.append(request.get_data())
            self.paths.append(request.environ["REQUEST_URI"])
            self.changed.notify_all()
        return Response("ok")

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[bytes]:
        """Block until ``count`` requests arrived (or the timeout); the bodies so far."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.bodies) >= count, timeout=timeout)
            return list(self.bodies)


@pytest.fixture
def down_port() -> Iterator[int]:
    """A port whose target is down now; a test may start a server on it later."""
    yield free_port()


@pytest.fixture
def late_servers() -> Iterator[Callable[[int], HTTPServer]]:
    """Start pytest-httpserver instances on chosen ports (a target coming back up)."""
    started: list[HTTPServer] = []

    def start(port: int) -> HTTPServer:
        server = HTTPServer(host="127.0.0.1", port=port)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.clear()
        if server.is_running():
            server.stop()


def engine_of(app: Flask) -> Engine:
    with app.app_context():
        return db.engine


def at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def forward_all(engine: Engine, policy: ForwardPolicy = POLICY, now: Any = utcnow) -> int:
    """Run forwarding rounds until nothing is due; the number of attempts made."""
    total = 0
    for _ in range(200):
        made = forward_due(engine, policy, now=now)
        if not made:
            return total
        total += made
    raise AssertionError("forwarding never ran out of due jobs")


def forwarding_bin(client: Any, url: str, **fields: Any) -> str:
    """A bin that forwards to ``url``; its id."""
    created = client.post("/api/bins", json=fields)
    assert created.status_code == 201, created.get_json()
    bin_id = created.get_json()["id"]
    response = client.patch(f"/api/bins/{bin_id}", json={"forward_url": url})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["forward_url"] == url
    return bin_id


def ingest(client: Any, bin_id: str, body: bytes = b"", **fields: Any) -> int:
    """Capture one request with exact header pairs; its id."""
    headers = fields.pop("headers", [])
    path = fields.pop("path", "")
    query = fields.pop("query", "")
    url = f"/b/{bin_id}{path}" + (f"?{query}" if query else "")
    response = client.open(
        url,
        method=fields.pop("method", "POST"),
        data=body,
        headers=headers,
        environ_overrides={RAW_HEADERS_KEY: headers},
    )
    assert response.status_code == 200, response.data
    return int(response.headers["X-Receiver-Request-Id"])


def forwards(client: Any, bin_id: str) -> list[dict[str, Any]]:
    """The bin's forward jobs, oldest first."""
    response = client.get(f"/api/bins/{bin_id}/forwards")
    assert response.status_code == 200, response.get_json()
    return list(reversed(response.get_json()["forwards"]))


def replays(client: Any, bin_id: str, request_id: int) -> list[dict[str, Any]]:
    """Recorded attempts of a request, newest first."""
    response = client.get(f"/api/bins/{bin_id}/requests/{request_id}/replays")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["replays"]


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- capture is never held up ----------------------------------------------------------------------


def test_a_capture_is_stored_and_queued_even_when_the_target_is_down(client, down_port):
    bin_id = forwarding_bin(client, f"http://127.0.0.1:{down_port}/hook")

    request_id = ingest(client, bin_id, b'{"a": 1}')

    stored = client.get(f"/api/bins/{bin_id}/requests/{request_id}").get_json()
    assert base64.b64decode(stored["body_base64"]) == b'{"a": 1}'
    (job,) = forwards(client, bin_id)
    assert job["request_id"] == request_id
    assert job["url"] == f"http://127.0.0.1:{down_port}/hook"
    assert job["status"] == "pending"
    assert job["attempts"] == 0
    assert job["last_error"] is None
    assert parse_iso(job["next_attempt_at"]) == parse_iso(stored["received_at"])


def test_a_bin_without_forward_url_queues_nothing(client):
    created = client.post("/api/bins", json={}).get_json()

    ingest(client, created["id"], b"{}")

    assert forwards(client, created["id"]) == []


@pytest.fixture
def hanging() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def test_ingest_answers_while_the_forwarder_waits_on_a_hanging_target(make_app, hanging):
    # the target holds the forward for the longest timeout there is (until the test closes it)
    app = make_app(RECEIVER_FORWARD_WORKER=True, RECEIVER_REPLAY_TIMEOUT=120)
    start_background_work(app)
    client = app.test_client()
    bin_id = forwarding_bin(client, f"http://127.0.0.1:{hanging.port}/hook")
    ingest(client, bin_id, b"first")
    assert hanging.accepted.wait(WAIT_SECONDS), "the forwarder never reached the target"

    # the background thread is now stuck in its send: captures must not wait for it (had they
    # waited, they would come back only once that send gave up, and find it settled)
    later = [ingest(client, bin_id, f"later {n}".encode()) for n in range(3)]

    jobs = forwards(client, bin_id)
    assert [job["status"] for job in jobs] == ["running", "pending", "pending", "pending"]
    assert [job["request_id"] for job in jobs[1:]] == later


# -- delivery ------------------------------------------------------------------------------------


def test_a_forward_arrives_byte_exact_with_the_sub_path_appended(app, client, target):
    bin_id = forwarding_bin(client, target.url_for("/fwd"))
    body = bytes(range(256)) * 64
    headers = [
        ("Content-Type", "application/octet-stream"),
        ("X-Repeat", "one"),
        ("X-Repeat", "two"),
        ("Connection", "keep-alive"),
    ]
    request_id = ingest(client, bin_id, body, path="/deep/x%2Fy", query="a=1&a=2", headers=headers)
    target.expect_request("/fwd/deep/x/y").respond_with_data("thanks")

    assert forward_due(engine_of(app), POLICY) == 1

    ((got, _),) = target.log
    assert got.method == "POST"
    assert got.environ["REQUEST_URI"] == "/fwd/deep/x%2Fy?a=1&a=2"
    assert got.get_data() == body
    assert list(got.environ[RAW_HEADERS_KEY]) == [
        ("Host", f"{target.host}:{target.port}"),
        ("Content-Type", "application/octet-stream"),
        ("X-Repeat", "one"),
        ("X-Repeat", "two"),
        ("Content-Length", str(len(body))),
    ]
    (job,) = forwards(client, bin_id)
    assert job["status"] == "done"
    assert job["attempts"] == 1
    assert job["last_error"] is None
    assert job["finished_at"] is not None
    (attempt,) = replays(client, bin_id, request_id)
    assert attempt["kind"] == "forward"
    assert attempt["url"] == target.url_for("/fwd/deep/x%2Fy") + "?a=1&a=2"
    assert attempt["status_code"] == 200
    assert attempt["response_body"] == "thanks"
    assert attempt["error"] is None


def test_a_forward_keeps_the_captured_method(app, client, target):
    bin_id = forwarding_bin(client, target.url_for("/fwd"))
    ingest(client, bin_id, method="GET", query="ping=1")
    ingest(client, bin_id, b"patch", method="PATCH")
    target.expect_request("/fwd").respond_with_data("ok")

    assert forward_all(engine_of(app)) == 2

    assert [(r.method, r.environ["REQUEST_URI"]) for r, _ in target.log] == [
        ("GET", "/fwd?ping=1"),
        ("PATCH", "/fwd"),
    ]


def test_nothing_is_sent_before_it_is_due_or_after_it_is_done(app, client, target):
    bin_id = forwarding_bin(client, target.url_for("/fwd"))
    ingest(client, bin_id, b"x")
    target.expect_request("/fwd").respond_with_data("ok")
    engine = engine_of(app)

    assert forward_due(engine, POLICY, now=at(utcnow() - LATER)) == 0
    assert forward_due(engine, POLICY) == 1
    assert forward_due(engine, POLICY, now=at(utcnow() + LATER)) == 0

    assert len(target.log) == 1


def test_a_busy_target_is_retried_with_backoff_then_succeeds(app, client, target):
    bin_id = forwarding_bin(client, target.url_for("/fwd"))
    request_id = ingest(client, bin_id, b'{"n": 1}')
    target.expect_oneshot_request("/fwd").respond_with_data("busy", status=503)
    target.expect_oneshot_request("/fwd").respond_with_data("busy", status=503)
    target.expect_request("/fwd").respond_with_data("ok")
    engine = engine_of(app)
    t0 = utcnow()

    assert forward_due(engine, POLICY, now=at(t0)) == 1
    (job,) = forwards(client, bin_id)
    assert (job["status"], job["attempts"], job["last_error"]) == ("pending", 1, "answered 503")
    assert parse_iso(job["next_attempt_at"]) == t0 + timedelta(seconds=10)

    assert forward_due(engine, POLICY, now=at(t0 + timedelta(seconds=9))) == 0
    assert forward_due(engine, POLICY, now=at(t0 + timedelta(seconds=10))) == 1
    (job,) = forwards(client, bin_id)
    assert (job["status"], job["attempts"]) == ("pending", 2)
    # the second wait is twice the first
    assert parse_iso(job["next_attempt_at"]) == t0 + timedelta(seconds=30)

    assert forward_due(engine, POLICY, now=at(t0 + timedelta(seconds=29))) == 0
    assert forward_due(engine, POLICY, now=at(t0 + timedelta(seconds=30))) == 1

    (job,) = forwards(client, bin_id)
    assert (job["status"], job["attempts"], job["last_error"]) == ("done", 3, None)
    assert len(target.log) == 3
    attempts = replays(client, bin_id, request_id)
    assert [a["status_code"] for a in attempts] == [200, 503, 503]
    assert all(a["kind"] == "forward" for a in attempts)
    assert [parse_iso(a["created_at"]) - t0 for a in attempts] == [
        timedelta(seconds=30),
        timedelta(seconds=10),
        timedelta(0),
    ]


def test_a_target_that_is_down_is_retried_until_it_is_back(app, client, down_port, late_servers):
    bin_id = forwarding_bin(client, f"http://127.0.0.1:{down_port}/hook")
    request_id = ingest(client, bin_id, b"payload")
    engine = engine_of(app)
    t0 = utcnow()

    assert forward_due(engine, POLICY, now=at(t0)) == 1
    (job,) = forwards(client, bin_id)
    assert job["status"] == "pending"
    assert job["last_error"] == f"connection refused by 127.0.0.1:{down_port}"
    (failed,) = replays(client, bin_id, request_id)
    assert failed["status_code"] is None
    assert failed["error"] == f"connection refused by 127.0.0.1:{down_port}"

    server = late_servers(down_port)
    server.expect_request("/hook").respond_with_data("back")
    assert forward_due(engine, POLICY, now=at(t0 + LATER)) == 1

    assert [r.get_data() for r, _ in server.log] == [b"payload"]
    (job,) = forwards(client, bin_id)
    assert (job["status"], job["attempts"], job["last_error"]) == ("done", 2, None)
    assert [a["status_code"] for a in replays(client, bin_id, request_id)] == [200, None]


def test_a_job_is_failed_after_its_last_attempt(app, client, target):
    bin_id = forwarding_bin(client, target.url_for("/fwd"))
    request_id = ingest(client, bin_id, b"x")
    target.expect_request("/fwd").respond_with_data("down for maintenance", status=503)
    engine = engine_of(app)
    policy = ForwardPolicy(max_attempts=3, timeout=5.0, first_delay=1.0)
    t0 = utcnow()

    made = [forward_due(engine, policy, now=at(t0 + n * LATER)) for n in range(5)]

    assert made == [1, 1, 1, 0, 0]
    assert len(target.log) == 3
    (job,) = forwards(client, bin_id)
    assert (job["status"], job["attempts"], job["last_error"]) == ("failed", 3, "answered 503")
    assert parse_iso(job["finished_at"]) == t0 + 2 * LATER
    assert len(replays(client, bin_id, request_id)) == 3


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422, 301])
def test_an_answer_that_retrying_cannot_change_is_final(app, client, target, status):
    bin_id = forwarding_bin(client, target.url_for("/fwd"))
    request_id = ingest(client, bin_id, b"x")
    target.expect_request("/fwd").respond_with_data("no", status=status)
    engine = engine_of(app)

    assert forward_due(engine, POLICY) == 1
    assert forward_due(engine, POLICY, now=at(utcnow() + LATER)) == 0

    assert len(target.log) == 1
    (job,) = forwards(client, bin_id)
    assert (job["status"], job["attempts"]) == ("done", 1)
    (attempt,) = replays(client, bin_id, request_id)
    assert attempt["status_code"] == status


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_a_transient_answer_is_retried(app, client, target, status):
    bin_id = forwarding_bin(client, target.url_for("/fwd"))
    ingest(client, bin_id, b"x")
    target.expect_oneshot_request("/fwd").respond_with_data("later", status=status)
    target.expect_request("/fwd").respond_with_data("ok")
    engine = engine_of(app)

    assert forward_due(engine, POLICY) == 1
    (job,) = forwards(client, bin_id)
    assert (job["status"], job["last_error"]) == ("pending", f"answered {status}")
    assert forward_due(engine, POLICY, now=at(utcnow() + LATER)) == 1

    assert forwards(client, bin_id)[0]["status"] == "done"


# -- order -----------------------------------------------------------------------------------------


def test_a_bins_forwards_wait_for_the_earlier_ones_and_arrive_in_capture_order(
    app, client, down_port, late_servers
):
    bin_id = forwarding_bin(client, f"http://127.0.0.1:{down_port}/hook")
    sent = [ingest(client, bin_id, f"{n}".encode()) for n in range(3)]
    engine = engine_of(app)
    t0 = utcnow()

    # only the first is tried while the target is down; the others hold the line behind it
    assert forward_all(engine, now=at(t0)) == 1
    jobs = forwards(client, bin_id)
    assert [job["request_id"] for job in jobs] == sent
    assert [(job["status"], job["attempts"]) for job in jobs] == [
        ("pending", 1),
        ("pending", 0),
        ("pending", 0),
    ]

    server = late_servers(down_port)
    server.expect_request("/hook").respond_with_data("ok")
    assert forward_all(engine, now=at(t0 + LATER)) == 3

    assert [r.get_data() for r, _ in server.log] == [b"0", b"1", b"2"]
    assert [job["status"] for job in forwards(client, bin_id)] == ["done"] * 3


def test_a_failed_forward_releases_the_line(app, client, target):
    bin_id = forwarding_bin(client, target.url_for("/fwd"))
    ingest(client, bin_id, b"first")
    ingest(client, bin_id, b"second")
    target.expect_oneshot_request("/fwd").respond_with_data("no", status=503)
    target.expect_request("/fwd").respond_with_data("ok")
    policy = ForwardPolicy(max_attempts=1, timeout=5.0, first_delay=1.0)

    assert forward_all(engine_of(app), policy) == 2

    assert [r.get_data() for r, _ in target.log] == [b"first", b"second"]
    assert [job["status"] for job in forwards(client, bin_id)] == ["failed", "done"]


def test_a_bin_whose_target_is_down_does_not_hold_up_other_bins(app, client, target, down_port):
    stuck = forwarding_bin(client, f"http://127.0.0.1:{down_port}/hook")
    flowing = forwarding_bin(client, target.url_for("/fwd"))
    ingest(client, stuck, b"stuck")
    ingest(client, flowing, b"one")
    ingest(client, flowing, b"two")
    target.expect_request("/fwd").respond_with_data("ok")

    forward_all(engine_of(app))

    assert [r.get_data() for r, _ in target.log] == [b"one", b"two"]
    assert [job["status"] for job in forwards(client, stuck)] == ["pending"]


def test_an_unsendable_capture_fails_alone(app, client, target):
    bin_id = forwarding_bin(client, target.url_for("/fwd"))
    ingest(client, bin_id, b"bad", headers=[("Bad Header", "x")])
    ingest(client, bin_id, b"good")
    target.expect_request("/fwd").respond_with_data("ok")

    forward_all(engine_of(app))

    assert [r.get_data() for r, _ in target.log] == [b"good"]
    bad, good = forwards(client, bin_id)
    assert bad["status"] == "failed"
    assert "Bad Header" in bad["last_error"]
    assert good["status"] == "done"


def test_a_deleted_capture_is_not_forwarded(app, client, target):
    bin_id = forwarding_bin(client, target.url_for("/fwd"))
    gone = ingest(client, bin_id, b"gone")
    ingest(client, bin_id, b"kept")
    target.expect_request("/fwd").respond_with_data("ok")
    assert client.delete(f"/api/bins/{bin_id}/requests/{gone}").status_code == 204

    forward_all(engine_of(app))

    assert [r.get_data() for r, _ in target.log] == [b"kept"]


@pytest.mark.parametrize(
    ("what", "path"),
    [
        ("the bin", "/api/bins/{bin_id}"),
        ("its captures", "/api/bins/{bin_id}/requests"),
        ("the capture", "/api/bins/{bin_id}/requests/{first}"),
    ],
)
def test_a_forward_whose_data_goes_while_it_is_in_flight_ends_quietly(
    app, client, target, caplog, what, path
):
    bin_id = forwarding_bin(client, target.url_for("/fwd"))
    first = ingest(client, bin_id, b"first")
    ingest(client, bin_id, b"second")
    other = forwarding_bin(client, target.url_for("/other"))
    ingest(client, other, b"elsewhere")
    doomed = path.format(bin_id=bin_id, first=first)

    def delete_then_answer(request: Request) -> Response:
        answer = app.test_client().delete(doomed)  # another request, while this send is in flight
        assert answer.status_code in (200, 204), answer.get_data(as_text=True)
        return Response("ok")

    target.expect_oneshot_request("/fwd").respond_with_handler(delete_then_answer)
    target.expect_request("/fwd").respond_with_data("ok")
    target.expect_request("/other").respond_with_data("ok")

    with caplog.at_level(logging.INFO):
        forward_all(engine_of(app))

    assert logged_above_info(caplog) == [], what
    sent = [r.get_data() for r, _ in target.log]
    assert sent[0] == b"first" and b"elsewhere" in sent
    if what == "the capture":  # the rest of the bin goes on
        assert b"second" in sent
        jobs = forwards(client, bin_id)
        assert [job["status"] for job in jobs] == ["done"]
    else:
        assert b"second" not in sent


# -- catch-up ------------------------------------------------------------------------------------


def test_catch_up_queues_what_was_captured_since_a_time_in_order(app, client, target):
    created = client.post("/api/bins", json={}).get_json()
    bin_id = created["id"]
    sent = [ingest(client, bin_id, f"{n}".encode()) for n in range(4)]
    since = client.get(f"/api/bins/{bin_id}/requests/{sent[1]}").get_json()["received_at"]
    target.expect_request("/catch").respond_with_data("ok")

    response = client.post(
        f"/api/bins/{bin_id}/forward", json={"since": since, "url": target.url_for("/catch")}
    )

    assert response.status_code == 202
    assert response.get_json() == {"queued": 3, "url": target.url_for("/catch")}
    jobs = forwards(client, bin_id)
    assert [job["request_id"] for job in jobs] == sent[1:]
    assert all(job["status"] == "pending" for job in jobs)
    assert forward_all(engine_of(app)) == 3
    assert [r.get_data() for r, _ in target.log] == [b"1", b"2", b"3"]
    assert [job["status"] for job in forwards(client, bin_id)] == ["done"] * 3


def test_catch_up_uses_the_bins_forward_url_and_everything_without_since(app, client, target):
    created = client.post("/api/bins", json={}).get_json()
    bin_id = created["id"]
    ingest(client, bin_id, b"before forwarding was on")
    client.patch(f"/api/bins/{bin_id}", json={"forward_url": target.url_for("/fwd")})
    ingest(client, bin_id, b"after")
    target.expect_request("/fwd").respond_with_data("ok")
    forward_all(engine_of(app))
    assert [r.get_data() for r, _ in target.log] == [b"after"]

    response = client.post(f"/api/bins/{bin_id}/forward")

    assert response.status_code == 202
    assert response.get_json() == {"queued": 2, "url": target.url_for("/fwd")}
    forward_all(engine_of(app))
    assert [r.get_data() for r, _ in target.log] == [
        b"after",
        b"before forwarding was on",
        b"after",
    ]


def test_catch_up_since_a_time_in_another_zone(app, client, target):
    bin_id = client.post("/api/bins", json={}).get_json()["id"]
    first = ingest(client, bin_id, b"old")
    second = ingest(client, bin_id, b"new")
    received = client.get(f"/api/bins/{bin_id}/requests/{second}").get_json()["received_at"]
    in_utc = parse_iso(received)
    elsewhere = in_utc.astimezone(UTC).replace(tzinfo=None) + timedelta(hours=2)
    since = elsewhere.isoformat(timespec="microseconds") + "+02:00"

    response = client.post(
        f"/api/bins/{bin_id}/forward", json={"since": since, "url": target.url_for("/c")}
    )

    assert response.get_json()["queued"] == 1
    assert [job["request_id"] for job in forwards(client, bin_id)] == [second]
    assert first not in [job["request_id"] for job in forwards(client, bin_id)]


def test_catch_up_since_the_future_queues_nothing(client, target):
    bin_id = client.post("/api/bins", json={}).get_json()["id"]
    ingest(client, bin_id, b"x")

    response = client.post(
        f"/api/bins/{bin_id}/forward",
        json={"since": "2999-01-01T00:00:00Z", "url": target.url_for("/c")},
    )

    assert response.status_code == 202
    assert response.get_json()["queued"] == 0
    assert forwards(client, bin_id) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"url": "ftp://example.com/"},
        {"url": "http://127.0.0.1/", "since": "yesterday"},
    ],
    ids=["no-url-anywhere", "bad-scheme", "bad-since"],
)
def test_catch_up_refuses_what_it_cannot_use(client, body):
    bin_id = client.post("/api/bins", json={}).get_json()["id"]

    response = client.post(f"/api/bins/{bin_id}/forward", json=body)

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"


def test_forwards_of_a_private_bin_need_its_token(client):
    created = client.post("/api/bins", json={"private": True}).get_json()
    auth = {"Authorization": f"Bearer {created['token']}"}
    path = f"/api/bins/{created['id']}"

    assert client.get(f"{path}/forwards").status_code == 404
    assert client.post(f"{path}/forward", json={"url": "http://127.0.0.1/"}).status_code == 404
    assert client.get(f"{path}/forwards", headers=auth).get_json() == {"forwards": []}


# -- workers: concurrency, leases, restarts -------------------------------------------------------


@pytest.mark.parametrize("engines", ["one-engine", "two-apps"])
def test_concurrent_workers_deliver_each_job_exactly_once(
    app, client, make_app, httpserver, engines
):
    counter = Counter()
    httpserver.expect_request(re.compile("/fwd/.*")).respond_with_handler(counter)
    bin_ids = [forwarding_bin(client, httpserver.url_for(f"/fwd/{n}")) for n in range(4)]
    expected = {}
    for bin_id in bin_ids:
        expected[bin_id] = [f"{bin_id}:{n}".encode() for n in range(3)]
        for body in expected[bin_id]:
            ingest(client, bin_id, body)
    first = engine_of(app)
    second = first if engines == "one-engine" else engine_of(make_app())
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(engine: Engine) -> None:
        try:
            start.wait(timeout=10)
            for _ in range(100):
                if not forward_due(engine, POLICY, limit=2) and len(counter.bodies) >= 12:
                    return
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(e,)) for e in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    forward_all(first)
    bodies = counter.wait_for(12)
    assert sorted(bodies) == sorted(b for group in expected.values() for b in group)
    for bin_id in bin_ids:
        assert [b for b in bodies if b.startswith(f"{bin_id}:".encode())] == expected[bin_id]
        jobs = forwards(client, bin_id)
        assert [(job["status"], job["attempts"]) for job in jobs] == [("done", 1)] * 3


def test_a_job_whose_worker_died_is_claimed_again_after_its_lease(app, client, target):
    bin_id = forwarding_bin(client, target.url_for("/fwd"))
    request_id = ingest(client, bin_id, b"x")
    target.expect_request("/fwd").respond_with_data("ok")
    engine = engine_of(app)
    t0 = utcnow()
    with Session(engine) as session:
        # a worker claims the job and dies before it sends anything
        claimed = claim_jobs(session, t0, limit=10, lease=timedelta(seconds=30))
    assert len(claimed) == 1
    assert forwards(client, bin_id)[0]["status"] == "running"

    assert forward_due(engine, POLICY, now=at(t0 + timedelta(seconds=29))) == 0
    assert forward_due(engine, POLICY, now=at(t0 + timedelta(seconds=31))) == 1

    assert len(target.log) == 1
    (job,) = forwards(client, bin_id)
    assert (job["status"], job["attempts"]) == ("done", 1)
    assert len(replays(client, bin_id, request_id)) == 1


def test_forwards_survive_a_restart_with_nothing_lost(make_app, down_port, late_servers):
    first = make_app()
    client = first.test_client()
    bin_id = forwarding_bin(client, f"http://127.0.0.1:{down_port}/hook")
    sent = [ingest(client, bin_id, f"delivery {n}".encode(), path=f"/{n}") for n in range(5)]
    t0 = utcnow()
    # the first process tries while the target is down, then goes away
    assert forward_all(engine_of(first), now=at(t0)) == 1
    close_app(first)

    server = late_servers(down_port)
    server.expect_request(re.compile("/hook/[0-9]")).respond_with_data("ok")
    second = make_app()
    assert forward_all(engine_of(second), now=at(t0 + LATER)) == 5

    assert [r.get_data() for r, _ in server.log] == [f"delivery {n}".encode() for n in range(5)]
    assert [r.path for r, _ in server.log] == [f"/hook/{n}" for n in range(5)]
    jobs = forwards(second.test_client(), bin_id)
    assert [job["request_id"] for job in jobs] == sent
    assert [(job["status"], job["attempts"]) for job in jobs] == [("done", 2)] + [("done", 1)] * 4


def test_the_background_thread_forwards_as_requests_arrive(make_app, httpserver):
    counter = Counter()
    httpserver.expect_request("/live").respond_with_handler(counter)
    app = make_app(RECEIVER_FORWARD_WORKER=True, RECEIVER_REPLAY_TIMEOUT=2)
    start_background_work(app)
    client = app.test_client()
    bin_id = forwarding_bin(client, httpserver.url_for("/live"))

    for n in range(3):
        ingest(client, bin_id, f"{n}".encode())

    assert counter.wait_for(3) == [b"0", b"1", b"2"]
    close_app(app)
    assert counter.bodies == [b"0", b"1", b"2"]


def test_background_threads_survive_a_restart_with_nothing_lost(make_app, down_port, late_servers):
    first = make_app(RECEIVER_FORWARD_WORKER=True, RECEIVER_REPLAY_TIMEOUT=2)
    start_background_work(first)
    client = first.test_client()
    bin_id = forwarding_bin(client, f"http://127.0.0.1:{down_port}/hook")
    for n in range(3):
        ingest(client, bin_id, f"{n}".encode())
    wait_until(
        lambda: forwards(client, bin_id)[0]["attempts"] > 0,
        what="the first process's thread to try once",
    )
    assert forwards(client, bin_id)[0]["last_error"].startswith("connection refused")
    close_app(first)

    counter = Counter()
    server = late_servers(down_port)
    server.expect_request("/hook").respond_with_handler(counter)
    second = make_app(RECEIVER_FORWARD_WORKER=True, RECEIVER_REPLAY_TIMEOUT=2)
    start_background_work(second)

    assert counter.wait_for(3) == [b"0", b"1", b"2"]
    close_app(second)
    assert counter.bodies == [b"0", b"1", b"2"]
    assert [job["status"] for job in forwards(second.test_client(), bin_id)] == ["done"] * 3


KILLED_PROCESS = textwrap.dedent(
    """
    import json, os, signal, sys, time
    from receiver import create_app
    from receiver.web.serving import RAW_HEADERS_KEY
    from receiver.web.serving import start_background_work

    url, port = sys.argv[1], int(sys.argv[2])
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "RECEIVER_AUTO_MIGRATE": False,
        "RECEIVER_FORWARD_WORKER": True,
        "RECEIVER_REPLAY_TIMEOUT": 2,
    })
    start_background_work(app)
    client = app.test_client()
    bin_id = client.post("/api/bins", json={}).get_json()["id"]
    client.patch(f"/api/bins/{bin_id}", json={"forward_url": f"http://127.0.0.1:{port}/hook"})
    for n in range(4):
        answer = client.post(f"/b/{bin_id}", data=f"{n}".encode(),
                             environ_overrides={RAW_HEADERS_KEY: []})
        assert answer.status_code == 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jobs = client.get(f"/api/bins/{bin_id}/forwards").get_json()["forwards"]
        if jobs[-1]["attempts"]:
            break
        time.sleep(0.05)
    print(json.dumps({"bin": bin_id, "jobs": jobs}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.system
def test_forwards_survive_a_killed_process(
    database_url, make_app, down_port, late_servers, tmp_path
):
    # a real process, killed with SIGKILL while its forwarder thread is running
    died = run(
        [sys.executable, "-c", KILLED_PROCESS, database_url, str(down_port)],
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    said = described(died)
    assert died.returncode == -signal.SIGKILL, said
    report = json.loads(died.stdout)
    assert report["jobs"][-1]["attempts"] >= 1, said

    server = late_servers(down_port)
    server.expect_request("/hook").respond_with_data("ok")
    second = make_app()
    forward_all(engine_of(second), now=at(utcnow() + LATER))

    assert [r.get_data() for r, _ in server.log] == [b"0", b"1", b"2", b"3"]
    jobs = forwards(second.test_client(), report["bin"])
    assert [job["status"] for job in jobs] == ["done"] * 4


def test_the_forward_worker_command_drains_the_queue(app, client, runner, target):
    bin_id = forwarding_bin(client, target.url_for("/cli"))
    ingest(client, bin_id, b"one")
    ingest(client, bin_id, b"two")
    target.expect_request("/cli").respond_with_data("ok")

    result = runner.invoke(args=["forward-worker", "--once"])

    assert result.exit_code == 0, result.output
    assert "forwarded: 2 attempts" in result.output
    assert [r.get_data() for r, _ in target.log] == [b"one", b"two"]
    assert [job["status"] for job in forwards(client, bin_id)] == ["done", "done"]


class InterruptingClock:
    """A worker's clock: ``now()`` gives the next time, and may first let another worker act.

    ``forward_due`` asks for the time once to claim and once before each delivery, so the
    ``interrupt`` runs at an exact point of the worker's batch, with no threads involved.
    """

    def __init__(self, times: list[datetime], interrupt_at: int, interrupt: Any) -> None:
        self.times = times
        self.calls = 0
        self.interrupt_at = interrupt_at
        self.interrupt = interrupt

    def __call__(self) -> datetime:
        self.calls += 1
        if self.calls == self.interrupt_at:
            self.interrupt()
        return self.times[min(self.calls, len(self.times)) - 1]


@pytest.mark.parametrize("other", ["sent-it", "still-sending"])
def test_a_job_taken_over_after_its_lease_ran_out_is_sent_once(app, client, target, other):
    policy = ForwardPolicy(max_attempts=5, timeout=10.0, first_delay=10.0)
    lease = timedelta(seconds=policy.timeout * 2 + 5)
    first = forwarding_bin(client, target.url_for("/a"))
    second = forwarding_bin(client, target.url_for("/b"))
    ingest(client, first, b"a")
    ingest(client, second, b"b")
    target.expect_request(re.compile("/[ab]")).respond_with_data("ok")
    engine = engine_of(app)
    t0 = utcnow()
    # the first worker's earlier sends took so long that its lease on "b" has run out
    late = t0 + lease + timedelta(seconds=1)
    taken_over: list[int] = []

    def other_worker() -> None:
        if other == "sent-it":
            assert forward_due(engine, policy, now=at(late)) == 1
        else:
            with Session(engine) as session:
                taken_over.extend(claim_jobs(session, late, limit=10, lease=lease))

    # calls: 1 claims both jobs, 2 delivers "a", 3 delivers "b" after the other worker acted
    clock = InterruptingClock([t0, t0, late + timedelta(seconds=2)], 3, other_worker)
    forward_due(engine, policy, now=clock)
    if taken_over:
        with Session(engine) as session:
            deliver(session, taken_over[0], policy, late + timedelta(seconds=3))

    assert sorted(r.get_data() for r, _ in target.log) == [b"a", b"b"]
    assert [job["attempts"] for job in forwards(client, second)] == [1]


def test_a_catalog_example_sent_into_the_bin_is_forwarded_too(app, client, target):
    bin_id = forwarding_bin(client, target.url_for("/fwd"))
    target.expect_request("/fwd").respond_with_data("ok")

    sent = client.post(
        f"/api/bins/{bin_id}/send", json={"provider": "appery", "event": "PROJECT_BUILD_IOS_FAIL"}
    )

    assert sent.status_code == 201, sent.get_json()
    captured = sent.get_json()
    assert [job["request_id"] for job in forwards(client, bin_id)] == [captured["id"]]
    assert forward_due(engine_of(app), POLICY) == 1
    ((got, _),) = target.log
    assert got.get_data() == base64.b64decode(captured["body_base64"])
