"""The inspector's htmx partials: detail pane, live poller, older pages, list, actions, settings.

Each partial has one root element whose id names it; responses that differ by ``HX-Request``
say so in ``Vary``.
"""

from __future__ import annotations

import gzip
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from actions import store_captures
from flask import Flask
from htmltree import Node
from htmltree import parse
from sqlalchemy import update

from receiver.capture import listing
from receiver.capture.request import RawRequest
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import utcnow

HTMX = {"HX-Request": "true"}
HOSTILE = "<script>alert(1)</script>"
HOSTILE_BODY = (
    b"<script>alert(1)</script><img src=x onerror=alert(1)>"
    b'<div hx-get="/api/bins" hx-trigger="load">'
)


def roots(html: bytes) -> list[Node]:
    """The top-level elements of a fragment."""
    return [child for child in parse(html).children if isinstance(child, Node)]


def ingest_id(response: Any) -> int:
    return int(response.headers["X-Receiver-Request-Id"])


def row_ids(tree: Node) -> list[int]:
    """Ids of the request rows in a fragment or page, in document order."""
    return [
        int(node.attrs["id"].removeprefix("row-"))
        for node in tree.walk()
        if node.tag == "li" and node.attrs.get("id", "").startswith("row-")
    ]


def insert_requests(app: Flask, bin_id: str, count: int, method: str = "POST") -> list[int]:
    """Store ``count`` captures directly (fast setup for paging past a page size)."""
    raws = [RawRequest(method, f"/bulk/{index}", "", [], b"") for index in range(count)]
    return store_captures(app, bin_id, raws)


# the detail pane --------------------------------------------------------------------------


def test_detail_partial_for_htmx_has_one_root_named_request_detail(client, bins):
    bin_id = bins.create()["id"]
    rid = ingest_id(
        bins.ingest(bin_id, body=b'{"b": [1, 2]}', headers=[("Content-Type", "application/json")])
    )
    response = client.get(f"/bins/{bin_id}/requests/{rid}", headers=HTMX)
    assert response.status_code == 200
    assert [node.attrs.get("id") for node in roots(response.data)] == ["request-detail"]
    assert b"<html" not in response.data
    assert "HX-Request" in response.headers["Vary"]
    detail = parse(response.data)
    assert '"b": [' in detail.text()
    download = [a for a in detail.find_all("a") if "download" in a.attrs]
    assert download[0].attrs["href"] == f"/api/bins/{bin_id}/requests/{rid}/raw"


def test_detail_shows_headers_in_order_and_the_query(client, bins):
    bin_id = bins.create()["id"]
    headers = [("X-B", "1"), ("X-A", "2"), ("X-B", "3")]
    rid = ingest_id(bins.ingest(bin_id, headers=headers, query="a=1&a=2&c=%20"))
    detail = parse(client.get(f"/bins/{bin_id}/requests/{rid}", headers=HTMX).data)
    cells = [
        [cell.text() for cell in row.walk() if cell.tag in ("th", "td")][:2]
        for row in detail.find(id="detail-headers").find_all("tr")
        + detail.find(id="detail-query").find_all("tr")
    ]
    assert [c for c in cells if c[0].startswith("X-")] == [["X-B", "1"], ["X-A", "2"], ["X-B", "3"]]
    assert ["a", "1"] in cells and ["a", "2"] in cells and ["c", " "] in cells


