"""Keyset-paged request listing in the core: pages, cursors, filters and text search."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from actions import index_all
from flask import current_app

from receiver.bins import lifecycle as bins
from receiver.capture import listing
from receiver.capture.request import RawRequest
from receiver.capture.request import build_row
from receiver.storage.db import db
from receiver.web.services import services

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("app_ctx")


@pytest.fixture
def bin_id() -> str:
    created = bins.create_bin(db.session, now=T0, ttl_days=7, bin_id="listed").id
    db.session.commit()  # the capture store writes on a connection of its own
    return created


def add(
    bin_id: str, *, method: str = "POST", path: str = "/", query: str = "", **extra: Any
) -> int:
    """Commit one captured request through the capture store and return its id."""
    headers = extra.pop("headers", [])
    body = extra.pop("body", b"")
    raw = RawRequest(method, path, query, headers, body)
    row = build_row(raw, bin_id, T0 + timedelta(seconds=1))
    row.update(forward_url=None, rejection=None, **extra)
    return services(current_app).capture.store(row).id


def ids(page: listing.Page) -> list[int]:
    return [item.id for item in page.requests]


@pytest.fixture(params=["indexed", "queued"])
def search(request: pytest.FixtureRequest) -> Any:
    """Search a bin: once the indexer has taken every capture, and while they are all queued
    (both answer alike)."""

    def run(bin_id: str, q: str) -> list[int]:
        if request.param == "indexed":
            index_all(current_app._get_current_object())
        filters = listing.parse_filter(None, None, None, q)
        return ids(listing.list_requests(db.session, bin_id, filters=filters))

    return run


# paging ---------------------------------------------------------------------------------


def test_newest_first_with_no_next_on_the_last_page(bin_id):
    sent = [add(bin_id) for _ in range(3)]
    page = listing.list_requests(db.session, bin_id)
    assert ids(page) == sent[::-1]
    assert page.next is None


@pytest.mark.parametrize("limit", [1, 2, 4, 5, 6])
def test_before_cursor_pages_through_everything_once(bin_id, limit):
    sent = [add(bin_id) for _ in range(5)]
    seen: list[int] = []
    before = None
    while True:
        page = listing.list_requests(db.session, bin_id, limit=limit, before=before)
        seen += ids(page)
        if page.next is None:
            break
        assert page.next == ids(page)[-1]
        before = page.next
    assert seen == sent[::-1]


def test_an_exactly_full_last_page_has_no_next(bin_id):
    [add(bin_id) for _ in range(4)]
    assert listing.list_requests(db.session, bin_id, limit=4).next is None


def test_requests_of_other_bins_never_appear(bin_id):
    other = bins.create_bin(db.session, now=T0, ttl_days=7, bin_id="other").id
    db.session.commit()
    mine = add(bin_id)
    add(other)
    assert ids(listing.list_requests(db.session, bin_id)) == [mine]


def test_after_takes_the_requests_right_after_the_cursor_newest_first(bin_id):
    sent = [add(bin_id) for _ in range(6)]
    page = listing.list_requests(db.session, bin_id, after=sent[1], limit=3)
    assert ids(page) == [sent[4], sent[3], sent[2]]
    assert page.next is None
    rest = listing.list_requests(db.session, bin_id, after=max(ids(page)), limit=3)
    assert ids(rest) == [sent[5]]


def test_after_the_newest_is_empty(bin_id):
    last = [add(bin_id) for _ in range(2)][-1]
    assert ids(listing.list_requests(db.session, bin_id, after=last)) == []


def test_before_and_after_bound_a_window(bin_id):
    sent = [add(bin_id) for _ in range(5)]
    page = listing.list_requests(db.session, bin_id, after=sent[0], before=sent[4])
    assert ids(page) == [sent[3], sent[2], sent[1]]


def test_bodies_are_loaded_only_when_asked(bin_id):
    add(bin_id, body=b"payload")
    with_body = listing.list_requests(db.session, bin_id, with_body=True).requests[0]
    assert with_body.body == b"payload"


def test_latest_seq_numbers_the_captures_of_a_bin_in_commit_order(bin_id):
    assert listing.latest_seq(db.session, bin_id) == 0
    first, second = add(bin_id), add(bin_id)
    numbered = {r.id: r.seq for r in listing.list_requests(db.session, bin_id).requests}
    assert (numbered[first], numbered[second]) == (1, 2)
    assert listing.latest_seq(db.session, bin_id) == 2


def test_get_request_only_within_its_bin(bin_id):
    other = bins.create_bin(db.session, now=T0, ttl_days=7, bin_id="other").id
    db.session.commit()
    theirs = add(other)
    assert listing.get_request(db.session, bin_id, theirs) is None
    assert listing.get_request(db.session, other, theirs).id == theirs
    assert listing.get_request(db.session, bin_id, 10**12) is None


# filters --------------------------------------------------------------------------------


def test_method_filter(bin_id):
    add(bin_id, method="GET")
    put = add(bin_id, method="PUT")
    filters = listing.parse_filter("put", None, None, None)
    assert ids(listing.list_requests(db.session, bin_id, filters=filters)) == [put]


def test_event_and_validation_filters(bin_id):
    match = add(bin_id, event_id="release.released", validation_status="invalid")
    add(bin_id, event_id="release.released", validation_status="valid")
    add(bin_id, event_id="other", validation_status="invalid")
    filters = listing.parse_filter(None, "release.released", "invalid", None)
    assert ids(listing.list_requests(db.session, bin_id, filters=filters)) == [match]


def test_an_event_filter_may_name_its_provider(bin_id):
    shop = add(bin_id, event_provider="shop", event_id="order.paid")
    other = add(bin_id, event_provider="shop2", event_id="order.paid")
    ambiguous = add(bin_id, event_provider="shop2", event_id="order.paid|order.refunded")

    def listed(text: str) -> list[int]:
        filters = listing.parse_filter(None, text, None, None)
        return ids(listing.list_requests(db.session, bin_id, filters=filters))

    assert listed("shop/order.paid") == [shop]
    assert listed(" shop2 / order.paid ") == [ambiguous, other]
    # an event id alone is that event of any provider, as it always was
    assert listed("order.paid") == [ambiguous, other, shop]
    parsed = listing.parse_filter(None, "shop2/order.refunded", None, None)
    assert (parsed.event_provider, parsed.event_id) == ("shop2", "order.refunded")
    # no event id holds a "/": other text with one is no provider's event, and matches nothing
    for text in ("shop/", "/order.paid", "shop/order/paid"):
        assert listed(text) == []


def test_filters_page_with_before(bin_id):
    wanted = [add(bin_id, method=m) for m in ("PUT", "GET", "PUT", "GET", "PUT")]
    puts = [
        rid
        for rid, m in zip(wanted, ("PUT", "GET", "PUT", "GET", "PUT"), strict=True)
        if m == "PUT"
    ]
    filters = listing.parse_filter("PUT", None, None, None)
    first = listing.list_requests(db.session, bin_id, limit=2, filters=filters)
    second = listing.list_requests(db.session, bin_id, limit=2, before=first.next, filters=filters)
    assert ids(first) + ids(second) == puts[::-1]
    assert second.next is None


@pytest.mark.parametrize(
    ("method", "event", "validation", "q", "expected"),
    [
        (None, None, None, None, listing.RequestFilter()),
        (" get ", None, None, None, listing.RequestFilter(method="GET")),
        ("propfind", None, None, None, listing.RequestFilter(method="PROPFIND")),
        (None, " ev ", "valid", " text ", listing.RequestFilter(None, "ev", "valid", "text")),
        (None, "E" * 128, None, None, listing.RequestFilter(event="E" * 128)),
    ],
)
def test_parse_filter_normalises(method, event, validation, q, expected):
    parsed = listing.parse_filter(method, event, validation, q)
    assert parsed == expected
    assert parsed.active == any(
        (expected.method, expected.event, expected.validation, q and q.strip())
    )


@pytest.mark.parametrize(
    ("method", "event", "validation", "q"),
    [
        ("GE T", None, None, None),
        ("GET;", None, None, None),
        ("A" * 17, None, None, None),
        (None, None, "maybe", None),
        (None, None, None, "x" * 201),
        (None, "E" * 194, None, None),
        # present but empty: "any" is said by leaving the filter out
        ("", None, None, None),
        (None, "", None, None),
        (None, None, "", None),
        (None, None, None, "  "),
    ],
)
def test_parse_filter_refuses_bad_values(method, event, validation, q):
    with pytest.raises(listing.FilterError):
        listing.parse_filter(method, event, validation, q)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("0", 0), ("42", 42), (str(2**63 - 1), 2**63 - 1)],
)
def test_parse_cursor(value, expected):
    assert listing.parse_cursor(value, "before") == expected


@pytest.mark.parametrize("value", ["", "x", "-1", "1.5", str(2**63)])
def test_parse_cursor_refuses_what_is_not_a_request_id(value):
    with pytest.raises(listing.FilterError, match="before"):
        listing.parse_cursor(value, "before")


@pytest.mark.parametrize(("value", "expected"), [(None, 50), ("1", 1), ("500", 500)])
def test_parse_limit(value, expected):
    assert listing.parse_limit(value) == expected


@pytest.mark.parametrize("value", ["", "0", "501", "-3", "ten", "2.5"])
def test_parse_limit_refuses_out_of_range(value):
    with pytest.raises(listing.FilterError, match="limit"):
        listing.parse_limit(value)


# text search ----------------------------------------------------------------------------


def test_search_finds_text_in_path_query_headers_and_body(bin_id, search):
    in_path = add(bin_id, path="/orders/Needle")
    in_query = add(bin_id, query="x=NEEDLE")
    in_header = add(bin_id, headers=[("X-Trace", "the needle")])
    in_body = add(bin_id, body=b'{"k": "needle"}')
    add(bin_id, path="/hay", body=b"hay", headers=[("X-Hay", "hay")])
    assert sorted(search(bin_id, "needle")) == [in_path, in_query, in_header, in_body]


def test_search_in_path_query_and_headers_ignores_case(bin_id, search):
    in_path = add(bin_id, path="/Needle")
    in_header = add(bin_id, headers=[("X-Needle", "v")])
    assert sorted(search(bin_id, "nEEDLE")) == [in_path, in_header]


def test_search_finds_text_inside_a_binary_body(bin_id, search):
    found = add(bin_id, body=b"\x00\xff binary with a needle \x00")
    add(bin_id, body=b"\x00\xff nothing \x00")
    assert search(bin_id, "needle") == [found]


@pytest.mark.parametrize(
    ("q", "matches"),
    [
        ("%", ["/100%"]),
        ("0%", ["/100%"]),
        ("_", ["/a_b"]),
        ("a_b", ["/a_b"]),
        ("\\", ["/back\\slash"]),
        ("%_", []),
    ],
)
def test_search_treats_like_wildcards_and_escapes_literally(bin_id, q, matches, search):
    paths = ["/100%", "/1000", "/a_b", "/axb", "/back\\slash", "/backslash"]
    by_path = {add(bin_id, path=path): path for path in paths}
    assert sorted(by_path[rid] for rid in search(bin_id, q)) == sorted(matches)


def test_search_treats_wildcards_literally_in_headers_and_query(bin_id, search):
    header = add(bin_id, headers=[("X-Rate", "50%")])
    query = add(bin_id, query="under_score=1")
    add(bin_id, headers=[("X-Rate", "50")], query="underscore=1")
    assert search(bin_id, "%") == [header]
    assert search(bin_id, "_") == [query]


def test_search_finds_header_values_with_quotes_and_backslashes(bin_id, search):
    quoted = add(bin_id, headers=[("ETag", '"v1"')])
    slashed = add(bin_id, headers=[("X-Path", "C:\\temp")])
    add(bin_id, headers=[("ETag", "v1")])
    assert search(bin_id, '"v1"') == [quoted]
    assert search(bin_id, "c:\\temp") == [slashed]


def test_search_combines_with_paging(bin_id):
    hits = [add(bin_id, path=f"/needle/{i}") for i in range(3)]
    add(bin_id, path="/hay")
    filters = listing.parse_filter(None, None, None, "needle")
    first = listing.list_requests(db.session, bin_id, limit=2, filters=filters)
    second = listing.list_requests(db.session, bin_id, limit=2, before=first.next, filters=filters)
    assert ids(first) + ids(second) == hits[::-1]
