"""The live poller: a cursor that never skips a request, even one committed out of id order."""

from __future__ import annotations

import re
from datetime import timedelta

from receiver.capture.listing import SETTLE
from receiver.storage.db import db
from receiver.storage.models import CapturedRequest
from receiver.storage.models import utcnow

HTMX = {"HX-Request": "true"}


def poller_url(html: str) -> str:
    found = re.search(r'id="poller"[^>]*hx-get="([^"]+)"', html)
    assert found, html
    return found.group(1).replace("&amp;", "&")


def row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'id="row-(\d+)"', html)]


def insert(app, bin_id: str, request_id: int, age: timedelta = timedelta(0)) -> None:
    """Commit a captured row with a chosen id, as a slower transaction would."""
    with app.app_context():
        db.session.add(
            CapturedRequest(
                id=request_id,
                bin_id=bin_id,
                received_at=utcnow() - age,
                method="POST",
                path="/",
                query_string="",
                headers=[],
                body=b"{}",
                size=2,
            )
        )
        db.session.commit()


def test_a_request_committed_after_a_higher_id_still_reaches_the_page(app, client, bins):
    bin_id = bins.create()["id"]
    url = poller_url(client.get(f"/bins/{bin_id}").get_data(as_text=True))
    insert(app, bin_id, 11)  # id 11 commits first ...
    first = client.get(url, headers=HTMX).get_data(as_text=True)
    assert row_ids(first) == [11]
    insert(app, bin_id, 10)  # ... id 10, handed out earlier, commits later
    second = client.get(poller_url(first), headers=HTMX).get_data(as_text=True)
    assert row_ids(second) == [10]
    third = client.get(poller_url(second), headers=HTMX).get_data(as_text=True)
    assert row_ids(third) == []


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


def test_the_cursor_moves_past_settled_requests_and_the_seen_list_stays_short(app, client, bins):
    bin_id = bins.create()["id"]
    insert(app, bin_id, 5, age=SETTLE + timedelta(seconds=1))
    url = poller_url(client.get(f"/bins/{bin_id}").get_data(as_text=True))
    assert "after=5" in url and "seen" not in url
    insert(app, bin_id, 6)
    html = client.get(url, headers=HTMX).get_data(as_text=True)
    assert row_ids(html) == [6]
    assert "after=5" in poller_url(html) and "seen=6" in poller_url(html)


def test_a_burst_larger_than_a_batch_is_delivered_in_batches(app, client, bins):
    bin_id = bins.create()["id"]
    url = poller_url(client.get(f"/bins/{bin_id}").get_data(as_text=True))
    for number in range(1, 131):
        insert(app, bin_id, number)
    first = client.get(url, headers=HTMX).get_data(as_text=True)
    assert len(row_ids(first)) == 100
    assert 'hx-trigger="load"' in first  # ask again at once
    second = client.get(poller_url(first), headers=HTMX).get_data(as_text=True)
    assert sorted(row_ids(first) + row_ids(second)) == list(range(1, 131))