def test_detail_undoes_gzip_for_display(client, bins):
    bin_id = bins.create()["id"]
    body = gzip.compress(b'{"compressed": true}', mtime=0)
    rid = ingest_id(
        bins.ingest(
            bin_id,
            body=body,
            headers=[("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
        )
    )
    view = parse(client.get(f"/bins/{bin_id}/requests/{rid}", headers=HTMX).data)
    text = view.find(id="body-view").text()
    assert '"compressed": true' in text
    assert "gzip" in text


def test_detail_shows_binary_bodies_as_hex(client, bins):
    bin_id = bins.create()["id"]
    rid = ingest_id(bins.ingest(bin_id, body=b"\x00\x01\xffAB"))
    view = parse(client.get(f"/bins/{bin_id}/requests/{rid}", headers=HTMX).data)
    assert "00 01 ff 41 42" in view.find(id="body-view").text()


def test_detail_of_a_request_in_another_bin_answers_404(client, bins):
    mine = bins.create()["id"]
    other = bins.create()["id"]
    rid = ingest_id(bins.ingest(other))
    assert client.get(f"/bins/{mine}/requests/{rid}", headers=HTMX).status_code == 404


def test_hostile_capture_is_escaped_and_inert_in_the_detail_partial(client, bins):
    bin_id = bins.create()["id"]
    rid = ingest_id(
        bins.ingest(
            bin_id,
            path=f"/{HOSTILE}",
            query='q="><script>alert(1)</script>',
            body=HOSTILE_BODY,
            headers=[
                ("Content-Type", "text/html"),
                ("X-Evil", f'{HOSTILE}<img src=x onerror="x">'),
            ],
        )
    )
    html = client.get(f"/bins/{bin_id}/requests/{rid}", headers=HTMX).data
    text = html.decode()
    assert "<script>alert(1)" not in text
    assert "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    tree = parse(html)
    for node in tree.walk():
        assert not any(name.startswith("on") for name in node.attrs), node.attrs
        assert node.attrs.get("hx-get") != "/api/bins"
        assert node.tag not in ("script", "img")
    hostile = [(node, fragment) for node, fragment in tree.texts() if "<script>" in fragment]
    # body (pretty and raw), header value, path, raw query, decoded query pair, curl line
    assert len(hostile) >= 5
    for node, fragment in hostile:
        # a textarea's escaped text is a form value (RCDATA): it can never become elements
        inert = node.tag == "textarea" or any("hx-disable" in el.attrs for el in node.lineage())
        assert inert, (node.tag, fragment)


# the live poller --------------------------------------------------------------------------


def poller_url(tree: Node) -> str:
    """The URL the fresh poller asks next (its cursor and filters travel in it)."""
    poller = tree.find(id="poller")
    assert poller is not None, "no fresh poller in the answer"
    return poller.attrs["hx-get"]


def follow(client: Any, url: str, rounds: int = 1) -> tuple[list[int], str, Node]:
    """Poll as the browser does: ask the poller's URL, take the rows, follow the new poller."""
    shown: list[int] = []
    tree = parse(b"")
    for _ in range(rounds):
        response = client.get(url, headers=HTMX)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        tree = parse(response.data)
        shown += row_ids(tree)
        url = poller_url(tree)
    return shown, url, tree


def page_poller(client: Any, url: str) -> str:
    return poller_url(parse(client.get(url).data))


def test_poll_brings_only_what_arrived_since_the_page_and_a_fresh_poller(client, bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id)
    url = page_poller(client, f"/bins/{bin_id}")
    new = [ingest_id(bins.ingest(bin_id)) for _ in range(2)]
    shown, url, tree = follow(client, url)
    assert shown == new[::-1]
    assert follow(client, url)[0] == []


def test_poll_answer_starts_with_the_fresh_poller(client, bins):
    bin_id = bins.create()["id"]
    url = page_poller(client, f"/bins/{bin_id}")
    bins.ingest(bin_id)
    top = roots(client.get(url, headers=HTMX).data)
    assert top[0].attrs["id"] == "poller"
    assert [node.attrs["id"] for node in top[1:]] == [
        f"row-{bins.requests(bin_id)['requests'][0]['id']}"
    ]


def test_poll_with_nothing_new_waits_before_asking_again(client, bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id)
    shown, _, tree = follow(client, page_poller(client, f"/bins/{bin_id}"))
    assert shown == []
    assert "delay" in tree.find(id="poller").attrs["hx-trigger"]


def test_page_poller_does_not_repeat_what_the_page_shows(client, bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id)
    bins.ingest(bin_id)
    assert follow(client, page_poller(client, f"/bins/{bin_id}"), rounds=2)[0] == []


def test_poll_after_a_full_page_brings_nothing_older_as_new(app, client, bins):
    """Rows below the page's first 50 are older ones, reached by "load older": the poller must
    not put them on top of the list as if they had just arrived (they would then show twice)."""
    bin_id = bins.create()["id"]
    insert_requests(app, bin_id, 60)
    assert follow(client, page_poller(client, f"/bins/{bin_id}"))[0] == []


def test_poll_with_filters_shows_only_matching_arrivals_and_moves_on(client, bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id, method="GET")
    url = page_poller(client, f"/bins/{bin_id}?method=PUT")
    put = ingest_id(bins.ingest(bin_id, method="PUT"))
    bins.ingest(bin_id, method="POST")
    shown, url, _ = follow(client, url)
    assert shown == [put]
    assert parse_qs(urlsplit(url).query)["method"] == ["PUT"]
    bins.ingest(bin_id, method="POST")
    assert follow(client, url, rounds=2)[0] == []


def test_poll_catches_up_on_a_burst_in_steps_without_skipping(app, client, bins):
    bin_id = bins.create()["id"]
    url = page_poller(client, f"/bins/{bin_id}")
    inserted = insert_requests(app, bin_id, 130)
    shown, _, tree = follow(client, url, rounds=3)
    assert sorted(shown) == inserted
    assert "delay" in tree.find(id="poller").attrs["hx-trigger"]


def test_filtered_poll_catches_up_on_a_burst_without_skipping(app, client, bins):
    """With a filter, a burst larger than one answer must still arrive whole."""
    bin_id = bins.create()["id"]
    url = page_poller(client, f"/bins/{bin_id}?method=PUT")
    inserted = insert_requests(app, bin_id, 130, method="PUT")
    insert_requests(app, bin_id, 5, method="POST")
    shown, _, _ = follow(client, url, rounds=3)
    assert sorted(shown) == inserted


def test_filtered_poll_never_skips_a_match_committed_while_it_answers(
    app, make_app, client, bins, monkeypatch
):
    """Another worker commits a matching request right after the poll read the bin's newest
    number: the cursor must not jump past it, or the browser never sees it."""
    bin_id = bins.create()["id"]
    url = page_poller(client, f"/bins/{bin_id}?method=PUT")
    bins.ingest(bin_id, method="POST")
    latest_seq = listing.latest_seq
    other = make_app()
    late: list[int] = []

    def read_then_another_worker_commits(*args: Any, **kwargs: Any) -> Any:
        newest = latest_seq(*args, **kwargs)
        if not late:
            late.extend(store_captures(other, bin_id, [RawRequest("PUT", "/late", "", [], b"")]))
        return newest

    monkeypatch.setattr(listing, "latest_seq", read_then_another_worker_commits)
    shown, url, _ = follow(client, url)
    assert late
    monkeypatch.undo()
    shown += follow(client, url, rounds=2)[0]
    assert shown == late


def test_poll_of_a_deleted_bin_answers_286_to_stop(client, bins):
    bin_id = bins.create()["id"]
    client.delete(f"/api/bins/{bin_id}")
    response = client.get(f"/bins/{bin_id}/requests/poll?after=0", headers=HTMX)
    assert response.status_code == 286


def test_poll_of_an_expired_bin_answers_286_to_stop(app, client, bins):
    bin_id = bins.create()["id"]
    with app.app_context():
        db.session.execute(update(Bin).where(Bin.id == bin_id).values(expires_at=utcnow()))
        db.session.commit()
    assert client.get(f"/bins/{bin_id}/requests/poll?after=0").status_code == 286


def test_poll_of_a_private_bin_by_a_stranger_answers_404(app, client):
    location = client.post("/bins", data={"private": "on"}).headers["Location"]
    bin_id = location.rsplit("/", 1)[1]
    assert client.get(f"/bins/{bin_id}/requests/poll?after=0").status_code == 200
    assert app.test_client().get(f"/bins/{bin_id}/requests/poll?after=0").status_code == 404


def test_poll_with_a_bad_cursor_answers_400(client, bins):
    bin_id = bins.create()["id"]
    assert client.get(f"/bins/{bin_id}/requests/poll?after=x", headers=HTMX).status_code == 400
    assert client.get(f"/bins/{bin_id}/requests/poll?after=-1", headers=HTMX).status_code == 400


# older pages and the list -----------------------------------------------------------------


def test_load_older_pages_through_every_request(app, client, bins):
    bin_id = bins.create()["id"]
    inserted = insert_requests(app, bin_id, 60)
    page = parse(client.get(f"/bins/{bin_id}").data)
    first = row_ids(page)
    assert first == inserted[::-1][:50]
    button = page.find(id="load-older").find_all("button")[0]
    assert parse_qs(urlsplit(button.attrs["hx-get"]).query)["before"] == [str(first[-1])]
    older = client.get(button.attrs["hx-get"], headers=HTMX)
    assert older.status_code == 200
    tree = parse(older.data)
    assert row_ids(tree) == inserted[::-1][50:]
    assert tree.find(id="load-older") is None


def test_load_older_keeps_the_filters(app, client, bins):
    bin_id = bins.create()["id"]
    puts = insert_requests(app, bin_id, 55, method="PUT")
    insert_requests(app, bin_id, 5, method="POST")
    page = parse(client.get(f"/bins/{bin_id}?method=PUT").data)
    url = page.find(id="load-older").find_all("button")[0].attrs["hx-get"]
    assert parse_qs(urlsplit(url).query)["method"] == ["PUT"]
    assert row_ids(parse(client.get(url, headers=HTMX).data)) == puts[::-1][50:]


def test_filtered_list_partial_for_htmx(client, bins):
    bin_id = bins.create()["id"]
    put = ingest_id(bins.ingest(bin_id, method="PUT"))
    bins.ingest(bin_id, method="POST")
    response = client.get(f"/bins/{bin_id}/requests?method=PUT", headers=HTMX)
    assert response.status_code == 200
    assert [node.attrs.get("id") for node in roots(response.data)] == ["request-list"]
    assert "HX-Request" in response.headers["Vary"]
    tree = parse(response.data)
    assert row_ids(tree) == [put]
    assert parse_qs(urlsplit(poller_url(tree)).query)["method"] == ["PUT"]


def test_text_search_in_the_list_partial(client, bins):
    bin_id = bins.create()["id"]
    hit = ingest_id(bins.ingest(bin_id, path="/orders/needle"))
    bins.ingest(bin_id, path="/orders/other")
    response = client.get(f"/bins/{bin_id}/requests?q=needle", headers=HTMX)
    assert response.status_code == 200
    assert row_ids(parse(response.data)) == [hit]


def test_list_with_a_bad_filter_answers_400(client, bins):
    bin_id = bins.create()["id"]
    response = client.get(f"/bins/{bin_id}/requests?validation=maybe", headers=HTMX)
    assert response.status_code == 400


# actions ----------------------------------------------------------------------------------


def test_clear_answers_the_empty_list_partial(client, bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id)
    bins.ingest(bin_id)
    response = client.post(f"/bins/{bin_id}/clear", headers=HTMX)
    assert response.status_code == 200
    assert [node.attrs.get("id") for node in roots(response.data)] == ["request-list"]
    assert row_ids(parse(response.data)) == []
    assert bins.requests(bin_id)["requests"] == []
    assert client.get(f"/api/bins/{bin_id}").get_json()["request_count"] == 0


def test_deleting_a_request_empties_the_pane_and_removes_its_row(client, bins):
    bin_id = bins.create()["id"]
    keep = ingest_id(bins.ingest(bin_id))
    gone = ingest_id(bins.ingest(bin_id))
    response = client.delete(f"/bins/{bin_id}/requests/{gone}", headers=HTMX)
    assert response.status_code == 200
    top = roots(response.data)
    assert top[0].attrs["id"] == "request-detail"
    out_of_band = [node for node in top if node.attrs.get("hx-swap-oob")]
    assert [(n.attrs["id"], n.attrs["hx-swap-oob"]) for n in out_of_band] == [
        (f"row-{gone}", "delete")
    ]
    assert [r["id"] for r in bins.requests(bin_id)["requests"]] == [keep]
    assert client.delete(f"/bins/{bin_id}/requests/{gone}", headers=HTMX).status_code == 404


def test_delete_bin_from_htmx_redirects_home(client, bins):
    bin_id = bins.create()["id"]
    response = client.post(f"/bins/{bin_id}/delete", headers=HTMX)
    assert response.headers["HX-Redirect"] == "/"
    assert client.get(f"/api/bins/{bin_id}").status_code == 404


# the custom-response settings form --------------------------------------------------------


def settings_form(**fields: str) -> dict[str, str]:
    form = {"status": "200", "headers": "", "body": "", "delay_ms": "0"}
    form.update(fields)
    return form


def test_settings_form_saves_a_custom_response(client, bins):
    bin_id = bins.create()["id"]
    response = client.post(
        f"/bins/{bin_id}/settings",
        data=settings_form(
            status="202",
            headers="Content-Type: text/plain\r\nX-Reply: yes: really\n\n",
            body="accepted",
            delay_ms="0",
        ),
        headers=HTMX,
    )
    assert response.status_code == 200
    tree = parse(response.data)
    assert [node.attrs.get("id") for node in roots(response.data)] == ["bin-settings"]
    assert tree.find(role="status") is not None
    assert tree.find(id="response-status").attrs["value"] == "202"
    assert client.get(f"/api/bins/{bin_id}").get_json()["response"] == {
        "status": 202,
        "headers": [["Content-Type", "text/plain"], ["X-Reply", "yes: really"]],
        "body": "accepted",
        "delay_ms": 0,
    }
    answer = bins.ingest(bin_id)
    assert answer.status_code == 202
    assert answer.data == b"accepted"
    assert answer.headers["X-Reply"] == "yes: really"


def test_settings_form_with_an_empty_body_restores_the_default_answer(client, bins):
    bin_id = bins.create()["id"]
    client.patch(f"/api/bins/{bin_id}", json={"response": {"body": "custom"}})
    client.post(f"/bins/{bin_id}/settings", data=settings_form(body=""), headers=HTMX)
    assert bins.ingest(bin_id).get_json()["ok"] is True


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "abc"},
        {"status": "99"},
        {"status": "700"},
        {"delay_ms": "-5"},
        {"delay_ms": "99999999"},
        {"delay_ms": "soon"},
        {"headers": "no colon here"},
        {"headers": "Content-Length: 5"},
        {"headers": "Bad Name: x"},
    ],
    ids=lambda fields: repr(fields),
)
def test_settings_form_rejects_bad_input_with_a_400_partial(client, bins, fields):
    bin_id = bins.create()["id"]
    before = client.get(f"/api/bins/{bin_id}").get_json()["response"]
    response = client.post(
        f"/bins/{bin_id}/settings", data=settings_form(body="changed", **fields), headers=HTMX
    )
    assert response.status_code == 400
    assert [node.attrs.get("id") for node in roots(response.data)] == ["bin-settings"]
    alert = parse(response.data).find(role="alert")
    assert alert is not None and alert.text().strip()
    assert client.get(f"/api/bins/{bin_id}").get_json()["response"] == before


