"""Scenario replay through the API against a real HTTP target (pytest-httpserver), on both
databases: order, duplicates, selection, stopping, and scenarios whose process died, run by the
real background runner; the timing of the sends, run on a clock the test holds.

Spacing on the real clock is a figure, not a test: bench/promises.py measures it."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from actions import logged_above_info
from actions import numbered_captures
from clocks import FakeClock
from flask import Flask
from flask.testing import FlaskClient
from servers import free_port
from sqlalchemy.orm import Session
from werkzeug import Request
from werkzeug import Response

from receiver.delivery import scenarios
from receiver.storage.db import db
from receiver.storage.models import Scenario
from receiver.storage.models import utcnow
from receiver.web.services import services

SPACING_MS = 400


class Arrivals:
    """What the target received: each body and when (on ``clock``), in arrival order; ``then``
    runs inside the target's answer to the n-th request (0-based), while its send is in flight."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        then: dict[int, Callable[[], None]] | None = None,
    ) -> None:
        self.seen: list[tuple[float, dict[str, Any], list[tuple[str, str]]]] = []
        self.lock = threading.Lock()
        self.clock = clock
        self.then = then or {}

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.seen.append((self.clock(), json.loads(request.data), list(request.headers)))
            step = self.then.get(len(self.seen) - 1)
        if step is not None:
            step()
        return Response("ok", status=200)

    def bodies(self) -> list[int]:
        return [body["n"] for _, body, _ in self.seen]

    def moments(self) -> list[float]:
        return [at for at, _, _ in self.seen]


@pytest.fixture
def runner(app: Flask) -> Iterator[scenarios.ScenarioRunner]:
    """The scenario runner a serving process starts (stopped by the app fixture's close)."""
    runner = services(app).scenarios
    runner.start()
    yield runner


