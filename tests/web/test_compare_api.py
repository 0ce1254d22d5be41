"""Comparing two captures through the API (issue 18, item 18):
``GET /api/bins/<id>/compare?a=&b=`` on both databases, with bodies as captured."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from actions import BinActions

from receiver.capture.compare import BODY_MAX


def capture(bins: BinActions, bin_id: str, body: bytes, **fields: Any) -> int:
    return int(bins.ingest(bin_id, body=body, **fields).headers["X-Receiver-Request-Id"])


def compared(client: Any, bin_id: str, a: int, b: int) -> dict[str, Any]:
    response = client.get(f"/api/bins/{bin_id}/compare", query_string={"a": a, "b": b})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_two_deliveries_differ_by_request_line_headers_and_json_pointer(client, bins):
    bin_id = bins.create()["id"]
    json_type = ("Content-Type", "application/json")
    first = capture(
        bins,
        bin_id,
        json.dumps({"id": "evt_1", "data": {"amount": 10, "currency": "eur"}}).encode(),
        path="/hooks",
        headers=[json_type, ("X-Attempt", "1"), ("X-Old", "o")],
    )
    second = capture(
        bins,
        bin_id,
        json.dumps({"id": "evt_1", "data": {"amount": "10", "note": None}}).encode(),
        path="/hooks/retry",
        headers=[json_type, ("X-Attempt", "2"), ("X-New", "n")],
    )
    shown = compared(client, bin_id, first, second)
    assert (shown["a"]["id"], shown["b"]["id"], shown["same"]) == (first, second, False)
    assert shown["request"] == [
        {"kind": "changed", "where": "path", "before": "/hooks", "after": "/hooks/retry"}
    ]
    assert shown["headers"] == [
        {"kind": "changed", "where": "X-Attempt", "before": "1", "after": "2"},
        {"kind": "removed", "where": "X-Old", "before": "o", "after": None},
        {"kind": "added", "where": "X-New", "before": None, "after": "n"},
    ]
    body = shown["body"]
    assert body["kind"] == "json" and body["truncated"] is False
    assert body["changes"] == [
        {"kind": "type", "where": "/data/amount", "before": "10", "after": '"10"'},
        {"kind": "removed", "where": "/data/currency", "before": '"eur"', "after": None},
        {"kind": "added", "where": "/data/note", "before": None, "after": "null"},
    ]


def test_a_capture_compared_with_itself_is_the_same(client, bins):
    bin_id = bins.create()["id"]
    only = capture(bins, bin_id, b'{"a": 1}')
    shown = compared(client, bin_id, only, only)
    assert shown["same"] is True and shown["body"]["kind"] == "same"


def test_encoded_bodies_are_compared_as_the_inspector_shows_them(client, bins):
    bin_id = bins.create()["id"]
    gz = [("Content-Encoding", "gzip"), ("Content-Type", "application/json")]
    first = capture(bins, bin_id, gzip.compress(b'{"n": 1}'), headers=gz)
    second = capture(bins, bin_id, gzip.compress(b'{"n": 2}'), headers=gz)
    body = compared(client, bin_id, first, second)["body"]
    assert body["kind"] == "json"
    assert body["changes"] == [{"kind": "changed", "where": "/n", "before": "1", "after": "2"}]


def test_binary_bodies_differ_from_their_first_byte_that_differs(client, bins):
    bin_id = bins.create()["id"]
    first = capture(bins, bin_id, b"\x00\x01\x02\xff\xfe")
    second = capture(bins, bin_id, b"\x00\x01\x03\xff\xfe")
    body = compared(client, bin_id, first, second)["body"]
    assert (body["kind"], body["first_difference"]) == ("bytes", 2)
    assert body["windows"] == ["00 01 02 ff fe", "00 01 03 ff fe"]


def test_large_bodies_are_compared_on_their_first_mebibyte_and_say_so(client, bins):
    bin_id = bins.create()["id"]
    head = b"x" * (BODY_MAX + 10)
    first = capture(bins, bin_id, head + b"a")
    second = capture(bins, bin_id, head + b"b")
    shown = compared(client, bin_id, first, second)
    assert shown["same"] is False and shown["body"]["truncated"] is True


@pytest.mark.parametrize(
    "query", [{}, {"a": "1"}, {"a": "x", "b": "1"}, {"a": "²", "b": "1"}, {"a": "1", "b": "-1"}]
)
def test_missing_or_malformed_ids_are_a_400(client, bins, query):
    bin_id = bins.create()["id"]
    response = client.get(f"/api/bins/{bin_id}/compare", query_string=query)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"


def test_a_request_of_another_bin_is_a_404(client, bins):
    mine, theirs = bins.create()["id"], bins.create()["id"]
    here = capture(bins, mine, b"a")
    there = capture(bins, theirs, b"b")
    response = client.get(f"/api/bins/{mine}/compare", query_string={"a": here, "b": there})
    assert response.status_code == 404


def test_a_private_bin_compares_for_its_share_link_and_hides_from_strangers(app, client):
    made = client.post("/api/bins", json={"private": True}).get_json()
    first = int(client.post(f"/b/{made['id']}", data=b"a").headers["X-Receiver-Request-Id"])
    second = int(client.post(f"/b/{made['id']}", data=b"b").headers["X-Receiver-Request-Id"])
    url = f"/api/bins/{made['id']}/compare?a={first}&b={second}"
    read_only = made["inspect_url"].rsplit("/", 1)[1]
    holder = app.test_client().get(url, headers={"Authorization": f"Bearer {read_only}"})
    assert holder.status_code == 200
    assert app.test_client().get(url).status_code == 404


def test_an_id_given_twice_is_a_400(client, bins):
    bin_id = bins.create()["id"]
    response = client.get(f"/api/bins/{bin_id}/compare?a=1&a=2&b=1")
    assert response.status_code == 400