def test_settings_of_a_private_bin_are_closed_to_strangers(app, client):
    location = client.post("/bins", data={"private": "on"}).headers["Location"]
    bin_id = location.rsplit("/", 1)[1]
    stranger = app.test_client()
    response = stranger.post(f"/bins/{bin_id}/settings", data=settings_form(status="500"))
    assert response.status_code == 404
    assert client.get(f"/api/bins/{bin_id}").get_json()["response"]["status"] == 200


# each kind of body shown as what it is -----------------------------------------------------


def detail_of(client: Any, bin_id: str, response: Any, **args: str) -> Node:
    """The parsed detail partial of the request ``response`` captured."""
    url = f"/bins/{bin_id}/requests/{ingest_id(response)}"
    found = client.get(url, headers=HTMX, query_string=args)
    assert found.status_code == 200
    return parse(found.data)


def test_a_form_is_a_field_table_and_not_a_json_error(client, bins):
    bin_id = bins.create()["id"]
    sent = bins.ingest(
        bin_id,
        headers=[("Content-Type", "application/x-www-form-urlencoded")],
        body=b"name=Ada+Lovelace&note=caf%C3%A9+%26+tea&empty=",
    )
    view = detail_of(client, bin_id, sent)
    body = view.find(id="body-view")
    assert "body-form" in body.attrs["class"]
    cells = [
        (row.find_all("th")[0].text(), row.find_all("td")[0].text()) for row in body.find_all("tr")
    ]
    assert cells == [("name", "Ada Lovelace"), ("note", "café & tea"), ("empty", "")]
    text = view.text()
    assert "Expecting value" not in text
    assert "not json" not in view.find(cls="detail-nav").text()