def wait_finished(client: FlaskClient, bin_id: str, scenario_id: int, timeout: float = 60) -> Any:
    """The scenario once it has finished (asked for twice a second: the runner, the target and
    this thread share one interpreter)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/api/bins/{bin_id}/scenarios/{scenario_id}").get_json()
        if state["status"] not in scenarios.UNFINISHED:
            return state
        time.sleep(0.5)
    raise AssertionError(f"scenario {scenario_id} did not finish: {state}")


def test_twenty_captures_are_replayed_in_order_with_their_plan_and_duplicates(
    app, client, bins, target, runner
):
    bin_id = bins.create()["id"]
    ids = numbered_captures(app, bin_id, 20, spacing_ms=20)
    arrivals = Arrivals()
    target.expect_request("/hooks/sub").respond_with_handler(arrivals)

    answer = client.post(
        f"/api/bins/{bin_id}/scenarios",
        json={
            "url": target.url_for("/hooks"),
            "timing": {"mode": "original", "speed": 2.0},
            "duplicates": 1,
        },
    )
    assert answer.status_code == 202, answer.get_json()
    created = answer.get_json()
    assert answer.headers["Location"].endswith(f"/api/bins/{bin_id}/scenarios/{created['id']}")
    assert created["status"] in ("pending", "running")  # the runner may have claimed it
    assert created["total"] == 40
    state = wait_finished(client, bin_id, created["id"])

    assert (state["status"], state["done"], state["error"]) == ("done", 40, None)
    assert arrivals.bodies() == [n for n in range(20) for _ in range(2)]
    # one attempt record per send, in order, with its plan and its answer
    attempts = state["attempts"]
    assert [a["request_id"] for a in attempts] == [i for i in ids for _ in range(2)]
    assert [a["position"] for a in attempts] == list(range(40))
    assert [a["scheduled_ms"] for a in attempts[::2]] == [n * 10 for n in range(20)]
    assert {a["status_code"] for a in attempts} == {200}
    assert all(a["error"] is None for a in attempts)
    # sends never overlap and never go before their moment
    sent = [a["sent_ms"] for a in attempts]
    assert sent == sorted(sent)
    assert all(a["sent_ms"] >= a["scheduled_ms"] for a in attempts)
    replays = client.get(f"/api/bins/{bin_id}/requests/{ids[3]}/replays").get_json()["replays"]
    assert [r["kind"] for r in replays] == ["scenario", "scenario"]
    assert {r["scenario_id"] for r in replays} == {created["id"]}
    listed = client.get(f"/api/bins/{bin_id}/scenarios").get_json()["scenarios"]
    assert [s["id"] for s in listed] == [created["id"]]
    assert "attempts" not in listed[0] and "plan" not in listed[0]["spec"]


def run_on(app: Flask, scenario_id: int, clock: FakeClock, stop: threading.Event | None = None):
    """Claim a queued scenario and run it here, on ``clock``; its final status."""
    with app.app_context():
        engine = db.engine
    with Session(engine) as session:
        assert scenarios.claim(session, scenario_id, clock.now())
    settings = scenarios.RunSettings(
        timeout=5, monotonic=clock.monotonic, now=clock.now, wait=clock.wait
    )
    return scenarios.run_scenario(engine, scenario_id, settings, stop or threading.Event())


def test_each_send_goes_at_its_planned_moment_and_a_slow_answer_makes_the_next_late(
    app, client, bins, target
):
    bin_id = bins.create()["id"]
    numbered_captures(app, bin_id, 5, spacing_ms=SPACING_MS)
    clock = FakeClock()
    # the third send takes a whole second to be answered
    arrivals = Arrivals(clock.monotonic, then={2: lambda: clock.advance(1.0)})
    target.expect_request("/hooks/sub").respond_with_handler(arrivals)
    made = client.post(f"/api/bins/{bin_id}/scenarios", json={"url": target.url_for("/hooks")})

    assert run_on(app, made.get_json()["id"], clock) == "done"

    # on time until the slow answer; then the sends that are due go at once, in order
    assert arrivals.moments() == pytest.approx([0.0, 0.4, 0.8, 1.8, 1.8])
    assert arrivals.bodies() == [0, 1, 2, 3, 4]
    state = client.get(f"/api/bins/{bin_id}/scenarios/{made.get_json()['id']}").get_json()
    assert [a["scheduled_ms"] for a in state["attempts"]] == [0, 400, 800, 1200, 1600]
    assert [a["sent_ms"] for a in state["attempts"]] == pytest.approx([0, 400, 800, 1800, 1800])
    # a long wait is taken in steps, each re-reading the scenario's status (a cancel elsewhere)
    assert max(clock.waits) <= scenarios.POLL_SECONDS


def test_an_interval_of_a_minute_waits_in_steps_of_the_poll_and_sends_on_the_minute(
    app, client, bins, target
):
    bin_id = bins.create()["id"]
    numbered_captures(app, bin_id, 2)
    clock = FakeClock()
    arrivals = Arrivals(clock.monotonic)
    target.expect_request("/hooks/sub").respond_with_handler(arrivals)
    made = client.post(
        f"/api/bins/{bin_id}/scenarios",
        json={"url": target.url_for("/hooks"), "timing": {"mode": "interval", "ms": 60_000}},
    )

    assert run_on(app, made.get_json()["id"], clock) == "done"

    assert arrivals.moments() == pytest.approx([0.0, 60.0])
    assert len(clock.waits) == 60 and set(clock.waits) == {scenarios.POLL_SECONDS}


def test_a_cancelled_scenario_stops_before_its_next_send(app, client, bins, target):
    bin_id = bins.create()["id"]
    numbered_captures(app, bin_id, 5)
    clock = FakeClock()
    made: dict[str, Any] = {}

    def cancel() -> None:
        path = f"/api/bins/{bin_id}/scenarios/{made['id']}/cancel"
        cancelled = app.test_client().post(path)
        assert cancelled.status_code == 200, cancelled.get_json()
        assert cancelled.get_json()["status"] == "cancelled"

    # the scenario is cancelled while its first send is in flight
    arrivals = Arrivals(clock.monotonic, then={0: cancel})
    target.expect_request("/hooks/sub").respond_with_handler(arrivals)
    made.update(
        client.post(
            f"/api/bins/{bin_id}/scenarios",
            json={"url": target.url_for("/hooks"), "timing": {"mode": "interval", "ms": 60_000}},
        ).get_json()
    )

    assert run_on(app, made["id"], clock) == "cancelled"

    assert len(arrivals.seen) == 1
    state = client.get(f"/api/bins/{bin_id}/scenarios/{made['id']}").get_json()
    assert (state["status"], state["done"], len(state["attempts"])) == ("cancelled", 1, 1)
    again = client.post(f"/api/bins/{bin_id}/scenarios/{made['id']}/cancel")
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "finished"


def test_a_stopping_server_interrupts_its_runs_before_their_next_send(app, client, bins, target):
    bin_id = bins.create()["id"]
    numbered_captures(app, bin_id, 3)
    clock = FakeClock()
    stop = threading.Event()
    arrivals = Arrivals(clock.monotonic, then={0: stop.set})
    target.expect_request("/hooks/sub").respond_with_handler(arrivals)
    made = client.post(
        f"/api/bins/{bin_id}/scenarios",
        json={"url": target.url_for("/hooks"), "timing": {"mode": "interval", "ms": 1000}},
    ).get_json()

    assert run_on(app, made["id"], clock, stop) == "interrupted"

    assert len(arrivals.seen) == 1
    state = client.get(f"/api/bins/{bin_id}/scenarios/{made['id']}").get_json()
    assert state["status"] == "interrupted"
    assert state["error"] == "interrupted after 1 of 3 sends: the server stopped"


def test_an_interval_scenario_of_a_filter_sends_only_the_matching_captures(
    app, client, bins, target, runner
):
    bin_id = bins.create()["id"]
    numbered_captures(app, bin_id, 3, method="POST")
    put_ids = numbered_captures(app, bin_id, 2, method="PUT")
    arrivals = Arrivals()
    target.expect_request("/hooks").respond_with_handler(arrivals)
    answer = client.post(
        f"/api/bins/{bin_id}/scenarios",
        json={
            "url": target.url_for("/hooks"),
            "filter": {"method": "put"},
            "timing": {"mode": "interval", "ms": 50},
            "append_path": False,
        },
    )
    assert answer.status_code == 202, answer.get_json()
    state = wait_finished(client, bin_id, answer.get_json()["id"])
    assert state["spec"]["filter"] == {"method": "PUT"}
    assert [a["request_id"] for a in state["attempts"]] == put_ids
    assert [a["scheduled_ms"] for a in state["attempts"]] == [0, 50]
    assert len(arrivals.seen) == 2


def test_chosen_ids_are_sent_in_capture_order_and_shuffled_reproducibly(app, client, bins):
    bin_id = bins.create()["id"]
    ids = numbered_captures(app, bin_id, 6)
    body = {"url": "http://127.0.0.1:9/x", "request_ids": ids[::-1], "shuffle_window": 3}
    first = client.post(f"/api/bins/{bin_id}/scenarios", json={**body, "seed": 7}).get_json()
    again = client.post(f"/api/bins/{bin_id}/scenarios", json={**body, "seed": 7}).get_json()
    with app.app_context():
        plans = [
            [s.request_id for s in scenarios.planned(db.session.get(Scenario, made["id"]))]
            for made in (first, again)
        ]
    assert plans[0] == plans[1]
    assert sorted(plans[0][:3]) == ids[:3] and sorted(plans[0][3:]) == ids[3:]
    assert first["spec"]["seed"] == 7


def test_a_running_scenario_whose_process_died_is_marked_interrupted(app, client, bins):
    bin_id = bins.create()["id"]
    numbered_captures(app, bin_id, 3)
    made = client.post(
        f"/api/bins/{bin_id}/scenarios",
        json={"url": "http://127.0.0.1:9/x", "timing": {"mode": "interval", "ms": 1000}},
    ).get_json()
    now = utcnow()
    with app.app_context():
        with Session(db.engine) as session:
            assert scenarios.claim(session, made["id"], now - timedelta(minutes=5))
            # a live run is not touched; one overdue past the grace is
            assert scenarios.sweep_interrupted(session, now - timedelta(minutes=5), 60) == 0
            assert scenarios.sweep_interrupted(session, now, 60) == 1
    state = client.get(f"/api/bins/{bin_id}/scenarios/{made['id']}").get_json()
    assert state["status"] == "interrupted"
    assert "after 0 of 3 sends" in state["error"]


def test_resigning_uses_the_bins_secret_and_never_shows_it(app, client, bins, target, runner):
    bin_id = bins.create()["id"]
    numbered_captures(app, bin_id, 1)
    arrivals = Arrivals()
    target.expect_request("/hooks/sub").respond_with_handler(arrivals)
    body = {"url": target.url_for("/hooks"), "resign": True}
    refused = client.post(f"/api/bins/{bin_id}/scenarios", json=body)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "no_secret"
    secret = "s3cret-for-resigning"
    signature = {"scheme": "hmac-sha256", "secret": secret}
    client.patch(f"/api/bins/{bin_id}", json={"signature": signature})
    made = client.post(f"/api/bins/{bin_id}/scenarios", json=body).get_json()
    assert secret not in json.dumps(made)
    wait_finished(client, bin_id, made["id"])
    ((_, _, headers),) = arrivals.seen
    assert any(name == "X-Hub-Signature-256" for name, _ in headers)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_scenario"),
        ({"url": 5}, "invalid_scenario"),
        ({"url": "ftp://example.com/"}, "invalid_scenario"),
        ({"url": "http://x/", "timing": {"mode": "warp"}}, "invalid_scenario"),
        ({"url": "http://x/", "timing": {"mode": "original", "speed": 0}}, "invalid_scenario"),
        ({"url": "http://x/", "timing": {"mode": "original", "speed": True}}, "invalid_scenario"),
        ({"url": "http://x/", "timing": {"mode": "interval"}}, "invalid_scenario"),
        ({"url": "http://x/", "timing": {"mode": "interval", "ms": -1}}, "invalid_scenario"),
        ({"url": "http://x/", "duplicates": 5}, "invalid_scenario"),
        ({"url": "http://x/", "shuffle_window": "3"}, "invalid_scenario"),
        ({"url": "http://x/", "resign": {"yes": 1}}, "invalid_scenario"),
        ({"url": "http://x/", "request_ids": []}, "invalid_scenario"),
        ({"url": "http://x/", "request_ids": [999999]}, "unknown_requests"),
        ({"url": "http://x/", "request_ids": [1], "filter": {}}, "invalid_scenario"),
        ({"url": "http://x/", "filter": {"validation": "nope"}}, "invalid_scenario"),
        ({"url": "http://x/", "filter": {"method": "GET"}}, "no_captures"),
        ({"url": "http://x/", "colour": "red"}, "invalid_scenario"),
    ],
)
def test_scenarios_that_cannot_be_planned_are_refused_in_words(app, client, bins, body, code):
    bin_id = bins.create()["id"]
    numbered_captures(app, bin_id, 2)
    answer = client.post(f"/api/bins/{bin_id}/scenarios", json=body)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] == code
    assert answer.get_json()["error"]["message"]
    assert client.get(f"/api/bins/{bin_id}/scenarios").get_json() == {"scenarios": []}


def test_a_scenario_of_another_bin_is_not_found(app, client, bins):
    mine, other = bins.create()["id"], bins.create()["id"]
    numbered_captures(app, mine, 1)
    made = client.post(f"/api/bins/{mine}/scenarios", json={"url": "http://x/"}).get_json()
    assert client.get(f"/api/bins/{other}/scenarios/{made['id']}").status_code == 404
    assert client.post(f"/api/bins/{other}/scenarios/{made['id']}/cancel").status_code == 404


# -- the data moving under a run ------------------------------------------------------------------


def under_a_send(app: Flask, method: str, path: str) -> Callable[[], None]:
    """A step that calls the API while a send is in flight (another request of the server)."""

    def step() -> None:
        answer = app.test_client().open(path, method=method)
        assert answer.status_code in (200, 204), answer.get_data(as_text=True)

    return step


def test_a_scenario_whose_bin_is_deleted_during_a_send_ends_quietly(
    app, client, bins, target, caplog
):
    bin_id = bins.create()["id"]
    numbered_captures(app, bin_id, 3)
    clock = FakeClock()
    delete = under_a_send(app, "DELETE", f"/api/bins/{bin_id}")
    arrivals = Arrivals(clock.monotonic, then={1: delete})
    target.expect_request("/hooks/sub").respond_with_handler(arrivals)
    made = client.post(f"/api/bins/{bin_id}/scenarios", json={"url": target.url_for("/hooks")})

    with caplog.at_level(logging.INFO):
        assert run_on(app, made.get_json()["id"], clock) == "gone"

    assert len(arrivals.seen) == 2
    assert logged_above_info(caplog) == []


def test_a_scenario_whose_captures_are_cleared_during_a_send_skips_them_and_ends_done(
    app, client, bins, target, caplog
):
    bin_id = bins.create()["id"]
    numbered_captures(app, bin_id, 3)
    clock = FakeClock()
    clear = under_a_send(app, "DELETE", f"/api/bins/{bin_id}/requests")
    arrivals = Arrivals(clock.monotonic, then={0: clear})
    target.expect_request("/hooks/sub").respond_with_handler(arrivals)
    made = client.post(f"/api/bins/{bin_id}/scenarios", json={"url": target.url_for("/hooks")})

    with caplog.at_level(logging.INFO):
        assert run_on(app, made.get_json()["id"], clock) == "done"

    assert len(arrivals.seen) == 1
    state = client.get(f"/api/bins/{bin_id}/scenarios/{made.get_json()['id']}").get_json()
    assert (state["done"], state["attempts"]) == (3, [])
    assert state["error"] == "3 capture(s) were deleted before their send was recorded"
    assert logged_above_info(caplog) == []


def test_a_scenario_deleted_with_its_bin_before_its_run_starts_ends_quietly(
    app, client, bins, caplog
):
    bin_id = bins.create()["id"]
    numbered_captures(app, bin_id, 1)
    made = client.post(f"/api/bins/{bin_id}/scenarios", json={"url": "http://127.0.0.1:9/"})
    clock = FakeClock()
    with app.app_context():
        engine = db.engine
    with Session(engine) as session:
        assert scenarios.claim(session, made.get_json()["id"], clock.now())
    client.delete(f"/api/bins/{bin_id}")
    settings = scenarios.RunSettings(timeout=5, monotonic=clock.monotonic, wait=clock.wait)

    with caplog.at_level(logging.INFO):
        status = scenarios.run_scenario(engine, made.get_json()["id"], settings, threading.Event())

    assert status == "gone"
    assert logged_above_info(caplog) == []


def test_a_run_whose_only_send_is_refused_is_done_with_that_send_failed(app, client, bins):
    bin_id = bins.create()["id"]
    numbered_captures(app, bin_id, 1)
    refused = f"http://127.0.0.1:{free_port()}/hooks"
    made = client.post(f"/api/bins/{bin_id}/scenarios", json={"url": refused}).get_json()
    assert made["failed"] == 0

    assert run_on(app, made["id"], FakeClock()) == "done"

    state = client.get(f"/api/bins/{bin_id}/scenarios/{made['id']}").get_json()
    assert (state["status"], state["done"], state["failed"]) == ("done", 1, 1)
    assert state["attempts"][0]["error"].startswith("connection refused")
    (listed,) = client.get(f"/api/bins/{bin_id}/scenarios").get_json()["scenarios"]
    assert (listed["done"], listed["failed"]) == (1, 1)


def test_answers_of_400_or_more_count_as_failed_sends_and_others_do_not(app, client, bins, target):
    bin_id = bins.create()["id"]
    numbered_captures(app, bin_id, 4)
    answers = iter([200, 302, 404, 503])
    target.expect_request("/hooks/sub").respond_with_handler(
        lambda request: Response("answer", status=next(answers))
    )
    made = client.post(f"/api/bins/{bin_id}/scenarios", json={"url": target.url_for("/hooks")})

    assert run_on(app, made.get_json()["id"], FakeClock()) == "done"

    state = client.get(f"/api/bins/{bin_id}/scenarios/{made.get_json()['id']}").get_json()
    assert (state["done"], state["failed"]) == (4, 2)
