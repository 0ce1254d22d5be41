"""The relay behind ``receiver listen`` in-process: its calls to the server go through the app
itself (httpx's WSGI transport), its deliveries to a real target on loopback
(pytest-httpserver). Filters, re-signing with a fresh timestamp, which answers mean "down", and
the command line's usage errors (exit 2 with a clear message)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from actions import store_captures
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from werkzeug import Request
from werkzeug import Response

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
from receiver.storage.models import utcnow

STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def post(path: str = "/", headers: list[tuple[str, str]] | None = None) -> RawRequest:
    pairs = [("Content-Type", "application/json"), *(headers or [])]
    return RawRequest("POST", path, "", pairs, b'{"n": 1}')


@contextmanager
def relaying(
    app: Flask,
    bin_id: str,
    target: str,
    lines: list[str] | None = None,
    token: str | None = None,
    **options: Any,
) -> Iterator[Relay]:
    """A relay following the bin through the app, in a thread, until the block ends; what it
    says goes to ``lines``."""
    lines = [] if lines is None else lines
    relay = Relay(
        BinAddress("http://receiver.test", bin_id),
        ListenOptions(target=target, name="laptop", wait=1, timeout=5, token=token, **options),
        say=lines.append,
        transport=httpx.WSGITransport(app=app),
    )
    worker = threading.Thread(target=relay.run, daemon=True)
    worker.start()
    try:
        yield relay
    finally:
        relay.stop()
        worker.join(10)
        assert not worker.is_alive(), lines
        assert relay.progress.failure is None, lines


def wait_until(check: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


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
    with relaying(app, bin_id, target.url_for("/hooks"), from_start=True) as relay:
        wait_until(lambda: relay.progress.position == 2)
    keys = [r.headers[IDEMPOTENCY_HEADER] for r, _ in target.log]
    assert keys == [str(ids[0]), str(ids[0]), str(ids[1])]
    replays = client.get(f"/api/bins/{bin_id}/requests/{ids[0]}/replays").get_json()["replays"]
    assert sorted(r["status_code"] for r in replays) == [200, 503]
    shown = client.get(f"/api/bins/{bin_id}/listeners/laptop").get_json()
    assert (shown["position"], shown["last_status"]) == (2, 500)


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
