"""Scenario replay through the API, run by the real background runner against a real HTTP
target (pytest-httpserver), on both databases: order, spacing, duplicates, selection, stopping,
and scenarios whose process died."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from actions import store_captures
from flask import Flask
from flask.testing import FlaskClient
from werkzeug import Request
from werkzeug import Response

from receiver.capture.request import RawRequest
from receiver.delivery import scenarios
from receiver.storage.db import db
from receiver.storage.models import Scenario
from receiver.storage.models import utcnow
from receiver.web.serving import start_scenario_runner

SPACING_MS = 400
TOLERANCE = 0.2


class Arrivals:
    """What the target received: each body and when (monotonic seconds), in arrival order."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, dict[str, Any], list[tuple[str, str]]]] = []
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.seen.append((time.monotonic(), json.loads(request.data), list(request.headers)))
        return Response("ok", status=200)

    def bodies(self) -> list[int]:
        return [body["n"] for _, body, _ in self.seen]


@pytest.fixture
def runner(app: Flask) -> Iterator[scenarios.ScenarioRunner]:
    """The scenario runner a serving process starts (stopped by the app fixture's close)."""
    start_scenario_runner(app)
    yield app.extensions["receiver.scenarios"]


def capture(app: Flask, bin_id: str, count: int, spacing_ms: int = 0, **fields: Any) -> list[int]:
    """``count`` JSON captures ``{"n": i}``, received ``spacing_ms`` apart."""
    start = utcnow() - timedelta(minutes=5)
    ids = []
    for n in range(count):
        raw = RawRequest(
            fields.get("method", "POST"),
            "/sub",
            "a=1",
            [("Content-Type", "application/json")],
            json.dumps({"n": n}).encode(),
        )
        at = start + timedelta(milliseconds=n * spacing_ms)
        ids += store_captures(app, bin_id, [raw], received_at=at)
    return ids


def wait_finished(client: FlaskClient, bin_id: str, scenario_id: int, timeout: float = 30) -> Any:
    """The scenario once it has finished (asked for twice a second: the runner, the target and
    this thread share one interpreter, and the spacing is measured)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/api/bins/{bin_id}/scenarios/{scenario_id}").get_json()
        if state["status"] not in scenarios.UNFINISHED:
            return state
        time.sleep(0.5)
    raise AssertionError(f"scenario {scenario_id} did not finish: {state}")


def test_twenty_captures_are_replayed_in_order_with_their_spacing_and_duplicates(
    app, client, bins, target, runner
):
    bin_id = bins.create()["id"]
    ids = capture(app, bin_id, 20, spacing_ms=SPACING_MS * 2)
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
    # each original arrives at its planned offset from a common start, give or take a fifth
    # of the spacing (the start is the median one: a first send that is slow to connect does
    # not shift the others, which keep their planned moments)
    starts = sorted(arrivals.seen[2 * n][0] * 1000 - n * SPACING_MS for n in range(20))
    start = starts[10]
    lateness = [arrivals.seen[2 * n][0] * 1000 - n * SPACING_MS - start for n in range(20)]
    # a loaded 2-core machine may delay one or two sends (the runner, the target and the test
    # share it); a runner that kept the wrong spacing misses by more on most of them
    on_time = [late for late in lateness if abs(late) <= SPACING_MS * TOLERANCE]
    assert len(on_time) >= 18, lateness
    span = (arrivals.seen[38][0] - arrivals.seen[0][0]) * 1000
    assert abs(span - 19 * SPACING_MS) <= 19 * SPACING_MS * TOLERANCE, span
    # one attempt record per send, in order, with its plan and its answer
    attempts = state["attempts"]
    assert [a["request_id"] for a in attempts] == [i for i in ids for _ in range(2)]
    assert [a["position"] for a in attempts] == list(range(40))
    assert [a["scheduled_ms"] for a in attempts[::2]] == [n * SPACING_MS for n in range(20)]
    assert {a["status_code"] for a in attempts} == {200}
    assert all(a["error"] is None for a in attempts)
    replays = client.get(f"/api/bins/{bin_id}/requests/{ids[3]}/replays").get_json()["replays"]
    assert [r["kind"] for r in replays] == ["scenario", "scenario"]
    assert {r["scenario_id"] for r in replays} == {created["id"]}
    listed = client.get(f"/api/bins/{bin_id}/scenarios").get_json()["scenarios"]
    assert [s["id"] for s in listed] == [created["id"]]
    assert "attempts" not in listed[0] and "plan" not in listed[0]["spec"]


def test_an_interval_scenario_of_a_filter_sends_only_the_matching_captures(
    app, client, bins, target, runner
):
    bin_id = bins.create()["id"]
    capture(app, bin_id, 3, method="POST")
    put_ids = capture(app, bin_id, 2, method="PUT")
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
    ids = capture(app, bin_id, 6)
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


def test_a_cancelled_scenario_stops_before_its_next_send(app, client, bins, target, runner):
    bin_id = bins.create()["id"]
    capture(app, bin_id, 5)
    target.expect_request("/hooks/sub").respond_with_data("ok")
    made = client.post(
        f"/api/bins/{bin_id}/scenarios",
        json={"url": target.url_for("/hooks"), "timing": {"mode": "interval", "ms": 60_000}},
    ).get_json()
    deadline = time.monotonic() + 10
    while client.get(f"/api/bins/{bin_id}/scenarios/{made['id']}").get_json()["done"] < 1:
        assert time.monotonic() < deadline, "the first send never happened"
        time.sleep(0.05)
    cancelled = client.post(f"/api/bins/{bin_id}/scenarios/{made['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    time.sleep(0.3)
    state = client.get(f"/api/bins/{bin_id}/scenarios/{made['id']}").get_json()
    assert (state["status"], state["done"], len(state["attempts"])) == ("cancelled", 1, 1)
    again = client.post(f"/api/bins/{bin_id}/scenarios/{made['id']}/cancel")
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "finished"


def test_a_running_scenario_whose_process_died_is_marked_interrupted(app, client, bins):
    bin_id = bins.create()["id"]
    capture(app, bin_id, 3)
    made = client.post(
        f"/api/bins/{bin_id}/scenarios",
        json={"url": "http://127.0.0.1:9/x", "timing": {"mode": "interval", "ms": 1000}},
    ).get_json()
    now = utcnow()
    with app.app_context():
        from sqlalchemy.orm import Session

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
    capture(app, bin_id, 1)
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
    capture(app, bin_id, 2)
    answer = client.post(f"/api/bins/{bin_id}/scenarios", json=body)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] == code
    assert answer.get_json()["error"]["message"]
    assert client.get(f"/api/bins/{bin_id}/scenarios").get_json() == {"scenarios": []}


def test_a_scenario_of_another_bin_is_not_found(app, client, bins):
    mine, other = bins.create()["id"], bins.create()["id"]
    capture(app, mine, 1)
    made = client.post(f"/api/bins/{mine}/scenarios", json={"url": "http://x/"}).get_json()
    assert client.get(f"/api/bins/{other}/scenarios/{made['id']}").status_code == 404
    assert client.post(f"/api/bins/{other}/scenarios/{made['id']}/cancel").status_code == 404
