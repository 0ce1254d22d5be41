"""Replay through the API, against real servers on loopback.

Each capture goes in through the test client with its exact header pairs (``bins.ingest``), is
replayed by ``POST /api/bins/<id>/requests/<rid>/replay`` to a pytest-httpserver target, and
the test looks at what the target read off the socket. Slow and trickling targets are raw
socket threads; refused ports are ports that were free a moment ago.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from actions import assert_json_error
from bytecases import iter_cases
from clocks import NEVER_SECONDS
from pytest_httpserver import HTTPServer
from servers import free_port
from targets import SilentServer
from werkzeug import Request
from werkzeug import Response

from receiver.signatures.registry import get_scheme
from receiver.signatures.registry import sign_headers
from receiver.signatures.registry import verify_signature
from receiver.web.serving import RAW_HEADERS_KEY

BODY_KINDS = ("json", "form", "multipart", "binary-64k", "invalid-utf8", "empty", "gzip")
RECORD_FIELDS = {
    "id",
    "url",
    "method",
    "status_code",
    "response_headers",
    "response_body",
    "elapsed_ms",
    "error",
    "created_at",
}
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
QUICK = pytest.mark.parametrize("app_config", [{"RECEIVER_REPLAY_TIMEOUT": 1}], ids=["1s"])


def received(server: HTTPServer) -> list[Request]:
    """The requests the target got, in order."""
    return [request for request, _ in server.log]


def wire_headers(request: Request) -> list[tuple[str, str]]:
    """The header pairs exactly as the target read them: order, case and duplicates."""
    return list(request.environ[RAW_HEADERS_KEY])


def request_target(request: Request) -> str:
    """The raw request target (path and query) from the request line."""
    return request.environ["REQUEST_URI"]


def host_of(server: HTTPServer) -> str:
    return f"{server.host}:{server.port}"


def replay(client: Any, bin_id: str, request_id: int, **body: Any) -> Any:
    return client.post(f"/api/bins/{bin_id}/requests/{request_id}/replay", json=body)


def assert_record(response: Any) -> dict[str, Any]:
    """A 201 replay record with the contract's fields."""
    assert response.status_code == 201, response.get_json()
    record = response.get_json()
    assert RECORD_FIELDS <= set(record)
    assert isinstance(record["id"], int)
    assert ISO_UTC.fullmatch(record["created_at"])
    assert isinstance(record["elapsed_ms"], int | float) and record["elapsed_ms"] >= 0
    assert all(isinstance(pair, list) and len(pair) == 2 for pair in record["response_headers"])
    return record


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def trickling() -> Iterator[SilentServer]:
    server = SilentServer(trickle=True)
    yield server
    server.close()


# -- byte-exact replays --------------------------------------------------------------------------


@pytest.mark.parametrize("case", iter_cases(BODY_KINDS), ids=lambda case: case.name)
def test_each_body_kind_arrives_byte_exact(bins, client, target, case):
    bin_id = bins.create()["id"]
    request_id = bins.capture(
        bin_id,
        method=case.method,
        path="/hooks/in",
        query="a=1&a=2&b=%20x+y",
        body=case.body,
        headers=list(case.headers),
    )
    target.expect_request("/target/hooks/in").respond_with_data("thanks", status=202)

    record = assert_record(replay(client, bin_id, request_id, url=target.url_for("/target")))

    (got,) = received(target)
    assert got.method == case.method
    assert request_target(got) == "/target/hooks/in?a=1&a=2&b=%20x+y"
    assert got.get_data() == case.body
    assert wire_headers(got) == [
        ("Host", host_of(target)),
        *case.headers,
        ("Content-Length", str(len(case.body))),
    ]
    assert record["url"] == target.url_for("/target/hooks/in") + "?a=1&a=2&b=%20x+y"
    assert record["method"] == case.method
    assert record["status_code"] == 202
    assert record["response_body"] == "thanks"
    assert record["error"] is None
    assert ["Content-Length", "6"] in record["response_headers"]


