"""The JSON API for captured requests: list and page, filter, read, download raw, delete."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from actions import assert_json_error

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
LIST_FIELDS = {
    "id",
    "bin_id",
    "received_at",
    "method",
    "path",
    "query_string",
    "headers",
    "content_type",
    "size",
    "remote_addr",
    "event",
    "validation",
    "signature",
}
BODY_FIELDS = {"body_text", "body_base64"}


def send_many(bins: Any, bin_id: str, count: int, **fields: Any) -> list[int]:
    """Capture ``count`` requests; their ids in the order they were sent."""
    return [
        int(bins.ingest(bin_id, **fields).headers["X-Receiver-Request-Id"]) for _ in range(count)
    ]


def test_list_is_newest_first_without_bodies(bins):
    bin_id = bins.create()["id"]
    sent = send_many(bins, bin_id, 3, body=b"{}")
    listed = bins.requests(bin_id)
    assert set(listed) == {"requests", "next"}
    assert listed["next"] is None
    assert [item["id"] for item in listed["requests"]] == sent[::-1]
    for item in listed["requests"]:
        assert LIST_FIELDS <= set(item)
        assert not BODY_FIELDS & set(item)
        assert item["bin_id"] == bin_id


def test_list_of_an_empty_bin(bins):
    bin_id = bins.create()["id"]
    assert bins.requests(bin_id) == {"requests": [], "next": None}


def test_detail_has_every_field_and_the_body(bins):
    bin_id = bins.create()["id"]
    headers = [("Content-Type", "application/json"), ("X-Trace", "a"), ("X-Trace", "b")]
    bins.ingest(bin_id, path="/hooks/x", query="a=1&b=", body=b'{"k": "v"}', headers=headers)
    rid = bins.requests(bin_id)["requests"][0]["id"]
    detail = bins.request(bin_id, rid)
    assert LIST_FIELDS | BODY_FIELDS <= set(detail)
    assert detail["method"] == "POST"
    assert detail["path"] == "/hooks/x"
    assert detail["query_string"] == "a=1&b="
    assert detail["content_type"] == "application/json"
    assert detail["size"] == 10
    assert detail["remote_addr"] == "127.0.0.1"
    assert ISO_UTC.fullmatch(detail["received_at"])
    assert [p for p in detail["headers"] if p[0] in ("Content-Type", "X-Trace")] == [
        list(p) for p in headers
    ]
    assert detail["body_text"] == '{"k": "v"}'
    assert base64.b64decode(detail["body_base64"]) == b'{"k": "v"}'
    assert set(detail["event"]) >= {"provider", "event", "candidates"}
    assert set(detail["validation"]) >= {"status", "errors", "warnings"}
    assert set(detail["signature"]) >= {"status", "scheme", "reason"}


def test_non_utf8_body_has_no_text_but_exact_base64(bins):
    bin_id = bins.create()["id"]
    body = b"caf\xe9 \xff\xfe\x00"
    bins.ingest(bin_id, body=body)
    detail = bins.request(bin_id, bins.requests(bin_id)["requests"][0]["id"])
    assert detail["body_text"] is None
    assert base64.b64decode(detail["body_base64"]) == body


def test_empty_body_is_empty_text_and_base64(bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id, method="GET")
    detail = bins.request(bin_id, bins.requests(bin_id)["requests"][0]["id"])
    assert detail["body_text"] == ""
    assert detail["body_base64"] == ""
    assert detail["size"] == 0


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 8])
def test_paging_with_next_covers_every_request_exactly_once(bins, limit):
    bin_id = bins.create()["id"]
    sent = send_many(bins, bin_id, 7)
    seen: list[int] = []
    params: dict[str, Any] = {"limit": limit}
    pages = 0
    while True:
        page = bins.requests(bin_id, **params)
        pages += 1
        assert len(page["requests"]) <= limit
        seen += [item["id"] for item in page["requests"]]
        if page["next"] is None:
            break
        params["before"] = page["next"]
    assert seen == sent[::-1]
    assert pages == -(-7 // limit)


def test_after_returns_only_newer_requests(bins):
    bin_id = bins.create()["id"]
    sent = send_many(bins, bin_id, 5)
    page = bins.requests(bin_id, after=sent[1])
    assert [item["id"] for item in page["requests"]] == sent[:1:-1]
    assert page["next"] is None
    assert bins.requests(bin_id, after=sent[-1]) == {"requests": [], "next": None}


def test_after_with_a_limit_takes_the_requests_right_after_the_cursor(bins):
    """A poller that fell behind must not skip a burst: it gets the oldest unseen first."""
    bin_id = bins.create()["id"]
    sent = send_many(bins, bin_id, 6)
    page = bins.requests(bin_id, after=sent[0], limit=2)
    assert [item["id"] for item in page["requests"]] == [sent[2], sent[1]]


def test_before_and_after_together_bound_a_window(bins):
    bin_id = bins.create()["id"]
    sent = send_many(bins, bin_id, 6)
    page = bins.requests(bin_id, after=sent[0], before=sent[4])
    assert [item["id"] for item in page["requests"]] == [sent[3], sent[2], sent[1]]


def test_method_filter(bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id, method="GET")
    put = int(bins.ingest(bin_id, method="PUT").headers["X-Receiver-Request-Id"])
    propfind = int(bins.ingest(bin_id, method="PROPFIND").headers["X-Receiver-Request-Id"])
    assert [r["id"] for r in bins.requests(bin_id, method="put")["requests"]] == [put]
    assert [r["id"] for r in bins.requests(bin_id, method="PROPFIND")["requests"]] == [propfind]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("needle", ["path", "query", "header", "body"]),
        ("in-path-only", ["path"]),
        ("x-custom-header", ["header"]),
        ("absent", []),
    ],
)
def test_text_search_looks_in_path_query_headers_and_body(bins, q, expected):
    bin_id = bins.create()["id"]
    ids = {
        "path": bins.ingest(bin_id, path="/needle/in-path-only"),
        "query": bins.ingest(bin_id, query="x=Needle"),
        "header": bins.ingest(bin_id, headers=[("X-Custom-Header", "a NEEDLE here")]),
        "body": bins.ingest(bin_id, body=b'{"text": "a needle"}'),
        "none": bins.ingest(bin_id, body=b"haystack"),
    }
    found = {r["id"] for r in bins.requests(bin_id, q=q)["requests"]}
    assert found == {int(ids[name].headers["X-Receiver-Request-Id"]) for name in expected}


def test_search_ignores_case_in_path_query_and_headers(bins):
    bin_id = bins.create()["id"]
    sent = [
        bins.ingest(bin_id, path="/Needle"),
        bins.ingest(bin_id, query="x=nEEdle"),
        bins.ingest(bin_id, headers=[("X-Needle", "1")]),
    ]
    bins.ingest(bin_id, body=b"haystack")
    found = {r["id"] for r in bins.requests(bin_id, q="NEEDLE")["requests"]}
    assert found == {int(r.headers["X-Receiver-Request-Id"]) for r in sent}


def test_search_finds_header_values_with_quotes(bins):
    bin_id = bins.create()["id"]
    response = bins.ingest(bin_id, headers=[("If-None-Match", '"etag-1"')])
    bins.ingest(bin_id, headers=[("If-None-Match", "etag-1")])
    found = [r["id"] for r in bins.requests(bin_id, q='"etag-1"')["requests"]]
    assert found == [int(response.headers["X-Receiver-Request-Id"])]


def test_search_treats_like_wildcards_literally(bins):
    bin_id = bins.create()["id"]
    percent = int(bins.ingest(bin_id, path="/100%25").headers["X-Receiver-Request-Id"])
    bins.ingest(bin_id, path="/1000")
    underscore = int(bins.ingest(bin_id, path="/a_b").headers["X-Receiver-Request-Id"])
    bins.ingest(bin_id, path="/axb")
    assert [r["id"] for r in bins.requests(bin_id, q="%")["requests"]] == [percent]
    assert [r["id"] for r in bins.requests(bin_id, q="_")["requests"]] == [underscore]


def test_filters_combine_with_paging(bins):
    bin_id = bins.create()["id"]
    wanted = []
    for index in range(6):
        method = "PUT" if index % 2 else "POST"
        response = bins.ingest(bin_id, method=method, body=b"x")
        if method == "PUT":
            wanted.append(int(response.headers["X-Receiver-Request-Id"]))
    first = bins.requests(bin_id, method="PUT", limit=2)
    second = bins.requests(bin_id, method="PUT", limit=2, before=first["next"])
    assert [r["id"] for r in first["requests"] + second["requests"]] == wanted[::-1]
    assert second["next"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "ten"},
        {"limit": "-1"},
        {"before": "abc"},
        {"before": "-5"},
        {"after": "1.5"},
        {"before": str(2**70)},
        {"validation": "maybe"},
        {"method": "GE T"},
        {"q": "x" * 201},
    ],
    ids=lambda params: repr(params)[:40],
)
def test_invalid_list_parameters_answer_400_json(bins, params):
    bin_id = bins.create()["id"]
    response = bins.client.get(f"/api/bins/{bin_id}/requests", query_string=params)
    assert_json_error(response, 400)


def test_raw_download_is_the_exact_bytes_as_an_attachment(bins):
    bin_id = bins.create()["id"]
    body = b"<html><script>alert(1)</script>\xff\x00"
    bins.ingest(bin_id, body=body, headers=[("Content-Type", "text/html; charset=latin-1")])
    rid = bins.requests(bin_id)["requests"][0]["id"]
    response = bins.client.get(f"/api/bins/{bin_id}/requests/{rid}/raw")
    assert response.status_code == 200
    assert response.data == body
    assert response.headers["Content-Type"] == "text/html; charset=latin-1"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_raw_download_without_content_type_is_octet_stream(bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id, body=b"\x00\x01")
    rid = bins.requests(bin_id)["requests"][0]["id"]
    response = bins.client.get(f"/api/bins/{bin_id}/requests/{rid}/raw")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.data == b"\x00\x01"


def test_gzip_body_is_downloaded_as_sent(bins):
    import gzip

    bin_id = bins.create()["id"]
    body = gzip.compress(b'{"compressed": true}', mtime=0)
    bins.ingest(bin_id, body=body, headers=[("Content-Encoding", "gzip")])
    rid = bins.requests(bin_id)["requests"][0]["id"]
    response = bins.client.get(f"/api/bins/{bin_id}/requests/{rid}/raw")
    assert response.data == body
    assert "Content-Encoding" not in response.headers


def test_delete_one_request(bins):
    bin_id = bins.create()["id"]
    keep, gone = send_many(bins, bin_id, 2)
    response = bins.client.delete(f"/api/bins/{bin_id}/requests/{gone}")
    assert response.status_code == 204
    assert_json_error(bins.client.get(f"/api/bins/{bin_id}/requests/{gone}"), 404)
    assert_json_error(bins.client.delete(f"/api/bins/{bin_id}/requests/{gone}"), 404)
    assert [r["id"] for r in bins.requests(bin_id)["requests"]] == [keep]
    assert bins.client.get(f"/api/bins/{bin_id}").get_json()["request_count"] == 1


def test_clear_deletes_every_request_and_says_how_many(bins):
    bin_id = bins.create()["id"]
    other = bins.create()["id"]
    send_many(bins, bin_id, 3)
    send_many(bins, other, 1)
    response = bins.client.delete(f"/api/bins/{bin_id}/requests")
    assert response.status_code == 200
    assert response.get_json() == {"deleted": 3}
    assert bins.requests(bin_id) == {"requests": [], "next": None}
    assert bins.client.get(f"/api/bins/{bin_id}").get_json()["request_count"] == 0
    assert len(bins.requests(other)["requests"]) == 1


def test_a_request_is_only_reachable_through_its_own_bin(bins):
    mine = bins.create()["id"]
    theirs = bins.create()["id"]
    (rid,) = send_many(bins, theirs, 1)
    for method, url in [
        ("GET", f"/api/bins/{mine}/requests/{rid}"),
        ("GET", f"/api/bins/{mine}/requests/{rid}/raw"),
        ("DELETE", f"/api/bins/{mine}/requests/{rid}"),
    ]:
        assert_json_error(bins.client.open(url, method=method), 404)
    assert bins.request(theirs, rid)["id"] == rid


def test_unknown_request_answers_404_json(bins):
    bin_id = bins.create()["id"]
    assert_json_error(bins.client.get(f"/api/bins/{bin_id}/requests/999999"), 404)
    assert_json_error(bins.client.get(f"/api/bins/{bin_id}/requests/not-a-number"), 404)


@pytest.mark.parametrize("url", ["/api", "/api/", "/api/nope", "/api/bins/x/y/z/w"])
def test_unknown_api_routes_answer_404_json(client, url):
    assert_json_error(client.get(url), 404)


@pytest.mark.parametrize(
    ("method", "url"), [("PUT", "/api/bins"), ("GET", "/api/bins"), ("POST", "/api/bins/abc")]
)
def test_wrong_method_answers_405_json_with_allow(client, method, url):
    response = client.open(url, method=method)
    assert_json_error(response, 405)
    assert "Allow" in response.headers


def test_oversized_api_body_answers_413_json(make_app):
    client = make_app(RECEIVER_BODY_LIMIT=1024).test_client()
    response = client.post("/api/bins", json={"label": "x" * 2000})
    assert_json_error(response, 413)


def test_api_responses_are_never_sniffed(client, bins):
    bin_id = bins.create()["id"]
    assert client.get(f"/api/bins/{bin_id}").headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/api/nope").headers["X-Content-Type-Options"] == "nosniff"
