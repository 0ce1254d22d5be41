"""The inspector in a real browser: what a person sees on the home and bin pages.

Chromium (Debian's, through Playwright) talks to the app served by Werkzeug's dev server in a
thread, or by a real gunicorn with three workers; requests are sent from the test with
``http.client`` so paths, repeated headers and bodies arrive exactly as written. Screenshots go to
/tmp/receiver-shots/ for people to look at; nothing asserts on pixels.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from clocks import NEVER_SECONDS
from servers import WAIT_SECONDS
from servers import free_port

from receiver.web.services import services

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
expect = sync_api.expect

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.system,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"browser tests need Chromium at {CHROMIUM} (Debian package 'chromium')",
    ),
]

# rows show up without a reload: the list polls every 2 s, so a list that works shows them within
# a few seconds even on a busy machine, and one that does not poll never does
LIVE_WITHIN_MS = NEVER_SECONDS * 1000
ROWS = "#request-rows .request-row-item"
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}

# every row id the page shows, with the moment (browser clock, ms) it first appeared
RECORD_ARRIVALS = """
() => {
  window.__arrivals = {};
  const record = () => {
    document.querySelectorAll("#request-rows .request-row-item").forEach((item) => {
      if (!(item.id in window.__arrivals)) { window.__arrivals[item.id] = Date.now(); }
    });
  };
  record();
  new MutationObserver(record).observe(document.body, {childList: true, subtree: true});
  window.__still_here = "no reload happened";
}
"""


@dataclass
class Sent:
    """A request sent into a bin, and how the bin answered."""

    id: int
    status: int
    body: bytes
    headers: list[tuple[str, str]]
    sent_ms: float


def send(
    base: str,
    bin_id: str,
    *,
    method: str = "POST",
    path: str = "",
    query: str = "",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> Sent:
    """Send one request over a new connection, exactly as written (raw path, repeated headers)."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    target = f"/b/{bin_id}{path}" + (f"?{query}" if query else "")
    sent_ms = time.time() * 1000
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers or []:
            connection.putheader(name, value)
        if body or method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    assert response.status < 500, data
    request_id = int(response.getheader("X-Receiver-Request-Id") or 0)
    return Sent(request_id, response.status, data, response.getheaders(), sent_ms)