def test_repeated_headers_keep_their_order_case_and_duplicates(bins, client, target):
    bin_id = bins.create()["id"]
    headers = [
        ("X-Repeat", "one"),
        ("x-other", "between"),
        ("X-Repeat", "two, with comma"),
        ("X_Under_Score", "kept"),
        ("X-Repeat", "three"),
    ]
    request_id = bins.capture(bin_id, body=b"{}", headers=headers)
    target.expect_request("/in").respond_with_data("ok")

    assert_record(replay(client, bin_id, request_id, url=target.url_for("/in")))

    (got,) = received(target)
    assert wire_headers(got) == [("Host", host_of(target)), *headers, ("Content-Length", "2")]


def test_hop_by_hop_host_and_content_length_are_dropped_and_recomputed(client, bins, target):
    bin_id = bins.create()["id"]
    stored = [
        ("Host", "sender.example"),
        ("Connection", "keep-alive, X-Hop"),
        ("X-Hop", "named by Connection"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("TE", "trailers"),
        ("Upgrade", "h2c"),
        ("Proxy-Authorization", "Basic eDp5"),
        ("Content-Length", "999"),
        ("X-Kept", "yes"),
    ]
    response = client.post(
        f"/b/{bin_id}/x",
        data=b"hello",
        headers=[("X-Kept", "yes")],
        environ_overrides={RAW_HEADERS_KEY: stored},
    )
    request_id = int(response.headers["X-Receiver-Request-Id"])
    target.expect_request("/t/x").respond_with_data("ok")

    assert_record(replay(client, bin_id, request_id, url=target.url_for("/t")))

    (got,) = received(target)
    assert wire_headers(got) == [
        ("Host", host_of(target)),
        ("X-Kept", "yes"),
        ("Content-Length", "5"),
    ]
    assert got.get_data() == b"hello"


@pytest.mark.parametrize(
    ("append_path", "target_path", "expected"),
    [
        (True, "/base?t=1", "/base/deep/a%2Fb?t=1&q=%00%ff&q=2"),
        (False, "/base?t=1", "/base?t=1"),
        (False, "/exact", "/exact"),
    ],
    ids=["appended", "as-given-with-query", "as-given"],
)
def test_append_path_decides_whether_sub_path_and_query_travel(
    bins, client, target, append_path, target_path, expected
):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, method="GET", path="/deep/a%2Fb", query="q=%00%ff&q=2")
    target.expect_request(re.compile(".*")).respond_with_data("ok")

    record = assert_record(
        replay(client, bin_id, request_id, url=target.url_for(target_path), append_path=append_path)
    )

    (got,) = received(target)
    assert request_target(got) == expected
    assert got.method == "GET"
    assert record["url"] == f"http://{host_of(target)}{expected}"


