"""Forwarding in the browser (issue 18, item 14): the settings drawer sets the forward URL as the
API does, and shows the forward queue's state beside it (pending, retrying, given up, the last
error), from ``delivery.forwarding.queue_state``. Forwarding runs here through ``forward_due``
with an injected clock, against a port nothing listens on and a real target.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from htmltree import parse
from pytest_httpserver import HTTPServer
from servers import free_port
from sqlalchemy.engine import Engine

from receiver.delivery.forwarding import ForwardPolicy
from receiver.delivery.forwarding import QueueState
from receiver.delivery.forwarding import forward_due
from receiver.delivery.forwarding import queue_state
from receiver.storage.db import db
from receiver.storage.models import utcnow

HTMX = {"HX-Request": "true"}
POLICY = ForwardPolicy(max_attempts=2, timeout=5.0, first_delay=10.0)
LATER = timedelta(hours=1)


@pytest.fixture
def down_url() -> Iterator[str]:
    yield f"http://127.0.0.1:{free_port()}/hook"


def engine_of(app: Flask) -> Engine:
    with app.app_context():
        return db.engine


def state_of(app: Flask, bin_id: str) -> QueueState:
    with app.app_context():
        return queue_state(db.session, bin_id)


def settings(client: Any, bin_id: str, **fields: str) -> Any:
    """Save the settings form as the drawer sends it."""
    form = {"status": "200", "delay_ms": "0", "headers": "", "body": "", "expected": ""}
    return client.post(f"/bins/{bin_id}/settings", data=form | fields, headers=HTMX)


def capture(client: Any, bin_id: str) -> int:
    response = client.post(f"/b/{bin_id}", data=b'{"a": 1}')
    return int(response.headers["X-Receiver-Request-Id"])


def test_the_settings_form_sets_and_clears_the_forward_url(client, bins, down_url):
    bin_id = bins.create()["id"]
    form = parse(client.get(f"/bins/{bin_id}").data).find(id="bin-settings")
    assert form.find(id="forward-url").attrs["name"] == "forward_url"
    assert settings(client, bin_id, forward_url=down_url).status_code == 200
    assert client.get(f"/api/bins/{bin_id}").get_json()["forward_url"] == down_url
    drawer = parse(client.get(f"/bins/{bin_id}").data).find(id="bin-settings")
    assert drawer.find(id="forward-url").attrs["value"] == down_url
    assert settings(client, bin_id, forward_url="").status_code == 200
    assert client.get(f"/api/bins/{bin_id}").get_json()["forward_url"] is None


def test_a_forward_url_that_cannot_be_used_is_refused_in_the_form(client, bins):
    bin_id = bins.create()["id"]
    answer = settings(client, bin_id, forward_url="ftp://example.com/x")
    assert answer.status_code == 400
    assert "forward_url" in parse(answer.data).find(role="alert").text()
    assert client.get(f"/api/bins/{bin_id}").get_json()["forward_url"] is None


def test_the_queue_counts_pending_retrying_and_given_up_jobs_with_the_last_error(
    app, client, bins, down_url
):
    bin_id = bins.create(forward_url=down_url)["id"]
    assert state_of(app, bin_id) == QueueState()
    first, second = capture(client, bin_id), capture(client, bin_id)
    assert state_of(app, bin_id) == QueueState(pending=2)

    assert forward_due(engine_of(app), POLICY) == 1  # the first fails; the second waits behind
    state = state_of(app, bin_id)
    assert (state.pending, state.retrying, state.failed) == (1, 1, 0)
    assert state.last_error and "refused" in state.last_error
    assert state.last_error_request_id == first
    assert state.next_retry_at is not None and state.next_retry_at > utcnow()

    later = utcnow() + LATER
    forward_due(engine_of(app), POLICY, now=lambda: later)  # its last attempt: given up
    state = state_of(app, bin_id)
    assert (state.pending, state.retrying, state.failed) == (0, 1, 1)
    assert state.last_error_request_id == second
    assert state.unfinished == 1


def test_a_delivered_job_counts_as_done(app, client, bins, httpserver: HTTPServer):
    httpserver.expect_request("/hook").respond_with_data("ok")
    bin_id = bins.create(forward_url=httpserver.url_for("/hook"))["id"]
    capture(client, bin_id)
    assert forward_due(engine_of(app), POLICY) == 1
    assert state_of(app, bin_id) == QueueState(done=1)


def test_the_drawer_shows_the_queue_state_beside_the_forward_url(app, client, bins, down_url):
    bin_id = bins.create(forward_url=down_url)["id"]
    request_id = capture(client, bin_id)
    forward_due(engine_of(app), POLICY)
    panel = parse(client.get(f"/bins/{bin_id}/forward-queue", headers=HTMX).data)
    queue = panel.find(id="forward-queue")
    words = " ".join(queue.text().split())
    assert "1 retrying" in words and "0 given up" in words
    assert "refused" in words
    links = [a.attrs["href"] for a in queue.find_all("a")]
    assert f"/bins/{bin_id}?request={request_id}" in links
    # while jobs are unfinished the panel refreshes itself; once all are settled it stops
    assert "load delay" in (queue.attrs.get("hx-trigger") or "")


def test_without_a_forward_url_the_queue_says_forwarding_is_off(client, bins):
    bin_id = bins.create()["id"]
    queue = parse(client.get(f"/bins/{bin_id}/forward-queue", headers=HTMX).data)
    section = queue.find(id="forward-queue")
    assert "not forwarded" in " ".join(section.text().split())
    assert not section.attrs.get("hx-trigger")