def create_bin(base: str, **fields: Any) -> str:
    """A public bin made through the JSON API; its id."""
    response = httpx.post(f"{base}/api/bins", json=fields, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def row_ids(page: Any) -> list[int]:
    """The request ids of the listed rows, top to bottom."""
    ids = page.eval_on_selector_all(ROWS, "items => items.map((item) => item.id)")
    return [int(value.removeprefix("row-")) for value in ids]


def expect_rows(page: Any, ids: list[int], timeout: float = WAIT_SECONDS * 1000) -> None:
    """Wait until the list shows exactly these request ids, top to bottom."""
    try:
        page.wait_for_function(
            "([selector, ids]) => JSON.stringify([...document.querySelectorAll(selector)]"
            ".map((item) => item.id)) === JSON.stringify(ids)",
            arg=[ROWS, [f"row-{value}" for value in ids]],
            timeout=timeout,
        )
    except sync_api.TimeoutError:
        pass
    assert row_ids(page) == ids


def wait_for_rows(page: Any, *sent: Sent) -> dict[int, float]:
    """Wait for the rows of ``sent``; for each, the ms between its sending and its row showing.

    Needs RECORD_ARRIVALS installed; a row that never showed counts as an infinite delay.
    """
    latest = max(item.sent_ms for item in sent)
    selector = ", ".join(f"#row-{item.id}" for item in sent)
    deadline = latest + LIVE_WITHIN_MS + 1000
    while page.locator(selector).count() < len(sent) and time.time() * 1000 < deadline:
        page.wait_for_timeout(50)
    arrivals = page.evaluate("() => window.__arrivals")
    return {item.id: arrivals.get(f"row-{item.id}", float("inf")) - item.sent_ms for item in sent}


def assert_live(delays: dict[int, float]) -> None:
    """Every row showed up within LIVE_WITHIN_MS of its request being sent."""
    assert all(delay <= LIVE_WITHIN_MS for delay in delays.values()), delays


def pairs(page: Any, selector: str) -> list[tuple[str, str]]:
    """The (name, value) rows of a pairs table, as displayed."""
    return [
        tuple(row)
        for row in page.eval_on_selector_all(
            f"{selector} table.pairs tr",
            "rows => rows.map((r) => [r.querySelector('th').textContent,"
            " r.querySelector('td').textContent])",
        )
    ]


def assert_clean(log: Any) -> None:
    """No CSP violation, no uncaught error and no console error on our own pages."""
    assert log.csp_violations() == []
    assert log.errors == []
    assert log.console_errors() == []


def backend(request: pytest.FixtureRequest) -> str:
    return request.node.callspec.params.get("database_url", "db")


def test_home_creates_bin_and_copies_its_ingest_url(
    live_server: str, new_page: Any, shots_dir: Path, request: pytest.FixtureRequest
) -> None:
    page, log = new_page(viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    page.goto(live_server + "/")
    expect(page.locator("#recent-bins")).to_contain_text("Bins you create in this browser")

    # one primary action; the label and the readable id are options behind it
    page.click("summary:has-text('Options')")
    page.fill("#label", "Appery iOS builds")
    page.fill("#bin-id", "appery-dev")
    page.click("button:has-text('Create a bin')")

    expect(page).to_have_url(f"{live_server}/bins/appery-dev")
    expect(page.locator("h1")).to_have_text("Appery iOS builds")
    ingest = f"{live_server}/b/appery-dev"
    expect(page.locator("#ingest-url")).to_have_value(ingest)

    copy = page.locator("button[data-copy-target='ingest-url']")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == ingest

    # the browser remembers its bin on the home page
    page.goto(live_server + "/")
    expect(page.locator("#recent-bins")).to_contain_text("Appery iOS builds")
    expect(page.locator("#recent-bins")).to_contain_text("0 requests")
    page.screenshot(path=str(shots_dir / f"home-{backend(request)}.png"), full_page=True)
    assert_clean(log)


def test_live_list_shows_new_requests_newest_first_without_reload(
    live_server: str, new_page: Any
) -> None:
    bin_id = create_bin(live_server, label="live")
    page, log = new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/bins/{bin_id}")
    expect(page.locator(".empty-state")).to_be_visible()
    page.evaluate(RECORD_ARRIVALS)

    first = send(live_server, bin_id, path="/hooks/1", body=b'{"n": 1}')
    assert_live(wait_for_rows(page, first))
    second = send(live_server, bin_id, method="PUT", path="/hooks/2", body=b"x" * 2048)
    third = send(live_server, bin_id, method="DELETE", path="/hooks/3")
    assert_live(wait_for_rows(page, second, third))
    assert row_ids(page) == [third.id, second.id, first.id]
    assert page.evaluate("() => window.__still_here") == "no reload happened"
    expect(page.locator(".empty-state")).to_be_hidden()

    for item, method, path, size in (
        (first, "POST", "/hooks/1", "8 B"),
        (second, "PUT", "/hooks/2", "2.0 KiB"),
        (third, "DELETE", "/hooks/3", "0 B"),
    ):
        row = page.locator(f"#row-{item.id}")
        expect(row.locator(".method")).to_have_text(method)
        expect(row.locator(".row-path")).to_have_text(path)
        expect(row.locator(".row-size")).to_have_text(size)
        # arrivals flash once
        expect(row).to_have_class(re.compile(r"\barrived\b"))
    assert_clean(log)


def test_live_list_follows_requests_served_by_several_gunicorn_workers(
    gunicorn_server: str, new_page: Any
) -> None:
    bin_id = create_bin(gunicorn_server, label="gunicorn")
    page, log = new_page(viewport=DESKTOP)
    page.goto(f"{gunicorn_server}/bins/{bin_id}")
    page.evaluate(RECORD_ARRIVALS)

    sent: list[Sent] = []
    for number in range(6):
        sent.append(send(gunicorn_server, bin_id, path=f"/worker/{number}", body=b"{}"))
        page.wait_for_timeout(600)
    assert_live(wait_for_rows(page, *sent))
    assert row_ids(page) == [item.id for item in reversed(sent)]
    assert page.evaluate("() => window.__still_here") == "no reload happened"
    assert_clean(log)


def test_detail_pane_shows_request_and_its_url_reloads_to_the_same_detail(
    live_server: str, new_page: Any, shots_dir: Path, request: pytest.FixtureRequest
) -> None:
    bin_id = create_bin(live_server, label="Orders from the shop")
    send(live_server, bin_id, method="GET", path="/ping", query="probe=1")
    send(
        live_server,
        bin_id,
        path="/form",
        headers=[("Content-Type", "application/x-www-form-urlencoded")],
        body=b"name=Ada&lang=en",
    )
    payload = {"order": {"id": 42, "items": ["tea", "scones"]}, "note": "naïve café"}
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = [
        ("X-Dup", "first"),
        ("Content-Type", "application/json"),
        ("X-Trace", "t-1"),
        ("X-Dup", "second"),
    ]
    query = "a=1&b=two&a=3&empty="
    chosen = send(live_server, bin_id, path="/orders", query=query, headers=headers, body=body)
    host = urlsplit(live_server).netloc

    page, log = new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/bins/{bin_id}")
    page.evaluate(RECORD_ARRIVALS)
    page.click(f"#row-{chosen.id} a.request-row")

    def check_detail() -> None:
        detail = page.locator("#request-detail")
        expect(detail.locator(".detail-title .method")).to_have_text("POST")
        expect(detail.locator(".detail-url")).to_have_text(
            f"{live_server}/b/{bin_id}/orders?{query}"
        )
        assert pairs(page, "#request-detail .detail-section:has(h2:text('Headers'))") == [
            ("Host", host),
            *headers,
            ("Content-Length", str(len(body))),
        ]
        assert pairs(page, "#request-detail .detail-section:has(h2:text('Query'))") == [
            ("a", "1"),
            ("b", "two"),
            ("a", "3"),
            ("empty", ""),
        ]
        expect(detail.locator("pre.raw-query")).to_have_text(query)
        pretty = detail.locator("#body-view pre.json")
        expect(pretty).to_be_visible()
        expected = json.dumps(payload, indent=2, ensure_ascii=False)
        assert pretty.text_content().rstrip("\n") == expected

    check_detail()
    expect(page).to_have_url(f"{live_server}/bins/{bin_id}?request={chosen.id}")
    assert page.evaluate("() => window.__still_here") == "no reload happened"
    expect(page.locator(f"#row-{chosen.id}")).to_have_class(re.compile(r"\bselected\b"))

    # the pushed URL is a full page showing the same detail
    response = page.reload()
    assert response is not None and response.status == 200
    assert response.text().lstrip().lower().startswith("<!doctype html>")
    assert page.evaluate("() => window.__still_here") is None
    check_detail()
    expect(page.locator(f"#row-{chosen.id}")).to_have_class(re.compile(r"\bselected\b"))
    page.screenshot(path=str(shots_dir / f"bin-desktop-{backend(request)}.png"), full_page=True)

    # back to the bin without a selection
    page.go_back()
    expect(page).to_have_url(f"{live_server}/bins/{bin_id}")
    expect(page.locator("#request-detail")).to_contain_text("Select a request")
    assert len(row_ids(page)) == 3
    assert_clean(log)


def test_method_filter_narrows_the_list_and_the_live_rows(live_server: str, new_page: Any) -> None:
    bin_id = create_bin(live_server)
    alpha = send(live_server, bin_id, method="GET", path="/alpha")
    beta = send(live_server, bin_id, path="/beta", body=b"{}")
    gamma = send(live_server, bin_id, method="PUT", path="/gamma", body=b"plain")

    page, log = new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/bins/{bin_id}")
    expect_rows(page, [gamma.id, beta.id, alpha.id])

    page.select_option("select[name=method]", "POST")
    expect_rows(page, [beta.id])

    # the poller keeps the filter: a new GET stays out, a new POST comes in
    page.evaluate(RECORD_ARRIVALS)
    delta = send(live_server, bin_id, method="GET", path="/delta")
    epsilon = send(live_server, bin_id, path="/epsilon", body=b"{}")
    assert_live(wait_for_rows(page, epsilon))
    assert row_ids(page) == [epsilon.id, beta.id]

    page.select_option("select[name=method]", "")
    expect_rows(page, [epsilon.id, delta.id, gamma.id, beta.id, alpha.id])
    assert_clean(log)


def test_search_narrows_the_list_and_clearing_it_restores_the_rows(
    live_server: str, new_page: Any, request: pytest.FixtureRequest
) -> None:
    bin_id = create_bin(live_server)
    alpha = send(live_server, bin_id, method="GET", path="/alpha")
    beta = send(live_server, bin_id, path="/beta", body=b"has needle-7f3a inside")
    gamma = send(live_server, bin_id, method="PUT", path="/gamma", body=b"plain")
    everything = [gamma.id, beta.id, alpha.id]

    page, log = new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/bins/{bin_id}")
    expect_rows(page, everything)

    page.fill("#filter-q", "needle-7f3a")  # in the body only
    expect_rows(page, [beta.id])
    page.fill("#filter-q", "GAMMA")  # in the path, any case
    expect_rows(page, [gamma.id])
    page.fill("#filter-q", "nothing-matches-this")
    expect_rows(page, [])
    expect(page.locator(".empty-state")).to_contain_text("No request matches these filters")

    page.fill("#filter-q", "")
    expect_rows(page, everything)
    assert_clean(log)


HOSTILE_BODY = (
    '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    '<div hx-get="/api/bins" hx-trigger="load" id="evil">x</div>'
)
HOSTILE_PATH = "/<svg/onload=window.__pwned=3>"
HOSTILE_QUERY = "q=<b>bold</b>"
HOSTILE_HEADER = '<img src=x onerror="window.__pwned=4"><div hx-get="/api/bins" hx-trigger="load">'
HOSTILE_JSON = {
    "html": '<img src=x onerror="window.__pwned=5">',
    "script": "<script>window.__pwned=6</script>",
    "htmx": '<div hx-get="/api/bins" hx-trigger="load" id="evil-json">y</div>',
}
INJECTED = "#evil, #evil-json, img[src='x'], svg, #request-rows b, #request-detail script"


def test_hostile_content_is_shown_as_text_and_never_runs(live_server: str, new_page: Any) -> None:
    bin_id = create_bin(live_server)
    markup = send(
        live_server,
        bin_id,
        path=HOSTILE_PATH,
        query=HOSTILE_QUERY,
        headers=[("Content-Type", "text/html"), ("X-Evil", HOSTILE_HEADER)],
        body=HOSTILE_BODY.encode(),
    )
    as_json = send(
        live_server,
        bin_id,
        path="/json" + HOSTILE_PATH,
        headers=[("Content-Type", "application/json")],
        body=json.dumps(HOSTILE_JSON).encode(),
    )

    page, log = new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/bins/{bin_id}")
    expect(page.locator(f"#row-{markup.id} .row-path")).to_have_text(
        f"{HOSTILE_PATH}?{HOSTILE_QUERY}"
    )

    def check_markup_detail() -> None:
        detail = page.locator("#request-detail")
        expect(detail.locator(".detail-url")).to_contain_text(f"{HOSTILE_PATH}?{HOSTILE_QUERY}")
        expect(detail.locator("#body-view pre.code")).to_have_text(HOSTILE_BODY)
        assert ("X-Evil", HOSTILE_HEADER) in pairs(
            page, "#request-detail .detail-section:has(h2:text('Headers'))"
        )
        assert ("q", "<b>bold</b>") in pairs(
            page, "#request-detail .detail-section:has(h2:text('Query'))"
        )

    def check_json_detail() -> None:
        pretty = page.locator("#request-detail #body-view pre.json")
        expect(pretty).to_be_visible()
        assert pretty.text_content().rstrip("\n") == json.dumps(HOSTILE_JSON, indent=2)

    page.click(f"#row-{markup.id} a.request-row")
    check_markup_detail()
    page.click(f"#row-{as_json.id} a.request-row")
    check_json_detail()
    # and as full pages, rendered by the server
    page.goto(f"{live_server}/bins/{bin_id}?request={markup.id}")
    check_markup_detail()
    page.goto(f"{live_server}/bins/{bin_id}?request={as_json.id}")
    check_json_detail()
    page.wait_for_timeout(300)  # time for any load trigger to fire, if one were live

    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert page.locator(INJECTED).count() == 0
    assert [url for url in log.requests if "/api/" in url or url.endswith("/x")] == []
    assert_clean(log)


def test_delete_request_from_the_detail_pane_removes_its_row(
    live_server: str, new_page: Any
) -> None:
    bin_id = create_bin(live_server)
    kept = send(live_server, bin_id, path="/kept")
    doomed = send(live_server, bin_id, path="/doomed")

    page, log = new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/bins/{bin_id}")
    page.click(f"#row-{doomed.id} a.request-row")
    expect(page.locator("#request-detail .detail-url")).to_contain_text("/doomed")
    page.click("#request-detail .detail-actions button:has-text('Delete')")

    expect(page.locator(f"#row-{doomed.id}")).to_have_count(0)
    expect(page.locator("#request-detail")).to_contain_text(f"Request {doomed.id} deleted")
    assert row_ids(page) == [kept.id]
    assert log.dialogs == ["Delete this request?"]
    gone = httpx.get(f"{live_server}/api/bins/{bin_id}/requests/{doomed.id}", timeout=10)
    assert gone.status_code == 404
    assert_clean(log)


def test_clear_requests_empties_the_list_which_keeps_listening(
    live_server: str, new_page: Any
) -> None:
    bin_id = create_bin(live_server)
    send(live_server, bin_id, path="/one")
    send(live_server, bin_id, path="/two")

    page, log = new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/bins/{bin_id}")
    expect(page.locator(ROWS)).to_have_count(2)
    page.click(".bin-actions button:has-text('Clear')")
    expect_rows(page, [])
    expect(page.locator(".empty-state")).to_be_visible()
    assert log.dialogs == ["Delete every request in this bin?"]
    listed = httpx.get(f"{live_server}/api/bins/{bin_id}/requests", timeout=10).json()
    assert listed["requests"] == []

    page.evaluate(RECORD_ARRIVALS)
    fresh = send(live_server, bin_id, path="/after-clear")
    assert_live(wait_for_rows(page, fresh))
    assert row_ids(page) == [fresh.id]
    assert_clean(log)


def test_custom_response_form_changes_what_ingest_answers(live_server: str, new_page: Any) -> None:
    bin_id = create_bin(live_server)
    page, log = new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/bins/{bin_id}")
    page.click(".bin-actions button:has-text('Settings')")
    page.fill("#response-status", "418")
    page.fill("#response-headers", "X-Teapot: short and stout")
    page.fill("#response-body", "I'm a teapot <b>not HTML</b>")
    page.click("#bin-settings button[type=submit]")
    expect(page.locator("#bin-settings [role=status]")).to_contain_text("Saved")

    answered = send(live_server, bin_id, path="/brew", body=b"{}")
    assert answered.status == 418
    assert answered.body == b"I'm a teapot <b>not HTML</b>"
    assert ("X-Teapot", "short and stout") in answered.headers

    page.reload()
    expect(page.locator("#response-status")).to_have_value("418")
    expect(page.locator("#response-body")).to_have_value("I'm a teapot <b>not HTML</b>")
    expect(page.locator(f"#row-{answered.id}")).to_be_attached()
    assert_clean(log)


SCROLL_WIDTH = "() => document.documentElement.scrollWidth"
SETTLED = "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"


def send_long_request(base: str, bin_id: str) -> Sent:
    """A request whose path, query, header and body have long unbroken runs."""
    long_path = "/" + "/".join(["a-really-long-path-segment"] * 6) + "/" + "x" * 160
    long_query = "token=" + "y" * 150 + "&next=" + "z" * 80
    return send(
        base,
        bin_id,
        path=long_path,
        query=long_query,
        headers=[("Content-Type", "application/json"), ("X-Long", "v" * 300)],
        body=json.dumps({"unbroken": "w" * 400, "nested": {"deeper": ["q" * 200]}}).encode(),
    )


def test_phone_viewport_has_no_horizontal_scroll_with_a_long_path(
    live_server: str, new_page: Any, shots_dir: Path, request: pytest.FixtureRequest
) -> None:
    bin_id = create_bin(live_server, label="a label long enough to need wrapping on a phone screen")
    send_long_request(live_server, bin_id)
    page, log = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto(live_server + "/")
    assert page.evaluate(SCROLL_WIDTH) <= PHONE["width"] + 1

    page.goto(f"{live_server}/bins/{bin_id}")
    expect(page.locator(ROWS)).to_have_count(1)
    widths = {"list": page.evaluate(SCROLL_WIDTH)}
    page.locator(f"{ROWS} a.request-row").click()
    expect(page.locator("#request-detail .detail-url")).to_contain_text("x" * 160)
    page.wait_for_function(SETTLED)
    widths["detail"] = page.evaluate(SCROLL_WIDTH)
    page.click("summary:has-text('Try it with curl')")
    widths["curl"] = page.evaluate(SCROLL_WIDTH)
    page.click(".bin-actions button:has-text('Settings')")
    expect(page.locator("#settings-drawer")).to_be_visible()
    widths["settings"] = page.evaluate(SCROLL_WIDTH)
    # the picture first, so that a layout failure can be seen too
    page.screenshot(path=str(shots_dir / f"bin-phone-{backend(request)}.png"), full_page=True)
    assert all(width <= PHONE["width"] + 1 for width in widths.values()), widths
    assert_clean(log)


def test_phone_page_stays_narrow_while_the_detail_swaps_in(live_server: str, new_page: Any) -> None:
    bin_id = create_bin(live_server)
    send_long_request(live_server, bin_id)
    page, log = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto(f"{live_server}/bins/{bin_id}")
    # measured right after the swap, before htmx settles the new element's attributes
    page.evaluate(
        """() => {
          window.__widest = 0;
          document.addEventListener("htmx:afterSwap", () => {
            window.__widest = Math.max(window.__widest, document.documentElement.scrollWidth);
          });
        }"""
    )
    page.locator(f"{ROWS} a.request-row").click()
    expect(page.locator("#request-detail .detail-url")).to_contain_text("x" * 160)
    page.wait_for_function(SETTLED)
    assert page.evaluate("() => window.__widest") <= PHONE["width"] + 1
    assert_clean(log)


def test_replay_with_edits_from_the_detail_pane_reaches_the_target(
    live_server: str, new_page: Any, httpserver: Any
) -> None:
    """The edit box sits inside hx-disable (captured text), and its values must still be sent."""
    httpserver.expect_request("/hooks/x").respond_with_data("thanks", status=202)
    bin_id = create_bin(live_server)
    sent = send(
        live_server,
        bin_id,
        path="/x",
        headers=[("Content-Type", "application/json")],
        body=b'{"a": 1}',
    )

    page, log = new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/bins/{bin_id}")
    page.click(f"#row-{sent.id} a.request-row")
    page.fill("#replay-panel input[name=url]", httpserver.url_for("/hooks"))
    # what is edited is what is sent: no separate switch to tick
    page.select_option("#replay-panel select[name=method]", "PUT")
    page.click("#replay-panel details.replay-edits summary")
    page.fill(
        "#replay-panel textarea[name=headers]", "Content-Type: application/json\nX-Edited: yes"
    )
    page.fill("#replay-panel textarea[name=body]", '{"a": 2}')
    page.click("#replay-panel button[type=submit]")

    expect(page.locator("#replay-panel .replay-history")).to_contain_text("202")
    (received, _), *_ = httpserver.log
    assert received.method == "PUT"
    assert received.get_data() == b'{"a": 2}'
    # the form keeps what was sent, the method included
    expect(page.locator("#replay-panel select[name=method]")).to_have_value("PUT")
    assert received.headers["X-Edited"] == "yes"
    assert_clean(log)


# the first hour's breakage, in the browser (issue 8) ---------------------------------------


def test_delete_bin_lands_on_the_home_page(live_server: str, new_page: Any) -> None:
    """htmx gets HX-Redirect on a 200, so the browser goes home instead of drawing the home
    page inside the Delete button."""
    bin_id = create_bin(live_server, label="doomed bin")
    page, log = new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/bins/{bin_id}")
    # the panels that load themselves have loaded (one asking after the delete would get a 404)
    expect(page.get_by_text("Loading…")).to_have_count(0)
    page.click(".bin-actions button:has-text('Delete bin')")
    expect(page).to_have_url(f"{live_server}/")
    expect(page.locator("h1")).to_have_text("Catch a webhook")
    assert page.locator(".site-header").count() == 1
    assert log.dialogs == ["Delete this bin and all its requests?"]
    gone = httpx.get(f"{live_server}/api/bins/{bin_id}", timeout=10)
    assert gone.status_code == 404
    assert_clean(log)


def test_a_private_bins_share_link_opens_it_in_a_fresh_browser(
    live_server: str, new_page: Any
) -> None:
    made = httpx.post(f"{live_server}/api/bins", json={"private": True}, timeout=10).json()
    bin_id = made["id"]
    sent = send(live_server, bin_id, path="/secret", body=b"{}")

    stranger, stranger_log = new_page(viewport=DESKTOP)
    assert stranger.goto(f"{live_server}/bins/{bin_id}").status == 404

    page, log = new_page(viewport=DESKTOP)
    page.goto(made["inspect_url"])
    expect(page).to_have_url(f"{live_server}/bins/{bin_id}")  # the token leaves the address bar
    expect(page.locator(f"#row-{sent.id}")).to_be_attached()
    # the browser keeps the bin through its cookie, read-only, and shows its token for the API
    page.goto(f"{live_server}/bins/{bin_id}")
    page.click(".bin-actions button:has-text('Access')")
    token = page.locator("#bin-token").input_value()
    assert token != made["token"]  # the share link's own token, not the owner's
    listed = httpx.get(
        f"{live_server}/api/bins/{bin_id}/requests",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert [item["id"] for item in listed.json()["requests"]] == [sent.id]

    # the owner's token typed in makes this browser the owner
    page.fill("#owner-token", made["token"])
    page.click("#bin-access button:has-text('Open as owner')")
    expect(page.locator(".bin-actions button:has-text('Delete bin')")).to_be_visible()
    page.click(".bin-actions button:has-text('Settings')")
    assert page.locator("#bin-token").input_value() == made["token"]

    # a new token revokes the link given out before; this browser keeps the bin
    page.click("#bin-access button:has-text('Regenerate token')")
    expect(page.locator("#bin-access [role=status]")).to_contain_text("New tokens")
    assert page.locator("#bin-token").input_value() != made["token"]
    late, _ = new_page(viewport=DESKTOP)
    assert late.goto(made["inspect_url"]).status == 404
    page.reload()
    expect(page.locator(f"#row-{sent.id}")).to_be_attached()
    # a poll sent with the old token while the new one was being made is refused (404): the
    # only console errors allowed here
    assert [m for m in log.console_errors() if "requests/poll" not in m] == []
    assert log.errors == [] and log.csp_violations() == []


def test_filters_survive_a_reload_and_travel_in_the_address(
    live_server: str, new_page: Any
) -> None:
    bin_id = create_bin(live_server)
    wanted = send(live_server, bin_id, method="PUT", path="/orders", query="who=ada%20lovelace")
    send(live_server, bin_id, method="PUT", path="/orders", query="who=grace")
    send(live_server, bin_id, method="POST", path="/orders", query="who=ada%20lovelace")

    page, log = new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/bins/{bin_id}")
    expect(page.locator(ROWS)).to_have_count(3)
    page.select_option("#request-filters select[name=method]", "PUT")
    page.fill("#filter-q", "ada lovelace")  # decoded text finds the encoded query
    expect_rows(page, [wanted.id])
    expect(page).to_have_url(re.compile(r"method=PUT.*q=ada\+lovelace|q=ada\+lovelace.*method=PUT"))
    # the scenario panel follows the filter: it replays what the list shows
    expect(page.locator("#scenario-panel")).to_contain_text("method: PUT")

    page.reload()
    expect(page.locator("#filter-q")).to_have_value("ada lovelace")
    expect(page.locator("#request-filters select[name=method]")).to_have_value("PUT")
    expect_rows(page, [wanted.id])
    # a row's link keeps the filters, so that the detail's way back is the filtered list
    href = page.locator(f"#row-{wanted.id} a.request-row").get_attribute("href") or ""
    assert "method=PUT" in href and "q=ada" in href
    assert_clean(log)


def test_keyboard_moves_the_selection_and_opens_the_request(
    live_server: str, new_page: Any
) -> None:
    bin_id = create_bin(live_server)
    oldest, middle, newest = (send(live_server, bin_id, path=f"/k/{n}") for n in range(3))
    page, log = new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/bins/{bin_id}")
    expect(page.locator(ROWS)).to_have_count(3)

    def cursor() -> str:
        return page.eval_on_selector(".request-row-item.cursor", "item => item.id")

    page.keyboard.press("j")
    assert cursor() == f"row-{newest.id}"
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert cursor() == f"row-{oldest.id}"
    page.keyboard.press("k")
    assert cursor() == f"row-{middle.id}"
    page.keyboard.press("Enter")
    expect(page.locator("#request-detail .detail-url")).to_contain_text("/k/1")
    expect(page.locator(f"#row-{middle.id}")).to_have_class(re.compile(r"\bselected\b"))

    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement.id") == "filter-q"
    page.keyboard.press("Escape")
    assert page.evaluate("() => document.activeElement.id") != "filter-q"
    page.keyboard.press("?")
    expect(page.locator("#keys-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#keys-dialog")).to_be_hidden()
    page.keyboard.press("Escape")  # closes the request: back to the list
    expect(page.locator("#request-detail.detail-filled")).to_have_count(0)
    assert_clean(log)


def test_on_a_phone_the_detail_is_a_view_and_back_returns_to_the_row(
    live_server: str, new_page: Any
) -> None:
    bin_id = create_bin(live_server)
    sent = [send(live_server, bin_id, path=f"/p/{n}") for n in range(30)]
    page, log = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto(f"{live_server}/bins/{bin_id}")
    target = page.locator(f"#row-{sent[5].id}")  # far down the list: newest first
    target.scroll_into_view_if_needed()
    target.locator("a.request-row").click()
    expect(page.locator("#request-detail .detail-url")).to_contain_text("/p/5")
    expect(page.locator(".list-panel")).to_be_hidden()

    page.click("#request-detail [data-back]")
    expect(page.locator(".list-panel")).to_be_visible()
    expect(target).to_be_in_viewport()
    assert page.evaluate(SCROLL_WIDTH) <= PHONE["width"] + 1
    assert_clean(log)


@pytest.mark.parametrize(
    ("name", "viewport", "scheme"),
    [
        ("desktop", {"width": 1400, "height": 900}, "light"),
        ("phone", {"width": 390, "height": 844}, "dark"),
    ],
)
def test_a_scenario_run_shows_its_failed_sends_and_the_form_keeps_what_was_chosen(
    app: Any,
    live_server: str,
    new_page: Any,
    shots_dir: Path,
    request: pytest.FixtureRequest,
    name: str,
    viewport: dict[str, int],
    scheme: str,
) -> None:
    services(app).scenarios.start()  # what a serving process runs (closed with the app)
    bin_id = create_bin(live_server, label="scenarios")
    send(live_server, bin_id, path="/one", body=b"{}")
    refused = f"http://127.0.0.1:{free_port()}/hooks"
    page, log = new_page(viewport=viewport, color_scheme=scheme)
    page.goto(f"{live_server}/bins/{bin_id}")

    panel = page.locator("#scenario-panel")
    panel.locator("input[name=url]").fill(refused)
    panel.locator("input[name=timing][value=interval]").check()
    panel.locator("input[name=interval_ms]").fill("100")
    panel.locator("button[type=submit]").click()

    # the only send was refused: the run says so, and the form is still "every 100 ms"
    expect(page.locator("#scenario-panel .scenario-progress")).to_contain_text(
        "1 of 1 sent, 1 failed"
    )
    expect(page.locator("#scenario-panel .scenario-progress p .badge")).to_have_text("done")
    expect(page.locator("#scenario-panel input[name=timing][value=interval]")).to_be_checked()
    expect(page.locator("#scenario-panel input[name=interval_ms]")).to_have_value("100")
    expect(page.locator("#scenario-panel input[name=url]")).to_have_value(refused)
    page.locator("#scenario-panel").screenshot(
        path=str(shots_dir / f"scenario-run-{name}-{scheme}-{backend(request)}.png")
    )
    # listed among the earlier runs once the page is loaded again
    page.reload()
    earlier = page.locator("#scenario-panel .scenario-history li").first
    expect(earlier).to_contain_text("1/1 sent, 1 failed")
    expect(earlier.locator(".badge")).to_have_class(re.compile(r"\bbadge-invalid\b"))
    page.locator("#scenario-panel").screenshot(
        path=str(shots_dir / f"scenario-history-{name}-{scheme}-{backend(request)}.png")
    )
    assert_clean(log)