def test_method_headers_and_body_can_be_edited_before_sending(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(
        bin_id, body=b'{"a": 1}', headers=[("Content-Type", "application/json")]
    )
    target.expect_request("/edit", method="PUT").respond_with_data("ok")

    record = assert_record(
        replay(
            client,
            bin_id,
            request_id,
            url=target.url_for("/edit"),
            method="PUT",
            headers=[["X-New", "1"], ["Content-Type", "text/plain"], ["X-New", "2"]],
            body="édité",
        )
    )

    (got,) = received(target)
    assert got.method == "PUT"
    assert got.get_data() == "édité".encode()
    assert wire_headers(got) == [
        ("Host", host_of(target)),
        ("X-New", "1"),
        ("Content-Type", "text/plain"),
        ("X-New", "2"),
        ("Content-Length", str(len("édité".encode()))),
    ]
    assert record["method"] == "PUT"
    # the stored capture is untouched by the edits
    stored = bins.request(bin_id, request_id)
    assert base64.b64decode(stored["body_base64"]) == b'{"a": 1}'


def test_a_binary_body_override_arrives_exact(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"original")
    replacement = bytes(range(256)) * 4
    target.expect_request("/bin").respond_with_data("ok")

    assert_record(
        replay(
            client,
            bin_id,
            request_id,
            url=target.url_for("/bin"),
            headers={"Content-Type": "application/octet-stream"},
            body_base64=base64.b64encode(replacement).decode(),
        )
    )

    (got,) = received(target)
    assert got.get_data() == replacement
    assert ("Content-Type", "application/octet-stream") in wire_headers(got)


def test_an_empty_body_override_sends_an_empty_body(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"something")
    target.expect_request("/empty").respond_with_data("ok")

    assert_record(replay(client, bin_id, request_id, url=target.url_for("/empty"), body=""))

    (got,) = received(target)
    assert got.get_data() == b""
    assert wire_headers(got)[-1] == ("Content-Length", "0")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({}, "invalid_request"),
        ({"url": "ftp://example.com/hook"}, "invalid_request"),
        ({"url": "javascript:alert(1)"}, "invalid_request"),
        ({"url": "http://user:pw@127.0.0.1/"}, "invalid_request"),
        ({"url": "http://127.0.0.1/", "append_path": "yes"}, "invalid_request"),
        ({"url": "http://127.0.0.1/", "method": "BAD METHOD"}, "invalid_request"),
        ({"url": "http://127.0.0.1/", "headers": [["Bad Name", "x"]]}, "invalid_request"),
        ({"url": "http://127.0.0.1/", "headers": "X: 1"}, "invalid_request"),
        ({"url": "http://127.0.0.1/", "body": "a", "body_base64": "YQ=="}, "invalid_request"),
        ({"url": "http://127.0.0.1/", "body_base64": "not base64!"}, "invalid_request"),
    ],
    ids=[
        "no-url",
        "ftp",
        "javascript",
        "credentials",
        "append-path-type",
        "method",
        "header-name",
        "headers-type",
        "both-bodies",
        "bad-base64",
    ],
)
def test_what_cannot_be_sent_is_a_400_json_error_and_nothing_is_recorded(
    bins, client, fields, code
):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"x")

    assert_json_error(replay(client, bin_id, request_id, **fields), 400, code)

    history = client.get(f"/api/bins/{bin_id}/requests/{request_id}/replays").get_json()
    assert history == {"replays": []}


def test_a_non_json_replay_body_is_refused(bins, client):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id)

    response = client.post(
        f"/api/bins/{bin_id}/requests/{request_id}/replay",
        data="url=http://127.0.0.1/",
        content_type="application/x-www-form-urlencoded",
    )

    assert_json_error(response, 415)


def test_an_unknown_request_or_one_of_another_bin_is_404(bins, client):
    first = bins.create()["id"]
    other = bins.create()["id"]
    request_id = bins.capture(first)

    assert_json_error(replay(client, other, request_id, url="http://127.0.0.1/"), 404)
    assert_json_error(replay(client, first, request_id + 1000, url="http://127.0.0.1/"), 404)
    assert_json_error(replay(client, "no-such-bin", request_id, url="http://127.0.0.1/"), 404)


# -- re-signing ----------------------------------------------------------------------------------


def signed_bin(bins: Any, client: Any, scheme: str = "standard-webhooks") -> tuple[str, str]:
    """A bin that checks signatures of ``scheme``; its id and secret."""
    bin_id = bins.create()["id"]
    secret = get_scheme(scheme).generate_secret()
    response = client.patch(
        f"/api/bins/{bin_id}", json={"signature": {"scheme": scheme, "secret": secret}}
    )
    assert response.status_code == 200, response.get_json()
    return bin_id, secret


def capture_signed_long_ago(
    bins: Any, bin_id: str, secret: str, body: bytes, scheme: str = "standard-webhooks"
) -> int:
    """Capture a delivery that was signed an hour ago (a stale signature by now)."""
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    signed = sign_headers(
        scheme=scheme,
        secret=secret,
        body=body,
        now=an_hour_ago,
        url=f"http://localhost/b/{bin_id}",
    )
    headers = [("Content-Type", "application/json"), *signed]
    return bins.capture(bin_id, body=body, headers=headers)


