"""Ingest through the test client: /b/<bin_id> captures every method, then answers.

The byte-exact matrix over real sockets lives in test_ingest_bytes.py; this module covers the
contract around a capture: which bins accept, what is stored, what the sender is answered.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from datetime import timedelta

import pytest
from actions import BinActions
from actions import assert_json_error
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest
from receiver.storage.models import utcnow
from receiver.web.deadlines import SlowSender


def stored_count(app: Flask, bin_id: str | None = None) -> int:
    """Captured rows in the database, for one bin or all."""
    with app.app_context():
        query = select(func.count()).select_from(CapturedRequest)
        if bin_id is not None:
            query = query.where(CapturedRequest.bin_id == bin_id)
        return db.session.scalar(query)


def set_expires_at(app: Flask, bin_id: str, when: datetime) -> None:
    """Move a bin's expiry in the database (time is set, never slept)."""
    with app.app_context():
        db.session.execute(update(Bin).where(Bin.id == bin_id).values(expires_at=when))
        db.session.commit()


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    "method", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "PROPFIND", "PURGE"]
)
def test_every_method_is_captured(bins, method):
    bin_id = bins.create()["id"]
    response = bins.ingest(bin_id, method=method)
    assert response.status_code == 200
    listed = bins.requests(bin_id)["requests"]
    assert [item["method"] for item in listed] == [method]
    if method == "HEAD":
        assert response.data == b""


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("", "/"),
        ("/", "/"),
        ("/github/push", "/github/push"),
        ("/deep/er/path/", "/deep/er/path/"),
        ("/with%20space/a%2Fb", "/with%20space/a%2Fb"),
    ],
)
def test_sub_path_below_the_bin_is_stored_with_its_leading_slash(bins, sent, stored):
    bin_id = bins.create()["id"]
    assert bins.ingest(bin_id, path=sent).status_code == 200
    assert bins.requests(bin_id)["requests"][0]["path"] == stored


def test_query_string_is_stored_raw_without_the_question_mark(bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id, method="GET", query="a=1&a=2&b=%20x+y&c=")
    assert bins.requests(bin_id)["requests"][0]["query_string"] == "a=1&a=2&b=%20x+y&c="


def test_headers_are_stored_in_order_with_duplicates(bins):
    bin_id = bins.create()["id"]
    headers = [("X-B", "1"), ("X-A", "2"), ("X-B", "3, with comma")]
    bins.ingest(bin_id, headers=headers)
    stored = bins.requests(bin_id)["requests"][0]["headers"]
    assert [pair for pair in stored if pair[0].startswith("X-")] == [list(p) for p in headers]


def test_body_and_content_type_are_stored_exactly(bins):
    bin_id = bins.create()["id"]
    body = b'{"event": "ping"}\xff'
    bins.ingest(bin_id, body=body, headers=[("Content-Type", "application/json; charset=x")])
    listed = bins.requests(bin_id)["requests"][0]
    assert listed["content_type"] == "application/json; charset=x"
    assert listed["size"] == len(body)
    assert bins.client.get(f"/api/bins/{bin_id}/requests/{listed['id']}/raw").data == body


def test_unknown_bin_answers_404_json_and_stores_nothing(app, client):
    response = client.post("/b/no-such-bin/x", data=b"hello")
    error = assert_json_error(response, 404)
    assert error["code"] == "bin_not_found"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert stored_count(app) == 0


def test_expired_bin_answers_404_json_and_stores_nothing(app, bins):
    bin_id = bins.create()["id"]
    set_expires_at(app, bin_id, utcnow() - timedelta(seconds=1))
    assert_json_error(bins.ingest(bin_id, body=b"late"), 404)
    assert stored_count(app) == 0


def test_deleted_bin_stops_capturing(app, bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id, body=b"one")
    assert bins.client.delete(f"/api/bins/{bin_id}").status_code == 204
    assert_json_error(bins.ingest(bin_id, body=b"two"), 404)
    assert stored_count(app) == 0


@pytest.fixture
def small_app(make_app) -> Flask:
    """An app that accepts bodies of at most 1 KiB."""
    return make_app(RECEIVER_BODY_LIMIT=1024)