def test_multipart_parts_show_their_names_files_sizes_and_headers(client, bins):
    bin_id = bins.create()["id"]
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="title"\r\n\r\nBuild log\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="build.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n\x00\x01\x02\r\n--XyZ--\r\n"
    )
    sent = bins.ingest(
        bin_id, headers=[("Content-Type", "multipart/form-data; boundary=XyZ")], body=body
    )
    parts = detail_of(client, bin_id, sent).find(id="body-view").find_all("li", cls="part")
    assert [part.find(cls="part-name").text() for part in parts] == ["title", "file"]
    assert "Build log" in parts[0].text()
    assert "build.bin" in parts[1].find(cls="part-file").text()
    assert "3 B" in parts[1].text() and "00 01 02" in parts[1].text()
    assert "2 headers" in parts[1].find(cls="part-headers").text()


def test_xml_is_re_indented_and_a_dtd_is_never_expanded(client, bins):
    bin_id = bins.create()["id"]
    plain = bins.ingest(
        bin_id,
        headers=[("Content-Type", "application/xml")],
        body=b'<?xml version="1.0"?><order id="7"><item>tea</item></order>',
    )
    pretty = detail_of(client, bin_id, plain).find(id="body-view").find(cls="xml").text()
    assert pretty.splitlines() == [
        '<?xml version="1.0"?>',
        '<order id="7">',
        "  <item>tea</item>",
        "</order>",
    ]
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY e SYSTEM "http://127.0.0.1:9/x">]>'
        b"<x>&b;&e;</x>"
    )
    sent = bins.ingest(bin_id, headers=[("Content-Type", "text/xml")], body=hostile)
    body = detail_of(client, bin_id, sent).find(id="body-view")
    assert "DTD" in body.text()
    assert "a" * 20 not in body.text()  # shown as sent, entities not expanded


