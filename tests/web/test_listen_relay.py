"""The relay behind ``receiver listen`` in-process: its calls to the server go through the app
itself (httpx's WSGI transport), its deliveries to a real target on loopback
(pytest-httpserver). Filters, re-signing with a fresh timestamp, which answers mean "down", and
the command line's usage errors (exit 2 with a clear message)."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from actions import logged_above_info
from actions import store_captures
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from servers import free_port
from servers import wait_until
from sqlalchemy import delete
from werkzeug import Request
from werkzeug import Response

from receiver.capture import feed
from receiver.capture.request import RawRequest
from receiver.catalog.model import load_catalog
from receiver.cli.listen import default_name
from receiver.cli.listen import listen_command
from receiver.delivery.relay import IDEMPOTENCY_HEADER
from receiver.delivery.relay import BinAddress
from receiver.delivery.relay import ListenOptions
from receiver.delivery.relay import Relay
from receiver.delivery.relay import RelayFailed
from receiver.delivery.relay import RelayUsageError
from receiver.delivery.relay import parse_bin_url
from receiver.signatures.registry import verify_signature
from receiver.storage.db import db
from receiver.storage.models import CapturedRequest
from receiver.storage.models import utcnow

STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def post(path: str = "/", headers: list[tuple[str, str]] | None = None) -> RawRequest:
    pairs = [("Content-Type", "application/json"), *(headers or [])]
    return RawRequest("POST", path, "", pairs, b'{"n": 1}')


class Pauses:
    """A relay's pause that takes no time: it notes each wait the relay asks for, and stops the
    relay after ``stop_after`` of them."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.asked: list[float] = []
        self.stop_after = stop_after
        self.relay: Relay | None = None

    def __call__(self, seconds: float) -> bool:
        assert self.relay is not None
        self.asked.append(seconds)
        if self.stop_after is not None and len(self.asked) >= self.stop_after:
            self.relay.stop()
        return self.relay.stopping


@contextmanager
def relaying(
    app: Flask,
    bin_id: str,
    target: str,
    lines: list[str] | None = None,
    *,
    pauses: Pauses | None = None,
    token: str | None = None,
    **options: Any,
) -> Iterator[Relay]:
    """A relay following the bin through the app, in a thread, until the block ends; what it
    says goes to ``lines``, and its pauses take no time (they are noted in ``pauses``)."""
    lines = [] if lines is None else lines
    pauses = pauses or Pauses()
    relay = Relay(
        BinAddress("http://receiver.test", bin_id),
        ListenOptions(target=target, name="laptop", wait=1, timeout=5, token=token, **options),
        say=lines.append,
        transport=httpx.WSGITransport(app=app),
        pause=pauses,
    )
    pauses.relay = relay
    worker = threading.Thread(target=relay.run, daemon=True)
    worker.start()
    try:
        yield relay
    finally:
        relay.stop()
        worker.join(10)
        assert not worker.is_alive(), lines
        assert relay.progress.failure is None, lines


def test_filters_deliver_only_matching_captures_and_the_position_passes_the_rest(
    app: Flask, bins: Any, target: HTTPServer, client: FlaskClient
) -> None:
    target.expect_request("/hooks/github", method="POST").respond_with_data("ok")
    target.expect_request("/hooks/github/push", method="POST").respond_with_data("ok")
    bin_id = bins.create()["id"]
    ids = store_captures(app, bin_id, [post("/github/push"), post("/stripe"), post("/github")])
    with relaying(
        app, bin_id, target.url_for("/hooks"), from_start=True, path_prefix="/github"
    ) as relay:
        wait_until(lambda: relay.progress.position == 3)
    got = [(r.path, r.headers[IDEMPOTENCY_HEADER]) for r, _ in target.log]
    assert got == [("/hooks/github/push", str(ids[0])), ("/hooks/github", str(ids[2]))]
    shown = client.get(f"/api/bins/{bin_id}/listeners/laptop").get_json()
    assert (shown["position"], shown["last_status"]) == (3, 200)


