"""Comparing two captures in the inspector (issue 18, item 18): the page with its pickers, the
comparison partial for htmx, and the way in from a request's detail."""

from __future__ import annotations

import json
from typing import Any

from actions import BinActions
from htmltree import HOSTILE_BODY
from htmltree import parse

HTMX = {"HX-Request": "true"}


def picked(page: Any, name: str) -> str:
    """The request id a picker has selected."""
    options = page.find(id=f"compare-{name}").find_all("option")
    return next(option.attrs["value"] for option in options if "selected" in option.attrs)


def capture(bins: BinActions, bin_id: str, body: bytes, **fields: Any) -> int:
    return int(bins.ingest(bin_id, body=body, **fields).headers["X-Receiver-Request-Id"])


def test_the_detail_leads_to_a_comparison_with_the_capture_before(client, bins):
    bin_id = bins.create()["id"]
    first = capture(bins, bin_id, json.dumps({"amount": 10}).encode())
    second = capture(bins, bin_id, json.dumps({"amount": "10"}).encode())
    detail = parse(client.get(f"/bins/{bin_id}/requests/{second}", headers=HTMX).data)
    links = [a.attrs["href"] for a in detail.find_all("a")]
    assert f"/bins/{bin_id}/compare?b={second}" in links
    page = parse(client.get(f"/bins/{bin_id}/compare?b={second}").data)
    assert (picked(page, "a"), picked(page, "b")) == (str(first), str(second))
    rows = page.find(id="comparison").find_all(cls="change")
    texts = [" ".join(row.text().split()) for row in rows]
    assert texts == ['type changed /amount 10 "10"']


def test_without_ids_the_newest_two_are_compared(client, bins):
    bin_id = bins.create()["id"]
    capture(bins, bin_id, b"one")
    older = capture(bins, bin_id, b"two\n")
    newest = capture(bins, bin_id, b"three\n")
    page = parse(client.get(f"/bins/{bin_id}/compare").data)
    assert (picked(page, "a"), picked(page, "b")) == (str(older), str(newest))
    diff = page.find(id="comparison").find_all(cls="diff")[0].text()
    assert "-two" in diff and "+three" in diff


def test_htmx_gets_the_comparison_and_the_address_follows(client, bins):
    bin_id = bins.create()["id"]
    first = capture(bins, bin_id, b"a")
    second = capture(bins, bin_id, b"a")
    answer = client.get(f"/bins/{bin_id}/compare?a={first}&b={second}", headers=HTMX)
    assert answer.headers["HX-Push-Url"] == f"/bins/{bin_id}/compare?a={first}&b={second}"
    section = parse(answer.data).find(id="comparison")
    assert "the same" in section.text()
    assert parse(answer.data).find_all("form") == []  # the pickers stay as they are


def test_a_bin_with_one_capture_says_there_is_nothing_to_compare(client, bins):
    bin_id = bins.create()["id"]
    capture(bins, bin_id, b"only")
    page = parse(client.get(f"/bins/{bin_id}/compare").data)
    assert "needs two captures" in page.find(id="comparison").text()


def test_captured_content_is_escaped_and_inert_in_the_comparison(client, bins):
    bin_id = bins.create()["id"]
    evil = [("X-Evil", HOSTILE_BODY.decode())]
    first = capture(bins, bin_id, b'{"x": 1}', path="/<b>a</b>", headers=evil)
    second = capture(bins, bin_id, json.dumps({"x": HOSTILE_BODY.decode()}).encode())
    page = parse(client.get(f"/bins/{bin_id}/compare?a={first}&b={second}").data)
    section = page.find(id="comparison")
    assert section.find_all("script") == [] and section.find_all("img") == []
    assert section.find_all("b") == []
    assert not [node for node in section.walk() if "hx-get" in node.attrs]
    assert HOSTILE_BODY.decode() in section.text()


def test_an_id_that_is_not_one_is_a_400_and_another_bins_a_404(client, bins):
    bin_id, other = bins.create()["id"], bins.create()["id"]
    capture(bins, bin_id, b"a")
    theirs = capture(bins, other, b"b")
    assert client.get(f"/bins/{bin_id}/compare?a=x").status_code == 400
    assert client.get(f"/bins/{bin_id}/compare?a=1&b={theirs}").status_code == 404