def test_a_huge_body_renders_a_bounded_head_with_show_all(client, bins):
    bin_id = bins.create()["id"]
    big = b'{"items": [' + b", ".join(b'"%06d"' % n for n in range(100_000)) + b"]}"
    sent = bins.ingest(bin_id, headers=[("Content-Type", "application/json")], body=big)
    url = f"/bins/{bin_id}/requests/{ingest_id(sent)}"
    head = client.get(url, headers=HTMX)
    assert len(big) > 800_000
    assert len(head.data) < 600_000  # the head (256 KiB) and the page around it
    note = parse(head.data).find(cls="body-head-note")
    assert "Show all" in note.text()
    whole = client.get(url, headers=HTMX, query_string={"body": "full"})
    assert b"099999" in whole.data and b"099999" not in head.data


def test_the_detail_shows_what_the_bin_answered(client, bins):
    bin_id = bins.create(response={"status": 418, "headers": [["X-Pot", "tea"]], "body": "short"})[
        "id"
    ]
    sent = bins.ingest(bin_id, body=b"{}", headers=[("Content-Type", "application/json")])
    assert sent.status_code == 418
    answer = detail_of(client, bin_id, sent).find(id="detail-response")
    text = answer.text()
    assert "418" in text and "I'm a Teapot" in text
    assert "X-Pot" in text and "short" in text