def test_resigning_replaces_the_signature_with_one_for_a_fresh_timestamp(
    app: Flask, bins: Any, target: HTTPServer
) -> None:
    target.expect_request("/hooks").respond_with_data("ok")
    signature = {"scheme": "standard-webhooks", "secret": STANDARD_SECRET}
    bin_id = bins.create(signature=signature)["id"]
    stale = [
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", str(int((utcnow() - timedelta(hours=2)).timestamp()))),
        ("webhook-signature", "v1,bm90IGEgc2lnbmF0dXJl"),
    ]
    store_captures(app, bin_id, [post(headers=stale)])
    with relaying(
        app, bin_id, target.url_for("/hooks"), from_start=True, resign={"secret": STANDARD_SECRET}
    ) as relay:
        wait_until(lambda: relay.progress.delivered == 1)
    ((request, _),) = target.log
    pairs = list(request.headers.items())
    assert [n for n, _ in pairs if n.lower() == "webhook-signature"] == ["Webhook-Signature"]
    verdict = verify_signature(
        scheme="standard-webhooks",
        secret=STANDARD_SECRET,
        headers=pairs,
        body=request.get_data(),
        now=utcnow(),
    )
    assert verdict.status == "verified", verdict.reason


def test_a_503_is_a_target_down_and_retried_but_a_500_is_its_answer(
    app: Flask, bins: Any, target: HTTPServer, client: FlaskClient
) -> None:
    answers = iter([503, 200, 500])

    def handler(request: Request) -> Response:
        return Response("answer", status=next(answers))

    target.expect_request("/hooks").respond_with_handler(handler)
    bin_id = bins.create()["id"]
    ids = store_captures(app, bin_id, [post(), post()])
    pauses = Pauses()
    with relaying(app, bin_id, target.url_for("/hooks"), pauses=pauses, from_start=True) as relay:
        wait_until(lambda: relay.progress.position == 2)
    keys = [r.headers[IDEMPOTENCY_HEADER] for r, _ in target.log]
    assert keys == [str(ids[0]), str(ids[0]), str(ids[1])]
    assert pauses.asked == [0.5]
    replays = client.get(f"/api/bins/{bin_id}/requests/{ids[0]}/replays").get_json()["replays"]
    assert sorted(r["status_code"] for r in replays) == [200, 503]
    shown = client.get(f"/api/bins/{bin_id}/listeners/laptop").get_json()
    assert (shown["position"], shown["last_status"]) == (2, 500)


def test_a_target_that_stays_down_gets_the_capture_again_after_pauses_that_double_to_5_s(
    app: Flask, bins: Any, target: HTTPServer
) -> None:
    answers = iter([502, 503, 504, 503, 503, 503, 200])
    target.expect_request("/hooks").respond_with_handler(
        lambda request: Response("down", status=next(answers))
    )
    bin_id = bins.create()["id"]
    (capture,) = store_captures(app, bin_id, [post()])
    pauses = Pauses()
    lines: list[str] = []
    with relaying(
        app, bin_id, target.url_for("/hooks"), pauses=pauses, lines=lines, from_start=True
    ) as relay:
        wait_until(lambda: relay.progress.delivered == 1)
    assert pauses.asked == [0.5, 1, 2, 4, 5, 5]
    assert [r.headers[IDEMPOTENCY_HEADER] for r, _ in target.log] == [str(capture)] * 7
    retried = [line for line in lines if "target down" in line]
    assert len(retried) == 6
    assert retried[0].endswith("sending it again in 0.5 s")
    assert retried[-1].endswith("sending it again in 5 s")


def test_a_server_that_cannot_be_reached_is_asked_again_after_pauses_that_double_to_10_s() -> None:
    pauses = Pauses(stop_after=7)
    lines: list[str] = []
    relay = Relay(
        BinAddress(f"http://127.0.0.1:{free_port()}", "abc"),
        ListenOptions(target="http://127.0.0.1:9/", name="laptop"),
        say=lines.append,
        pause=pauses,
    )
    pauses.relay = relay

    relay.run()

    assert pauses.asked == [0.5, 1, 2, 4, 8, 10, 10]
    assert relay.progress.failure is None
    assert all("could not open the listener" in line for line in lines)
    assert "cannot be reached" in lines[0] and lines[-1].endswith("trying again in 10 s")


@pytest.mark.parametrize(
    ("url", "server", "bin_id"),
    [
        ("https://hooks.example.com/b/abc-123", "https://hooks.example.com", "abc-123"),
        (
            "https://hooks.example.com/b/abc-123/sub/path?x=1",
            "https://hooks.example.com",
            "abc-123",
        ),
        ("http://127.0.0.1:5000/bins/abc-123", "http://127.0.0.1:5000", "abc-123"),
        ("http://h.example/receiver/bins/abc-123#r1", "http://h.example/receiver", "abc-123"),
        ("http://h.example/api/bins/abc-123/requests", "http://h.example", "abc-123"),
    ],
)
def test_a_bin_url_may_be_the_ingest_inspector_or_api_url_under_any_prefix(
    url: str, server: str, bin_id: str
) -> None:
    assert parse_bin_url(url) == BinAddress(server, bin_id)


