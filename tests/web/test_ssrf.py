"""Outgoing requests in a public deployment (``RECEIVER_PUBLIC=1``): a target whose name
resolves to a loopback, private, link-local or cloud-metadata address is refused after DNS
resolution, a redirect is never followed to one, and the reason is in the attempt record. The
local default keeps allowing localhost."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from actions import BinActions
from pytest_httpserver import HTTPServer
from werkzeug import Response

from receiver.delivery import http as outgoing
from receiver.delivery.http import OutgoingPolicy
from receiver.delivery.http import OutgoingRequest
from receiver.delivery.http import refused_address
from receiver.delivery.http import send

# names the test resolver answers, as a hostile DNS server would
ANSWERS = {
    "hooks.internal.test": "10.1.2.3",
    "metadata.internal.test": "169.254.169.254",
    "loop.internal.test": "127.0.0.1",
    "mapped.internal.test": "::ffff:192.168.0.10",
}


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Answer the names of ``ANSWERS`` with their address; the names asked are recorded."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in ANSWERS:
            asked.append(host)
            address = ANSWERS[host]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.fixture
def public_client(make_app: Any) -> Any:
    return make_app(RECEIVER_PUBLIC=True).test_client()


def replay(client: Any, url: str) -> dict[str, Any]:
    bins = BinActions(client)
    bin_id = bins.create()["id"]
    request_id = bins.ingest(bin_id, body=b"{}").get_json()["request_id"]
    answer = client.post(f"/api/bins/{bin_id}/requests/{request_id}/replay", json={"url": url})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("hooks.internal.test", "a private address"),
        ("metadata.internal.test", "a cloud metadata address"),
        ("loop.internal.test", "a loopback address"),
        ("mapped.internal.test", "a private address (inside ::ffff:c0a8:a)"),
        ("127.0.0.1", "a loopback address"),
        ("[::1]", "a loopback address"),
    ],
)
def test_a_public_receiver_refuses_private_targets_after_resolution(
    public_client, resolver, host, reason
):
    record = replay(public_client, f"http://{host}:8080/hooks")

    assert record["status_code"] is None
    assert reason in record["error"]
    assert "RECEIVER_PUBLIC=1" in record["error"]
    if host.endswith(".test"):
        assert resolver == [host]  # checked on the resolved address, not on the name


def test_a_redirect_to_a_private_address_is_never_followed(public_client, monkeypatch):
    inside = HTTPServer(host="127.0.0.1", port=0)
    inside.expect_request("/secret").respond_with_data("secret")
    # a target taken as public (127.0.0.2 stands in for one) that redirects inside
    outside = HTTPServer(host="127.0.0.2", port=0)
    outside.expect_request("/hooks").respond_with_response(
        Response(status=302, headers={"Location": f"http://127.0.0.1:{inside.port}/secret"})
    )
    inside.start()
    outside.start()
    monkeypatch.setattr(
        outgoing, "refused_address", lambda a: None if a == "127.0.0.2" else refused_address(a)
    )
    try:
        record = replay(public_client, f"http://127.0.0.2:{outside.port}/hooks")
    finally:
        outside.clear()
        outside.stop()
        hits = list(inside.log)
        inside.clear()
        inside.stop()

    assert record["status_code"] == 302
    assert hits == []


def test_the_local_default_sends_to_localhost(httpserver: HTTPServer, client):
    httpserver.expect_request("/hooks").respond_with_data("ok")

    record = replay(client, httpserver.url_for("/hooks"))

    assert record["status_code"] == 200


def test_forwarding_and_send_use_the_same_check(resolver):
    outcome = send(
        OutgoingRequest("POST", "http://hooks.internal.test:9/x", [], b"{}"),
        timeout=2,
        policy=OutgoingPolicy(public=True),
    )

    assert outcome.status_code is None
    assert "a private address" in (outcome.error or "")


def test_a_public_app_beside_a_local_one_keeps_its_own_policy(make_app, httpserver: HTTPServer):
    """The policy belongs to each app, not to the process: building a local app after a public
    one (or the other way round) changes neither."""
    httpserver.expect_request("/hooks").respond_with_data("ok")
    public = make_app(RECEIVER_PUBLIC=True).test_client()
    local = make_app().test_client()

    assert replay(local, httpserver.url_for("/hooks"))["status_code"] == 200
    refused = replay(public, httpserver.url_for("/hooks"))
    assert refused["status_code"] is None
    assert "loopback" in (refused["error"] or "")
