"""The inspector's full pages: home, creating a bin, the bin page, private bins, hostile content.

Pages are parsed with the standard library's html.parser so that assertions are about elements
and attributes, not about substrings of the markup.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from actions import BinActions
from htmltree import parse

HOSTILE_BODY = (
    b"<script>alert(1)</script><img src=x onerror=alert(1)>"
    b'<div hx-get="/api/bins" hx-trigger="load">'
)


HTMX = {"HX-Request": "true"}


def bin_id_from(location: str) -> str:
    return urlsplit(location).path.rstrip("/").rsplit("/", 1)[1]


def ingest_id(response: Any) -> int:
    return int(response.headers["X-Receiver-Request-Id"])


# home and creating bins -------------------------------------------------------------------


def test_home_shows_the_create_form(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    form = parse(response.data).find_all("form", action="/bins")
    assert form and form[0].attrs["method"] == "post"
    names = {node.attrs.get("name") for node in form[0].walk() if node.tag == "input"}
    assert {"label", "id", "private"} <= names


def test_creating_a_bin_redirects_to_its_page_and_remembers_it(client):
    response = client.post("/bins", data={"label": "Appery iOS"})
    assert response.status_code == 303
    bin_id = bin_id_from(response.headers["Location"])
    assert urlsplit(response.headers["Location"]).path == f"/bins/{bin_id}"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("receiver_recent=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    recent = parse(client.get("/").data).find(id="recent-bins")
    links = [a.attrs["href"] for a in recent.find_all("a")]
    assert f"/bins/{bin_id}" in links
    assert "Appery iOS" in recent.text()


def test_recent_bins_are_listed_newest_first_and_only_for_this_browser(app, client):
    first = bin_id_from(client.post("/bins", data={}).headers["Location"])
    second = bin_id_from(client.post("/bins", data={}).headers["Location"])
    links = [
        node.attrs["href"]
        for node in parse(client.get("/").data).find(id="recent-bins").find_all("a")
    ]
    assert links == [f"/bins/{second}", f"/bins/{first}"]
    other = parse(app.test_client().get("/").data).find(id="recent-bins")
    assert other.find_all("a") == []


def test_deleted_bins_drop_out_of_the_recent_list(client):
    bin_id = bin_id_from(client.post("/bins", data={}).headers["Location"])
    client.delete(f"/api/bins/{bin_id}")
    assert parse(client.get("/").data).find(id="recent-bins").find_all("a") == []


def test_a_readable_id_can_be_chosen_in_the_form(client):
    response = client.post("/bins", data={"id": "my-hooks"})
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/bins/my-hooks"


def test_a_taken_readable_id_answers_409_with_the_error_on_the_form(client):
    client.post("/bins", data={"id": "taken"})
    response = client.post("/bins", data={"id": "taken", "label": "second try"})
    assert response.status_code == 409
    assert response.mimetype == "text/html"
    page = parse(response.data)
    alert = page.find(role="alert")
    assert alert is not None and "taken" in alert.text()
    assert page.find(id="label").attrs["value"] == "second try"
    assert "Set-Cookie" not in response.headers


def test_an_invalid_readable_id_answers_400_with_the_rule(client):
    response = client.post("/bins", data={"id": "No Spaces"})
    assert response.status_code == 400
    assert "[a-z0-9-]{3,64}" in parse(response.data).find(role="alert").text()


# the bin page ----------------------------------------------------------------------------


def test_bin_page_shows_the_ingest_url_and_a_curl_line(client, bins):
    bin_id = bins.create()["id"]
    response = client.get(f"/bins/{bin_id}")
    assert response.status_code == 200
    page = parse(response.data)
    assert page.find(id="ingest-url").attrs["value"] == f"http://localhost/b/{bin_id}"
    assert f"curl -X POST 'http://localhost/b/{bin_id}'" in page.find(id="bin-curl").text()
    assert page.find(id="request-list") is not None
    assert page.find(id="request-detail") is not None


def test_bin_page_shows_the_configured_limits(make_app):
    app = make_app(
        RECEIVER_BODY_LIMIT=2048, RECEIVER_MAX_REQUESTS_PER_BIN=25, RECEIVER_BIN_TTL_DAYS=3
    )
    client = app.test_client()
    bin_id = BinActions(client).create()["id"]
    page = parse(client.get(f"/bins/{bin_id}").data)
    shown = next(node for node in page.walk() if "limits" in node.attrs.get("class", "").split())
    limits = " ".join(shown.text().split())
    assert "2.0 KiB" in limits
    assert "25 requests" in limits
    assert "3 days" in limits


def test_bin_page_lists_captured_requests_newest_first(client, bins):
    bin_id = bins.create()["id"]
    sent = [ingest_id(bins.ingest(bin_id, path=f"/n{i}")) for i in range(3)]
    page = parse(client.get(f"/bins/{bin_id}").data)
    rows = [node.attrs["id"] for node in page.find(id="request-rows").find_all("li")]
    assert [row for row in rows if row.startswith("row-")] == [f"row-{i}" for i in sent[::-1]]


def test_unknown_bin_page_answers_404_html(client):
    response = client.get("/bins/not-a-bin")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert parse(response.data).find_all("h1")[0].text().startswith("404")


def test_selected_request_is_rendered_in_the_page(client, bins):
    bin_id = bins.create()["id"]
    rid = ingest_id(bins.ingest(bin_id, path="/selected", body=b'{"a": 1}'))
    response = client.get(f"/bins/{bin_id}?request={rid}")
    assert response.status_code == 200
    detail = parse(response.data).find(id="request-detail")
    assert "/selected" in detail.text()
    assert '"a": 1' in detail.text()
    assert parse(response.data).find_all("html")


def test_selecting_an_unknown_request_shows_the_empty_detail(client, bins):
    bin_id = bins.create()["id"]
    response = client.get(f"/bins/{bin_id}?request=424242")
    assert response.status_code == 200
    detail = parse(response.data).find(id="request-detail")
    assert any("empty-detail" in node.attrs.get("class", "").split() for node in detail.walk())
    assert detail.find_all("code") == []


def test_detail_url_without_htmx_redirects_to_the_page_with_the_request(client, bins):
    bin_id = bins.create()["id"]
    rid = ingest_id(bins.ingest(bin_id))
    response = client.get(f"/bins/{bin_id}/requests/{rid}")
    assert response.status_code in (302, 303)
    target = urlsplit(response.headers["Location"])
    assert target.path == f"/bins/{bin_id}"
    assert parse_qs(target.query) == {"request": [str(rid)]}


@pytest.mark.parametrize(
    "headers",
    [
        {"HX-Request": "true", "HX-Boosted": "true"},
        {"HX-Request": "true", "HX-History-Restore-Request": "true"},
        {},
    ],
    ids=["boosted", "history-restore", "plain"],
)
def test_navigation_to_the_list_url_gets_the_whole_page(client, bins, headers):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id)
    response = client.get(f"/bins/{bin_id}/requests", headers=headers)
    assert response.status_code == 200
    page = parse(response.data)
    assert page.find_all("html") and page.find(id="ingest-url") is not None
    assert "HX-Request" in response.headers.get("Vary", "")


@pytest.mark.parametrize(
    "headers",
    [
        {"HX-Request": "true", "HX-Boosted": "true"},
        {"HX-Request": "true", "HX-History-Restore-Request": "true"},
    ],
    ids=["boosted", "history-restore"],
)
def test_navigation_to_a_detail_url_gets_the_whole_page(client, bins, headers):
    bin_id = bins.create()["id"]
    rid = ingest_id(bins.ingest(bin_id))
    response = client.get(f"/bins/{bin_id}/requests/{rid}", headers=headers, follow_redirects=True)
    assert response.status_code == 200
    page = parse(response.data)
    assert page.find_all("html") and page.find(id="ingest-url") is not None
    assert page.find(id="request-detail").find_all("code")


def test_filters_in_the_page_url_narrow_the_list_and_travel_with_the_poller(client, bins):
    bin_id = bins.create()["id"]
    put = ingest_id(bins.ingest(bin_id, method="PUT"))
    bins.ingest(bin_id, method="POST")
    page = parse(client.get(f"/bins/{bin_id}?method=PUT").data)
    rows = [n.attrs["id"] for n in page.find(id="request-rows").find_all("li")]
    assert [row for row in rows if row.startswith("row-")] == [f"row-{put}"]
    poller = parse_qs(urlsplit(page.find(id="poller").attrs["hx-get"]).query)
    assert poller["method"] == ["PUT"]


@pytest.mark.parametrize(
    "query", ["validation=maybe", "method=GE%20T", "q=" + "x" * 201], ids=lambda q: q[:20]
)
def test_bad_filters_in_the_page_url_answer_400_not_a_server_error(client, bins, query):
    bin_id = bins.create()["id"]
    for url in (f"/bins/{bin_id}?{query}", f"/bins/{bin_id}/requests?{query}"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert response.mimetype == "text/html"


# private bins -----------------------------------------------------------------------------


def test_private_bin_is_visible_to_the_creating_browser_only(app, client):
    location = client.post("/bins", data={"private": "on", "label": "secret"}).headers["Location"]
    bin_id = bin_id_from(location)
    assert client.get(f"/bins/{bin_id}").status_code == 200
    app.test_client().post(f"/b/{bin_id}", data=b"x")
    rid = client.get(f"/api/bins/{bin_id}/requests").get_json()["requests"][0]["id"]
    stranger = app.test_client()
    for url in (
        f"/bins/{bin_id}",
        f"/bins/{bin_id}?request={rid}",
        f"/bins/{bin_id}/requests",
        f"/bins/{bin_id}/requests/{rid}",
        f"/bins/{bin_id}/requests/older?before={rid + 1}",
    ):
        response = stranger.get(url, headers={"HX-Request": "true"})
        assert response.status_code == 404, url
        assert b"secret" not in response.data
    assert stranger.post(f"/bins/{bin_id}/clear").status_code == 404
    assert stranger.post(f"/bins/{bin_id}/delete").status_code == 404
    assert client.get(f"/api/bins/{bin_id}").status_code == 200


def test_private_bin_page_answers_404_like_a_missing_bin(app, client):
    bin_id = bin_id_from(client.post("/bins", data={"private": "on"}).headers["Location"])
    stranger = app.test_client()
    hidden = stranger.get(f"/bins/{bin_id}")
    missing = stranger.get("/bins/never-was-here")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.data.replace(bin_id.encode(), b"") == missing.data.replace(b"never-was-here", b"")


def test_a_forged_recent_bins_cookie_opens_nothing(app, client):
    bin_id = bin_id_from(client.post("/bins", data={"private": "on"}).headers["Location"])
    stranger = app.test_client()
    stranger.set_cookie("receiver_recent", f'[["{bin_id}", "forged"]]')
    assert stranger.get(f"/bins/{bin_id}").status_code == 404


# actions that lead to pages ---------------------------------------------------------------


def test_deleting_a_bin_goes_home_and_removes_it(client, bins):
    bin_id = bin_id_from(client.post("/bins", data={}).headers["Location"])
    bins.ingest(bin_id)
    response = client.post(f"/bins/{bin_id}/delete")
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/"
    assert "HX-Redirect" not in response.headers
    assert client.get(f"/api/bins/{bin_id}").status_code == 404
    assert client.get(f"/bins/{bin_id}").status_code == 404
    assert parse(client.get("/").data).find(id="recent-bins").find_all("a") == []


def test_clearing_without_htmx_does_not_fail(client, bins):
    """The clear endpoint answers a plain form post with a page, not a server error."""
    bin_id = bins.create()["id"]
    bins.ingest(bin_id)
    response = client.post(f"/bins/{bin_id}/clear", follow_redirects=True)
    assert response.status_code == 200
    assert parse(response.data).find(id="ingest-url") is not None
    assert bins.requests(bin_id)["requests"] == []


# hostile content --------------------------------------------------------------------------


def send_hostile(bins: Any, bin_id: str) -> int:
    """A capture whose body, header, path and query all try to run script or htmx."""
    hostile = "<script>alert(1)</script>"
    response = bins.ingest(
        bin_id,
        path=f"/{hostile}",
        query='q="><script>alert(1)</script>',
        body=HOSTILE_BODY,
        headers=[("Content-Type", "text/html"), ("X-Evil", f'{hostile}<img src=x onerror="x">')],
    )
    return ingest_id(response)


def assert_hostile_content_is_inert(html: bytes) -> None:
    """Captured markup appears only as escaped text, each time inside an hx-disable element."""
    text = html.decode()
    assert "<script>alert(1)" not in text
    assert "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    tree = parse(html)
    for node in tree.walk():
        assert not any(name.startswith("on") for name in node.attrs), node.attrs
        assert node.attrs.get("hx-get") != "/api/bins"
        if node.tag == "script":
            assert node.attrs.get("src") and not node.text().strip()
    hostile_texts = [(node, t) for node, t in tree.texts() if "<script>alert(1)" in t]
    assert hostile_texts
    for node, fragment in hostile_texts:
        # a textarea's escaped text is a form value (RCDATA): it can never become elements
        inert = node.tag == "textarea" or any("hx-disable" in el.attrs for el in node.lineage())
        assert inert, (node.tag, fragment)


def test_hostile_capture_is_escaped_and_inert_in_the_page(client, bins):
    bin_id = bins.create()["id"]
    rid = send_hostile(bins, bin_id)
    page = client.get(f"/bins/{bin_id}?request={rid}")
    assert page.status_code == 200
    assert_hostile_content_is_inert(page.data)
    detail = parse(page.data).find(id="request-detail").text()
    assert '<div hx-get="/api/bins" hx-trigger="load">' in detail
    assert '"><script>alert(1)</script>' in detail


def test_hostile_capture_is_escaped_in_the_list(client, bins):
    bin_id = bins.create()["id"]
    send_hostile(bins, bin_id)
    assert_hostile_content_is_inert(client.get(f"/bins/{bin_id}").data)


def test_hostile_label_is_escaped(client):
    location = client.post("/bins", data={"label": "<script>alert(1)</script>"}).headers["Location"]
    for url in ("/", location):
        html = client.get(url).data.decode()
        assert "<script>alert(1)" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# the catalog pages ---------------------------------------------------------------------------

CATALOG_PAGES = [
    "/catalog/",
    "/catalog/appery/PROJECT_BUILD_IOS_FAIL",
    "/catalog/apitree/plan.subscribed",
    "/catalog/qovery/DEPLOYMENT_STARTED",
    "/catalog/akinon/deployment.build.created",
]


@pytest.mark.parametrize("url", CATALOG_PAGES)
def test_catalog_pages_cite_the_providers_docs_and_no_notes_of_ours(client, url):
    response = client.get(url)
    assert response.status_code == 200
    tree = parse(response.data)
    text = tree.text()
    for internal in ("seed", ".txt", "scraped", "README", "x-source", "[email"):
        assert internal.lower() not in text.lower(), internal
    # code spans in prose are elements, not literal backticks (the schema's own JSON is data)
    prose = [fragment for node, fragment in tree.texts() if node.tag != "pre"]
    assert not [fragment for fragment in prose if "`" in fragment]
    assert "Documentation:" in text


def test_catalog_api_answers_carry_no_notes_of_ours(client):
    """The API and the OpenAPI document cite the providers' documentation, never which copy of
    it the catalog was written from or our research notes."""
    listed = client.get("/api/catalog").get_json()
    answers = [json.dumps(listed), client.get("/api/openapi.json").data.decode()]
    for provider in listed["providers"]:
        for event in provider["events"]:
            found = client.get(f"/api/catalog/{provider['id']}/{event['id']}")
            answers.append(found.data.decode())
    assert len(answers) >= 30  # every shipped event and the two documents
    for answer in answers:
        assert not re.search(r"\d{3}_[0-9a-f]{16}", answer), "a seed file's name"
        for internal in ("seeds", ".txt", "see_also", "README", "scraped"):
            assert internal not in answer, internal
    event = client.get("/api/catalog/appery/PROJECT_BUILD_IOS_FAIL").get_json()
    assert event["source"] == "iOS Binary Build Fail (Event ID: PROJECT_BUILD_IOS_FAIL)"


def test_catalog_links_the_documentation_and_marks_code(client):
    tree = parse(client.get("/catalog/").data)
    links = [a.attrs.get("href") for a in tree.find_all("a") if a.attrs.get("rel")]
    assert "https://docs.appery.io" in links
    assert all(link.startswith("https://") for link in links)
    apitree = tree.find(id="provider-apitree")
    assert "api.created" in [node.text() for node in apitree.find_all("code")]


def test_event_names_wrap_only_after_their_separators(client):
    html = client.get("/catalog/appery/PROJECT_BUILD_ANDROID_SUCCESS").data.decode()
    assert '<h1 class="event-heading">PROJECT_<wbr>BUILD_<wbr>ANDROID_<wbr>SUCCESS</h1>' in html


def test_catalog_prose_escapes_first_and_links_only_https(app):
    from receiver.web.catalog_pages import catalog_prose

    shown = str(catalog_prose("<b>x</b> `a<b>` javascript:alert(1) https://ok.example/p?q=1"))
    assert "<b>" not in shown
    assert "<code>a&lt;b&gt;</code>" in shown
    assert 'href="javascript' not in shown
    assert '<a href="https://ok.example/p" rel="noopener noreferrer">' in shown


# the second hour's smaller defects (issue 18, item 12) -------------------------------------


def test_an_unlabelled_bins_title_names_its_id_once(client, bins):
    bin_id = bins.create()["id"]
    title = parse(client.get(f"/bins/{bin_id}").data).find_all(cls="bin-name")[0]
    assert title.text().count(bin_id) == 1
    assert bin_id in title.find_all("h1")[0].text()


def test_a_labelled_bins_title_has_its_label_and_its_id(client, bins):
    bin_id = bins.create(label="Orders")["id"]
    title = parse(client.get(f"/bins/{bin_id}").data).find_all(cls="bin-name")[0]
    assert title.find_all("h1")[0].text().strip() == "Orders"
    assert title.text().count(bin_id) == 1


ORDER_PAID = {
    "type": "object",
    "required": ["order_id", "amount"],
    "properties": {"order_id": {"type": "string"}, "amount": {"type": "integer", "minimum": 1}},
}


def test_a_schema_error_is_shown_beside_its_line_of_the_body(client, bins):
    client.put("/api/catalog/shop/order.paid", json={"schema": ORDER_PAID})
    bin_id = bins.create(provider="shop", event="order.paid")["id"]
    sent = bins.ingest(
        bin_id,
        body=b'{"order_id": "A-1", "amount": 0, "note": "<b>x</b>"}',
        headers=[("Content-Type", "application/json")],
    )
    request_id = int(sent.headers["X-Receiver-Request-Id"])
    detail = parse(client.get(f"/bins/{bin_id}/requests/{request_id}", headers=HTMX).data)
    body = detail.find(id="detail-body")
    error_lines = body.find_all(cls="line-error")
    assert len(error_lines) == 1
    assert '"amount": 0' in error_lines[0].text()
    notes = error_lines[0].find_all(cls="line-note")
    assert [note.text() for note in notes] == ["✗ 0 is less than the minimum of 1 · minimum"]
    # an undocumented field is a warning, said beside its line too, escaped like the body
    warning_lines = body.find_all(cls="line-warning")
    assert len(warning_lines) == 1 and "<b>x</b>" in warning_lines[0].text()
    assert warning_lines[0].find_all(cls="line-note")
    assert body.find_all("b") == []


def test_a_signatures_failure_reason_is_said_once(client, bins):
    import hashlib
    import hmac

    bin_id = bins.create(signature={"scheme": "hmac-sha256", "secret": "s3cret"})["id"]
    body = b'{"a": 1}'
    digest = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    sent = bins.ingest(bin_id, body=body, headers=[("X-Signature", f"sha256={digest}")])
    request_id = int(sent.headers["X-Receiver-Request-Id"])
    shown = bins.request(bin_id, request_id)["signature"]
    finding = shown["details"]["findings"][0]
    assert finding in shown["reason"]  # the API's reason stands alone
    detail = parse(client.get(f"/bins/{bin_id}/requests/{request_id}", headers=HTMX).data)
    text = " ".join(detail.find(id="signature").text().split())
    assert text.count(" ".join(finding.split())) == 1


def big_json(size: int) -> bytes:
    """A JSON body of at least ``size`` bytes: many small objects, as an export would send."""
    item = {"id": 0, "name": "item", "tags": ["a", "b", "c"], "price": 1.5, "ok": True}
    count = size // len(json.dumps(item)) + 1
    return json.dumps({"items": [dict(item, id=n) for n in range(count)]}).encode()


def test_show_all_on_a_large_body_renders_a_bounded_page_and_offers_the_download(client, bins):
    """Show all on a 5.6 MiB JSON body built a 27 MB page (about 19 s in a browser)."""
    from receiver.web.inspector import SHOW_ALL_MAX

    bin_id = bins.create()["id"]
    body = big_json(5_400_000)
    assert 5.5 < len(body) / 2**20 < 6
    sent = bins.ingest(bin_id, body=body, headers=[("Content-Type", "application/json")])
    request_id = int(sent.headers["X-Receiver-Request-Id"])
    url = f"/bins/{bin_id}/requests/{request_id}"
    head = parse(client.get(url, headers=HTMX).data).find(id="body-view")
    show = [b for b in head.find_all("button") if b.attrs.get("hx-get", "").endswith("body=full")]
    assert show and "first 1.0 MiB" in show[0].text()
    full = client.get(f"{url}?body=full", headers=HTMX)
    assert full.status_code == 200
    # a bound on the page: the shown part (escaped, once) and the page around it
    assert len(full.data) < 2 * SHOW_ALL_MAX + 256 * 1024, len(full.data)
    view = parse(full.data).find(id="body-view")
    words = " ".join(view.text().split())
    assert f"Showing the first 1.0 MiB of {len(body) / 2**20:.1f} MiB" in words
    downloads = [a.attrs["href"] for a in view.find_all("a") if "download" in a.attrs]
    assert downloads == [f"/api/bins/{bin_id}/requests/{request_id}/raw"]


def test_show_all_on_a_body_within_the_bound_shows_it_whole(client, bins):
    bin_id = bins.create()["id"]
    body = big_json(400_000)
    sent = bins.ingest(bin_id, body=body, headers=[("Content-Type", "application/json")])
    request_id = int(sent.headers["X-Receiver-Request-Id"])
    full = client.get(f"/bins/{bin_id}/requests/{request_id}?body=full", headers=HTMX)
    view = parse(full.data).find(id="body-view")
    assert "Showing the first" not in view.text()
    assert view.find_all(cls="json")  # the whole body parses, so it is shown as JSON