def test_body_over_the_limit_answers_413_json_and_stores_nothing(small_app):
    client = small_app.test_client()
    bin_id = BinActions(client).create()["id"]
    response = client.post(f"/b/{bin_id}", data=b"x" * 1025)
    error = assert_json_error(response, 413)
    assert error["code"] == "payload_too_large"
    assert "1024" in error["message"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert stored_count(small_app) == 0
    assert client.get(f"/api/bins/{bin_id}").get_json()["request_count"] == 0


def test_chunked_body_over_the_limit_answers_413_and_stores_nothing(small_app):
    client = small_app.test_client()
    bin_id = BinActions(client).create()["id"]
    response = client.post(
        f"/b/{bin_id}",
        input_stream=io.BytesIO(b"y" * 5000),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_json_error(response, 413)
    assert stored_count(small_app) == 0


class StallingStream(io.BytesIO):
    """A body whose sender stalls after the bytes it was made with: the next read passes the
    read deadline."""

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        if not chunk:
            raise SlowSender(2)
        return chunk


@pytest.mark.parametrize("framing", ["declared", "chunked"])
def test_body_over_the_limit_is_still_413_when_its_sender_stalls_during_the_drain(
    small_app, framing
):
    """The size was known before the drain began; a sender too slow to be drained is still told
    its body was too large (not 408), and the connection is closed."""
    client = small_app.test_client()
    bin_id = BinActions(client).create()["id"]
    # set in the environ itself: the test client would otherwise frame the stream it was given
    environ = {"wsgi.input": StallingStream(b"x" * 2048)}
    if framing == "declared":
        environ["CONTENT_LENGTH"] = "4096"
    else:
        environ.update(CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")
        environ["wsgi.input_terminated"] = True
    response = client.post(f"/b/{bin_id}", environ_overrides=environ)
    assert assert_json_error(response, 413)["code"] == "payload_too_large"
    assert response.headers["Connection"] == "close"
    assert stored_count(small_app) == 0


def test_chunked_body_within_the_limit_is_stored_whole(small_app):
    client = small_app.test_client()
    bin_id = BinActions(client).create()["id"]
    body = bytes(range(256)) * 4
    response = client.post(
        f"/b/{bin_id}",
        input_stream=io.BytesIO(body),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 200
    listed = BinActions(client).requests(bin_id)["requests"]
    assert client.get(f"/api/bins/{bin_id}/requests/{listed[0]['id']}/raw").data == body


def test_body_of_exactly_the_limit_is_accepted(small_app):
    client = small_app.test_client()
    bin_id = BinActions(client).create()["id"]
    assert client.post(f"/b/{bin_id}", data=b"z" * 1024).status_code == 200
    assert stored_count(small_app, bin_id) == 1


def test_default_answer_names_the_stored_request(bins):
    bin_id = bins.create()["id"]
    response = bins.ingest(bin_id, body=b"{}", headers=[("Content-Type", "application/json")])
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    stored_id = bins.requests(bin_id)["requests"][0]["id"]
    assert json.loads(response.data) == {"ok": True, "request_id": str(stored_id)}
    assert response.headers["X-Receiver-Request-Id"] == str(stored_id)


def test_each_capture_gets_its_own_request_id(bins):
    bin_id = bins.create()["id"]
    first = bins.ingest(bin_id).headers["X-Receiver-Request-Id"]
    second = bins.ingest(bin_id).headers["X-Receiver-Request-Id"]
    assert first != second
    assert [r["id"] for r in bins.requests(bin_id)["requests"]] == [int(second), int(first)]


@pytest.fixture
def slept(monkeypatch) -> list[float]:
    """Record the custom-response delays instead of waiting for them."""
    calls: list[float] = []
    monkeypatch.setattr("receiver.web.ingest.time.sleep", calls.append)
    return calls


def test_custom_response_is_answered_after_capture(bins, slept):
    bin_id = bins.create()["id"]
    patched = bins.client.patch(
        f"/api/bins/{bin_id}",
        json={
            "response": {
                "status": 201,
                "headers": [["Content-Type", "text/plain"], ["X-Dup", "1"], ["X-Dup", "2"]],
                "body": "created",
                "delay_ms": 250,
            }
        },
    )
    assert patched.status_code == 200
    response = bins.ingest(bin_id, body=b"payload")
    assert response.status_code == 201
    assert response.data == b"created"
    assert response.mimetype == "text/plain"
    assert response.headers.getlist("X-Dup") == ["1", "2"]
    assert slept == [0.25]
    assert response.headers["X-Receiver-Request-Id"] == str(
        bins.requests(bin_id)["requests"][0]["id"]
    )


def test_default_response_does_not_wait(bins, slept):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id)
    assert slept == []


def test_custom_response_delay_is_bounded_by_the_setting(make_app, slept):
    client = make_app(RECEIVER_MAX_RESPONSE_DELAY_MS=100).test_client()
    bin_id = BinActions(client).create()["id"]
    too_long = client.patch(f"/api/bins/{bin_id}", json={"response": {"delay_ms": 101}})
    assert_json_error(too_long, 400)
    assert client.get(f"/api/bins/{bin_id}").get_json()["response"]["delay_ms"] == 0
    ok = client.patch(f"/api/bins/{bin_id}", json={"response": {"delay_ms": 100}})
    assert ok.status_code == 200
    BinActions(client).ingest(bin_id)
    assert slept == [0.1]


def test_a_lowered_delay_cap_applies_to_bins_configured_before(make_app, slept):
    generous = make_app(RECEIVER_MAX_RESPONSE_DELAY_MS=5000).test_client()
    bin_id = BinActions(generous).create()["id"]
    generous.patch(f"/api/bins/{bin_id}", json={"response": {"delay_ms": 5000}})
    strict = make_app(RECEIVER_MAX_RESPONSE_DELAY_MS=50).test_client()
    BinActions(strict).ingest(bin_id)
    assert slept == [0.05]


def test_cors_preflight_is_answered_204_and_still_captured(bins):
    bin_id = bins.create()["id"]
    headers = [
        ("Origin", "https://sender.example"),
        ("Access-Control-Request-Method", "PUT"),
        ("Access-Control-Request-Headers", "content-type, x-signature"),
    ]
    response = bins.ingest(bin_id, method="OPTIONS", headers=headers)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "PUT" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "content-type" in allowed and "x-signature" in allowed
    listed = bins.requests(bin_id)["requests"]
    assert [item["method"] for item in listed] == ["OPTIONS"]


def test_plain_options_without_preflight_headers_gets_the_bin_response(bins):
    bin_id = bins.create()["id"]
    response = bins.ingest(bin_id, method="OPTIONS")
    assert response.status_code == 200
    assert response.get_json()["ok"] is True


def test_answers_allow_any_origin(bins):
    bin_id = bins.create()["id"]
    response = bins.ingest(bin_id, headers=[("Origin", "https://sender.example")])
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_custom_response_can_not_be_run_as_a_page_of_ours(bins):
    """A bin's body is untrusted content served from our origin: sandboxed, never sniffed."""
    bin_id = bins.create()["id"]
    bins.client.patch(
        f"/api/bins/{bin_id}",
        json={
            "response": {
                "headers": [["Content-Type", "text/html"]],
                "body": "<script>alert(1)</script>",
            }
        },
    )
    response = bins.ingest(bin_id)
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("name", ["Set-Cookie", "Clear-Site-Data"])
def test_bin_answers_never_set_or_clear_cookies_of_our_origin(bins, name):
    """Ingest shares the inspector's origin: a bin's custom answer must not carry headers that
    set or clear the inspector's cookies (refused when configured, or dropped when answering)."""
    bin_id = bins.create()["id"]
    bins.client.patch(
        f"/api/bins/{bin_id}",
        json={"response": {"headers": [[name, "receiver_recent=x; Path=/"]]}},
    )
    assert name not in bins.ingest(bin_id).headers


def test_visiting_someone_elses_bin_keeps_my_private_bins(app, bins):
    """An attacker's bin answering with our cookie name must not log a visitor out of the
    private bins their browser created."""
    attacker = bins.create()["id"]
    bins.client.patch(
        f"/api/bins/{attacker}",
        json={"response": {"headers": [["Set-Cookie", "receiver_recent=forged; Path=/"]]}},
    )
    victim = app.test_client()
    created = victim.post("/bins", data={"private": "on"})
    mine = created.headers["Location"]
    assert victim.get(mine).status_code == 200
    victim.get(f"/b/{attacker}")
    assert victim.get(mine).status_code == 200


def test_retention_keeps_the_newest_requests(make_app):
    client = make_app(RECEIVER_MAX_REQUESTS_PER_BIN=3).test_client()
    actions = BinActions(client)
    bin_id = actions.create()["id"]
    sent_ids = [int(actions.ingest(bin_id).headers["X-Receiver-Request-Id"]) for _ in range(5)]
    listed = actions.requests(bin_id)["requests"]
    assert [item["id"] for item in listed] == sent_ids[:1:-1]
    assert client.get(f"/api/bins/{bin_id}").get_json()["request_count"] == 3


def test_ingest_moves_the_expiry_to_last_activity_plus_ttl(app, bins):
    bin_id = bins.create()["id"]
    set_expires_at(app, bin_id, utcnow() + timedelta(minutes=5))
    bins.ingest(bin_id)
    shown = bins.client.get(f"/api/bins/{bin_id}").get_json()
    last = parse_iso(shown["last_request_at"])
    assert parse_iso(shown["expires_at"]) == last + timedelta(days=7)
    stored = bins.requests(bin_id)["requests"][0]
    assert parse_iso(stored["received_at"]) == last
    assert shown["request_count"] == 1


def test_request_id_header_is_exposed_to_browser_senders(bins):
    bin_id = bins.create()["id"]
    response = bins.ingest(bin_id, headers=[("Origin", "https://sender.example")])
    exposed = response.headers.get("Access-Control-Expose-Headers", "")
    assert exposed == "*" or "x-receiver-request-id" in exposed.lower()