def verify_at_target(
    got: Request, secret: str, scheme: str = "standard-webhooks", url: str | None = None
) -> Any:
    return verify_signature(
        scheme=scheme,
        secret=secret,
        headers=wire_headers(got),
        body=got.get_data(),
        now=datetime.now(UTC),
        url=url,
    )


def test_a_resigned_replay_verifies_at_the_current_time(bins, client, target):
    bin_id, secret = signed_bin(bins, client)
    body = b'{"type": "invoice.paid"}'
    request_id = capture_signed_long_ago(bins, bin_id, secret, body)
    stored = bins.request(bin_id, request_id)
    assert stored["signature"]["status"] == "failed"
    captured_id = dict(stored["headers"])["webhook-id"]
    target.expect_request("/signed").respond_with_data("ok")

    assert_record(replay(client, bin_id, request_id, url=target.url_for("/signed"), resign=True))

    (got,) = received(target)
    result = verify_at_target(got, secret)
    assert result.status == "verified", result.reason
    names = [name.lower() for name, _ in wire_headers(got)]
    assert names.count("webhook-signature") == 1
    assert names.count("webhook-timestamp") == 1
    # a redelivery of the same message keeps its id
    assert dict(wire_headers(got))["webhook-id"] == captured_id
    assert got.get_data() == body


@pytest.mark.parametrize("scheme", ["standard-webhooks", "stripe", "hmac-sha256", "apitree"])
def test_a_resigned_replay_signs_the_edited_body(bins, client, target, scheme):
    bin_id, secret = signed_bin(bins, client, scheme)
    request_id = capture_signed_long_ago(bins, bin_id, secret, b'{"n": 1}', scheme)
    target.expect_request("/signed").respond_with_data("ok")

    record = assert_record(
        replay(
            client,
            bin_id,
            request_id,
            url=target.url_for("/signed"),
            body='{"n": 2}',
            resign=True,
        )
    )

    (got,) = received(target)
    assert got.get_data() == b'{"n": 2}'
    result = verify_at_target(got, secret, scheme, url=record["url"])
    assert result.status == "verified", result.reason


@pytest.mark.parametrize("scheme", ["standard-webhooks", "stripe"])
def test_without_resigning_a_timestamped_signature_is_stale_at_the_target(
    bins, client, target, scheme
):
    bin_id, secret = signed_bin(bins, client, scheme)
    request_id = capture_signed_long_ago(bins, bin_id, secret, b'{"type": "x"}', scheme)
    target.expect_request("/signed").respond_with_data("ok")

    assert_record(replay(client, bin_id, request_id, url=target.url_for("/signed")))

    (got,) = received(target)
    result = verify_at_target(got, secret, scheme)
    assert result.status == "failed"
    assert "timestamp" in result.reason