@pytest.mark.parametrize(
    "url", ["ftp://h.example/b/abc", "http://h.example/other/abc", "http://u:p@h.example/b/abc"]
)
def test_a_url_that_names_no_bin_is_refused(url: str) -> None:
    with pytest.raises(RelayUsageError):
        parse_bin_url(url)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["http://h.example/b/abc"], "Missing option '--to'"),
        (["http://h.example/nothing", "--to", "http://localhost:8000"], "BIN_URL must be"),
        (["http://h.example/b/abc", "--to", "ftp://localhost/"], "--to:"),
        (["http://h.example/b/abc", "--to", "http://localhost", "--name", "-x"], "--name is"),
        (["http://h.example/b/abc", "--to", "http://localhost", "--secret", "s"], "for --resign"),
        (["http://h.example/b/abc", "--to", "http://localhost", "--path-prefix", "x"], "--path"),
        (["http://h.example/b/abc", "--to", "http://localhost", "--timeout", "0"], "--timeout"),
        (["http://h.example/b/abc", "--to", "http://localhost", "--scheme", "nope"], "--scheme"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    result = CliRunner().invoke(listen_command, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_the_default_name_is_this_machines_name_as_a_listener_name() -> None:
    assert default_name()
    assert len(default_name()) <= 64


@pytest.mark.parametrize(
    ("what", "path"),
    [
        ("its captures", "/api/bins/{bin_id}/requests"),
        ("the capture", "/api/bins/{bin_id}/requests/{id}"),
    ],
)
def test_a_delivery_whose_capture_goes_while_it_is_in_flight_is_reported_and_passed(
    app: Flask,
    bins: Any,
    target: HTTPServer,
    client: FlaskClient,
    caplog: Any,
    what: str,
    path: str,
) -> None:
    bin_id = bins.create()["id"]
    first, _ = store_captures(app, bin_id, [post("/1"), post("/2")])
    doomed = path.format(bin_id=bin_id, id=first)

    def delete_then_answer(request: Request) -> Response:
        answer = app.test_client().delete(doomed)  # while the delivery is in flight
        assert answer.status_code in (200, 204), answer.get_data(as_text=True)
        return Response("ok")

    target.expect_oneshot_request("/hooks/1").respond_with_handler(delete_then_answer)
    target.expect_request("/hooks/2").respond_with_data("ok")
    with caplog.at_level(logging.INFO):
        with relaying(app, bin_id, target.url_for("/hooks"), from_start=True) as relay:
            wait_until(lambda: relay.progress.position == 2)
    assert logged_above_info(caplog) == [], what
    shown = client.get(f"/api/bins/{bin_id}/listeners/laptop").get_json()
    assert shown["position"] == 2
    assert client.get(f"/api/bins/{bin_id}/requests/{first}/replays").status_code == 404


def test_a_listener_whose_bin_is_deleted_while_a_delivery_is_in_flight_stops_in_words(
    app: Flask, bins: Any, target: HTTPServer, caplog: Any
) -> None:
    bin_id = bins.create()["id"]
    store_captures(app, bin_id, [post("/1"), post("/2")])

    def delete_then_answer(request: Request) -> Response:
        answer = app.test_client().delete(f"/api/bins/{bin_id}")
        assert answer.status_code == 204, answer.get_data(as_text=True)
        return Response("ok")

    target.expect_request("/hooks/1").respond_with_handler(delete_then_answer)
    lines: list[str] = []
    pauses = Pauses()
    relay = Relay(
        BinAddress("http://receiver.test", bin_id),
        ListenOptions(target=target.url_for("/hooks"), name="laptop", wait=1, from_start=True),
        say=lines.append,
        transport=httpx.WSGITransport(app=app),
        pause=pauses,
    )
    pauses.relay = relay
    with caplog.at_level(logging.INFO):
        with pytest.raises(RelayFailed) as failed:
            relay.run()
    assert (
        str(failed.value)
        == f"bin {bin_id} on http://receiver.test no longer exists (deleted or expired)"
    )
    assert logged_above_info(caplog) == []
    assert [r.path for r, _ in target.log] == ["/hooks/1"]


def test_a_report_whose_capture_is_deleted_between_its_statements_keeps_the_listeners_row(
    app: Flask, bins: Any, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time: nothing is deleted inside a report's writes")
    bin_id = bins.create()["id"]
    (captured,) = store_captures(app, bin_id, [post()])
    client.put(f"/api/bins/{bin_id}/listeners/laptop", json={"from": "start"})
    original = feed.record_delivery

    def then_deleted(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        with app.app_context():  # another connection deletes the capture and commits
            with db.engine.begin() as other:
                other.execute(delete(CapturedRequest).where(CapturedRequest.id == captured))
        return found

    monkeypatch.setattr(feed, "record_delivery", then_deleted)
    report = {
        "request_id": captured,
        "seq": 1,
        "delivered": True,
        "url": "http://127.0.0.1:9/",
        "method": "POST",
        "request_headers": [],
        "status_code": 200,
        "response_headers": [],
        "response_body_base64": "",
        "elapsed_ms": 1.5,
        "error": None,
    }

    answer = client.post(f"/api/bins/{bin_id}/listeners/laptop/deliveries", json=report)

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["replay_id"] is None
    assert answer.get_json()["listener"]["position"] == 1
    shown = client.get(f"/api/bins/{bin_id}/listeners/laptop").get_json()
    assert (shown["position"], shown["last_status"]) == (1, 200)


def test_each_line_names_the_capture_its_detected_event_and_the_targets_answer(
    app: Flask, bins: Any, target: HTTPServer
) -> None:
    target.expect_request("/hooks/other").respond_with_data("", status=404)
    target.expect_request("/hooks").respond_with_data("ok", status=202)
    bin_id = bins.create()["id"]
    example = load_catalog().get("appery", "PROJECT_BUILD_IOS_FAIL").example
    json_type = [("Content-Type", "application/json")]
    bins.ingest(bin_id, body=json.dumps(example).encode(), headers=json_type)
    bins.ingest(bin_id, path="/other?x=1", body=b"not json", headers=json_type)
    lines: list[str] = []

    with relaying(app, bin_id, target.url_for("/hooks"), lines, from_start=True) as relay:
        wait_until(lambda: relay.progress.delivered == 2)

    delivered = [line.split("  ", 1)[1] for line in lines if " -> " in line]
    assert [re.sub(r"in \d+ ms", "in N ms", line) for line in delivered] == [
        "#1 POST /  [appery PROJECT_BUILD_IOS_FAIL]  -> 202 in N ms",
        "#2 POST /other?x=1  [no event]  -> 404 in N ms",
    ]


def test_resign_without_a_secret_uses_the_bins_own_for_a_listener_holding_its_token(
    app: Flask, bins: Any, target: HTTPServer
) -> None:
    target.expect_request("/hooks").respond_with_data("ok")
    signature = {"scheme": "standard-webhooks", "secret": STANDARD_SECRET}
    made = bins.create(private=True, signature=signature)
    store_captures(app, made["id"], [post()])

    with relaying(
        app, made["id"], target.url_for("/hooks"), token=made["token"], from_start=True, resign={}
    ) as relay:
        wait_until(lambda: relay.progress.delivered == 1)

    ((request, _),) = target.log
    verdict = verify_signature(
        scheme="standard-webhooks",
        secret=STANDARD_SECRET,
        headers=list(request.headers.items()),
        body=request.get_data(),
        now=utcnow(),
    )
    assert verdict.status == "verified", verdict.reason


def test_resign_without_a_secret_or_the_bins_token_is_a_usage_error(
    app: Flask, bins: Any, target: HTTPServer
) -> None:
    signature = {"scheme": "standard-webhooks", "secret": STANDARD_SECRET}
    bin_id = bins.create(signature=signature)["id"]  # public: nobody holds its token
    relay = Relay(
        BinAddress("http://receiver.test", bin_id),
        ListenOptions(target=target.url_for("/hooks"), name="laptop", wait=1, resign={}),
        say=lambda line: None,
        transport=httpx.WSGITransport(app=app),
    )

    with pytest.raises(RelayFailed) as failed:
        relay.run()

    assert failed.value.usage
    assert str(failed.value).startswith("--resign needs the bin's signing secret: give it with")


def test_a_stopped_relay_leaves_and_shows_as_disconnected_at_once(
    app: Flask, bins: Any, target: HTTPServer, client: FlaskClient
) -> None:
    bin_id = bins.create()["id"]
    with relaying(app, bin_id, target.url_for("/hooks")) as relay:
        wait_until(lambda: relay.progress.started)
        shown = client.get(f"/api/bins/{bin_id}/listeners/laptop").get_json()
        assert shown["connected"] is True
    assert relay.leave() is True
    shown = client.get(f"/api/bins/{bin_id}/listeners/laptop").get_json()
    assert shown["connected"] is False
