"""The live poller: a cursor over the bin's capture numbers, which never skips a capture.

Captures are numbered in their bin under the bin's row lock in the capture's own transaction, so
numbers become visible in the order they were handed out, whichever process committed them.
"""

from __future__ import annotations

import re

from actions import store_captures

from receiver.capture.request import RawRequest

HTMX = {"HX-Request": "true"}


def poller_url(html: str) -> str:
    found = re.search(r'id="poller"[^>]*hx-get="([^"]+)"', html)
    assert found, html
    return found.group(1).replace("&amp;", "&")


def row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'id="row-(\d+)"', html)]


def post(path: str = "/") -> RawRequest:
    return RawRequest("POST", path, "", [], b"{}")


def test_each_request_is_shown_once_across_polls(app, client, bins):
    bin_id = bins.create()["id"]
    url = poller_url(client.get(f"/bins/{bin_id}").get_data(as_text=True))
    shown: list[int] = []
    for _ in range(3):
        bins.ingest(bin_id, body=b"x")
        html = client.get(url, headers=HTMX).get_data(as_text=True)
        shown += row_ids(html)
        url = poller_url(html)
    assert len(shown) == 3 and len(set(shown)) == 3


def test_captures_committed_by_other_processes_all_reach_the_page(app, make_app, client, bins):
    bin_id = bins.create()["id"]
    url = poller_url(client.get(f"/bins/{bin_id}").get_data(as_text=True))
    others = [make_app(), make_app()]
    sent: list[int] = []
    shown: list[int] = []
    for round_ in range(4):
        for other in others:
            sent += store_captures(other, bin_id, [post(f"/{round_}")])
        html = client.get(url, headers=HTMX).get_data(as_text=True)
        shown += row_ids(html)
        url = poller_url(html)
    assert sorted(shown) == sorted(sent) and len(shown) == len(set(shown))


def test_the_page_and_its_poller_split_the_captures_at_the_cursor(app, client, bins):
    bin_id = bins.create()["id"]
    before = store_captures(app, bin_id, [post(), post()])
    page = client.get(f"/bins/{bin_id}").get_data(as_text=True)
    assert sorted(row_ids(page)) == sorted(before)
    url = poller_url(page)
    assert "after=2" in url
    after = store_captures(app, bin_id, [post()])
    html = client.get(url, headers=HTMX).get_data(as_text=True)
    assert row_ids(html) == after
    assert "after=3" in poller_url(html)


def test_a_burst_larger_than_a_batch_is_delivered_in_batches(app, client, bins):
    bin_id = bins.create()["id"]
    url = poller_url(client.get(f"/bins/{bin_id}").get_data(as_text=True))
    sent = store_captures(app, bin_id, [post() for _ in range(130)])
    first = client.get(url, headers=HTMX).get_data(as_text=True)
    assert len(row_ids(first)) == 100
    assert 'hx-trigger="load"' in first  # ask again at once
    second = client.get(poller_url(first), headers=HTMX).get_data(as_text=True)
    assert sorted(row_ids(first) + row_ids(second)) == sorted(sent)
    assert row_ids(first) == sorted(row_ids(first), reverse=True)  # newest first on the page