def test_resigning_needs_a_bin_secret(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")

    assert_json_error(
        replay(client, bin_id, request_id, url=target.url_for("/x"), resign=True), 400, "no_secret"
    )
    assert received(target) == []


# -- failing targets -----------------------------------------------------------------------------


@QUICK
def test_a_refused_port_is_a_201_record_with_the_error_in_words(bins, client):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")
    port = free_port()

    record = assert_record(replay(client, bin_id, request_id, url=f"http://127.0.0.1:{port}/h"))

    assert record["status_code"] is None
    assert record["error"] == f"connection refused by 127.0.0.1:{port}"
    assert record["response_headers"] == []
    assert record["response_body"] == ""


@QUICK
def test_a_target_that_never_answers_is_recorded_as_timed_out(bins, client, silent):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")

    started = time.monotonic()
    record = assert_record(
        replay(client, bin_id, request_id, url=f"http://127.0.0.1:{silent.port}/slow")
    )
    took = time.monotonic() - started

    assert record["status_code"] is None
    assert record["error"] == "timed out after 1.0 s waiting for the response"
    # it waited its second; a replay without a deadline would wait for the silent target forever
    assert record["elapsed_ms"] >= 900
    assert 0.9 <= took < NEVER_SECONDS


@QUICK
def test_a_trickling_target_cannot_stretch_the_timeout(bins, client, trickling):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")

    started = time.monotonic()
    record = assert_record(
        replay(client, bin_id, request_id, url=f"http://127.0.0.1:{trickling.port}/drip")
    )
    took = time.monotonic() - started

    assert record["status_code"] == 200
    assert record["error"] == "timed out after 1.0 s reading the response body"
    assert record["response_body"].startswith("x")
    # a byte every 100 ms renews a per-read timeout forever: only the deadline ends it
    assert took < NEVER_SECONDS


def test_a_server_error_is_a_response_not_a_transport_error(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")
    target.expect_request("/boom").respond_with_data("kaput", status=500)

    record = assert_record(replay(client, bin_id, request_id, url=target.url_for("/boom")))

    assert record["status_code"] == 500
    assert record["error"] is None
    assert record["response_body"] == "kaput"


def test_a_large_answer_is_kept_to_its_first_64_kib(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")
    target.expect_request("/big").respond_with_data(b"a" * 65536 + b"b" * 40000)

    record = assert_record(replay(client, bin_id, request_id, url=target.url_for("/big")))

    assert record["status_code"] == 200
    assert record["response_body"] == "a" * 65536
    assert base64.b64decode(record["response_body_base64"]) == b"a" * 65536


def test_a_binary_answer_is_kept_as_base64(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")
    answer = b"\x00\xff\xfe not utf-8"
    target.expect_request("/bytes").respond_with_data(answer)

    record = assert_record(replay(client, bin_id, request_id, url=target.url_for("/bytes")))

    assert record["response_body"] is None
    assert base64.b64decode(record["response_body_base64"]) == answer


# -- history and access --------------------------------------------------------------------------


def test_replays_are_listed_newest_first(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")
    other_id = bins.capture(bin_id, body=b"[]")
    target.expect_request(re.compile("/r[0-9]")).respond_with_data("ok")
    made = [
        assert_record(replay(client, bin_id, request_id, url=target.url_for(f"/r{n}")))
        for n in range(3)
    ]
    assert_record(replay(client, bin_id, other_id, url=target.url_for("/r9")))

    response = client.get(f"/api/bins/{bin_id}/requests/{request_id}/replays")

    assert response.status_code == 200
    listed = response.get_json()["replays"]
    assert [item["id"] for item in listed] == [record["id"] for record in reversed(made)]
    assert [item["url"] for item in listed] == [target.url_for(f"/r{n}") for n in (2, 1, 0)]
    assert all(item["kind"] == "replay" for item in listed)
    assert listed[0] == made[-1]
    assert [request.path for request in received(target)] == ["/r0", "/r1", "/r2", "/r9"]


def test_a_recorded_replay_keeps_the_headers_that_were_sent(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}", headers=[("X-A", "1")])
    target.expect_request("/h").respond_with_data("ok")

    record = assert_record(replay(client, bin_id, request_id, url=target.url_for("/h")))

    (got,) = received(target)
    assert [tuple(pair) for pair in record["request_headers"]] == wire_headers(got)


def test_replays_of_a_private_bin_need_its_token(client, target):
    created = client.post("/api/bins", json={"private": True}).get_json()
    bin_id, token = created["id"], created["token"]
    auth = {"Authorization": f"Bearer {token}"}
    ingest = client.post(f"/b/{bin_id}", data=b"{}")
    request_id = int(ingest.headers["X-Receiver-Request-Id"])
    target.expect_request("/p").respond_with_data("ok")
    path = f"/api/bins/{bin_id}/requests/{request_id}"

    assert_json_error(client.post(f"{path}/replay", json={"url": target.url_for("/p")}), 404)
    assert_json_error(client.get(f"{path}/replays"), 404)
    assert received(target) == []

    response = client.post(f"{path}/replay", json={"url": target.url_for("/p")}, headers=auth)
    record = assert_record(response)
    listed = client.get(f"{path}/replays", headers=auth).get_json()["replays"]
    assert [item["id"] for item in listed] == [record["id"]]
    assert len(received(target)) == 1


def test_replays_go_when_their_request_is_deleted(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")
    target.expect_request("/d").respond_with_data("ok")
    assert_record(replay(client, bin_id, request_id, url=target.url_for("/d")))

    assert client.delete(f"/api/bins/{bin_id}/requests/{request_id}").status_code == 204

    assert_json_error(client.get(f"/api/bins/{bin_id}/requests/{request_id}/replays"), 404)


def test_a_request_deleted_while_it_is_replayed_is_a_404_not_a_500(app, bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")
    other = app.test_client()  # another browser, deleting while the target answers

    def delete_then_answer(request: Request) -> Any:
        deleted = other.delete(f"/api/bins/{bin_id}/requests/{request_id}")
        assert deleted.status_code == 204
        return Response("ok")

    target.expect_request("/gone").respond_with_handler(delete_then_answer)
    answer = replay(client, bin_id, request_id, url=target.url_for("/gone"))

    assert_json_error(answer, 404)
    assert "deleted while it was being replayed" in answer.get_json()["error"]["message"]
    assert len(received(target)) == 1  # it was sent
    # the page's replay form says the same
    again = bins.capture(bin_id, body=b"{}")
    target.expect_request("/gone-too").respond_with_handler(
        lambda request: (other.delete(f"/api/bins/{bin_id}/requests/{again}"), Response("ok"))[1]
    )
    page = client.post(
        f"/bins/{bin_id}/requests/{again}/replay",
        data={"url": target.url_for("/gone-too"), "append_path": "on"},
    )
    assert page.status_code == 404


def library_signed_capture(bins: Any, bin_id: str, secret: str, names: str) -> tuple[int, str]:
    """A delivery signed an hour ago by the Standard Webhooks reference library, under Svix's
    header names or the standard ones, captured; its id and the message id."""
    from standardwebhooks.webhooks import Webhook

    body = b'{"type": "invoice.paid"}'
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    signature = Webhook(secret).sign("msg_2Lh9", an_hour_ago, body.decode())
    timestamp = str(int(an_hour_ago.timestamp()))
    prefix = "svix-" if names == "svix" else "webhook-"
    headers = [
        ("Content-Type", "application/json"),
        (f"{prefix.capitalize()}Id", "msg_2Lh9"),
        (f"{prefix}timestamp", timestamp),
        (f"{prefix}signature", signature),
    ]
    return bins.capture(bin_id, body=body, headers=headers), "msg_2Lh9"


@pytest.mark.parametrize("names", ["svix", "standard"])
def test_resigning_replaces_the_whole_family_under_the_names_the_capture_used(
    bins, client, target, names
):
    """The svix library reads svix-* before webhook-*: fresh webhook-* beside stale svix-*
    fails there. The reference libraries verify what a re-signed replay sends."""
    from standardwebhooks.webhooks import Webhook as StandardWebhook
    from svix.webhooks import Webhook as SvixWebhook

    bin_id, secret = signed_bin(bins, client)
    request_id, msg_id = library_signed_capture(bins, bin_id, secret, names)
    target.expect_request("/signed").respond_with_data("ok")

    assert_record(replay(client, bin_id, request_id, url=target.url_for("/signed"), resign=True))

    (got,) = received(target)
    sent = wire_headers(got)
    prefix = "svix-" if names == "svix" else "webhook-"
    family = [name for name, _ in sent if name.lower().startswith(("svix-", "webhook-"))]
    spelled_id = f"{prefix.capitalize()}Id"
    assert family == [spelled_id, f"{prefix}timestamp", f"{prefix}signature"]
    assert dict(sent)[spelled_id] == msg_id
    # svix reads both names; the standardwebhooks library reads only webhook-*
    libraries = [SvixWebhook] + ([StandardWebhook] if names == "standard" else [])
    for library in libraries:
        library(secret).verify(got.get_data(), dict(sent))  # raises when it does not verify
