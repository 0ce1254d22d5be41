"""The inspector's second hour in a real browser (issue 18): tables on narrow screens, read-only
share links, forwarding in the settings drawer, following the newest request, comparing two
captures, and the detail pane's smaller defects.

The setup is test_browser.py's (Chromium through Playwright, the app on Werkzeug's dev server in
a thread). Screenshots go to /tmp/receiver-shots/ with an ``inspector-`` prefix, at both widths,
light and dark, for people to look at; nothing asserts on pixels.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import free_port
from test_browser import CHROMIUM
from test_browser import PHONE
from test_browser import SCROLL_WIDTH
from test_browser import SETTLED
from test_browser import assert_clean
from test_browser import create_bin
from test_browser import send

from receiver.delivery.forwarding import ForwardPolicy
from receiver.delivery.forwarding import forward_due
from receiver.storage.db import db

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
expect = sync_api.expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.system,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"browser tests need Chromium at {CHROMIUM} (Debian package 'chromium')",
    ),
]

WIDE = {"width": 1400, "height": 900}
TABLET = {"width": 768, "height": 1024}
SCHEMES = ("light", "dark")

# for each name cell of the detail's tables: its text, rendered width and how many lines it takes
NAME_CELLS = """
(root) => [...document.querySelectorAll(root + " table.pairs th")]
  .filter((cell) => cell.offsetParent !== null)
  .map((cell) => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    const lines = new Set([...range.getClientRects()].map((box) => Math.round(box.top)));
    return {name: cell.textContent, width: cell.getBoundingClientRect().width, lines: lines.size};
  })
"""


def shoot(target: Any, shots_dir: Path, name: str, *, full_page: bool = True) -> None:
    """A screenshot of a page (whole) or an element, in the scheme the page emulates.

    ``caret="initial"``: hiding the caret makes Playwright write a ``style`` attribute on the
    inputs, which htmx's settling then copies, and the page's CSP refuses.
    """
    options = {"full_page": full_page} if full_page else {}
    target.screenshot(path=str(shots_dir / f"inspector-{name}.png"), caret="initial", **options)


def shoot_schemes(
    page: Any, shots_dir: Path, name: str, *, target: Any = None, full_page: bool = True
) -> None:
    """``shoot`` the page (or ``target``, an element of it) in the light and the dark scheme."""
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        shoot(target or page, shots_dir, f"{name}-{scheme}", full_page=full_page)


def open_request(page: Any, base: str, bin_id: str, request_id: int) -> None:
    """Open a request's detail from the list, and wait for the swap to settle."""
    page.goto(f"{base}/bins/{bin_id}")
    page.locator(f"#row-{request_id} a.request-row").click()
    expect(page.locator(f"#request-detail[data-request-id='{request_id}']")).to_be_visible()
    page.wait_for_function(SETTLED)


# 1. header and query names keep their width on phones and tablets ---------------------------


@pytest.mark.parametrize("viewport", [PHONE, TABLET], ids=["390px", "768px"])
def test_header_and_query_names_are_readable_on_narrow_screens(
    live_server: str, new_page: Any, shots_dir: Path, viewport: dict[str, int]
) -> None:
    bin_id = create_bin(live_server, label="narrow tables")
    long_value = "v" * 400  # an unbroken value: what squeezed the name column to one letter
    sent = send(
        live_server,
        bin_id,
        path="/orders",
        query=f"token={'t' * 300}&page=2",
        headers=[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Long", long_value),
            ("X-Receiver-Trace-Identifier", "abc"),
        ],
        body=f"name=Ada&blob={'b' * 300}".encode(),
    )
    page, log = new_page(viewport=viewport, is_mobile=viewport is PHONE, has_touch=True)
    open_request(page, live_server, bin_id, sent.id)

    cells = page.evaluate(NAME_CELLS, "#request-detail")
    names = {cell["name"] for cell in cells}
    assert {"Host", "X-Long", "token", "page", "name", "blob"} <= names, names
    shoot_schemes(page, shots_dir, f"tables-{viewport['width']}")
    for cell in cells:
        if cell["name"] in ("Host", "X-Long", "token", "page", "name", "blob"):
            # a short name is on one line, and its column is wider than a few letters
            assert cell["lines"] == 1, cell
            assert cell["width"] >= 48, cell
    assert page.evaluate(SCROLL_WIDTH) <= viewport["width"] + 1
    assert_clean(log)


# 7. a share link is read-only; the owner keeps control ----------------------------------------


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1400px", "390px"])
def test_a_share_link_opens_the_bin_read_only_and_its_owner_keeps_control(
    live_server: str, new_page: Any, shots_dir: Path, httpserver: Any, viewport: dict[str, int]
) -> None:
    httpserver.expect_request("/mine/hook").respond_with_data("got it", status=202)
    narrow = viewport is PHONE
    owner, owner_log = new_page(viewport=viewport, is_mobile=narrow, has_touch=narrow)
    owner.goto(live_server + "/")
    owner.click("summary:has-text('Options')")
    owner.fill("#label", "Shared with the team")
    owner.check("input[name=private]")
    owner.click("button:has-text('Create a bin')")
    bin_id = owner.url.rsplit("/", 1)[1]
    owner_token = httpx.get(  # the owner's browser holds the owner's token in its cookie
        f"{live_server}/api/bins/{bin_id}",
        cookies={c["name"]: c["value"] for c in owner.context.cookies()},
        timeout=10,
    ).json()["token"]
    httpx.patch(
        f"{live_server}/api/bins/{bin_id}",
        json={"signature": {"scheme": "hmac-sha256", "secret": "s3cret"}},
        headers={"Authorization": f"Bearer {owner_token}"},
        timeout=10,
    )
    sent = send(live_server, bin_id, path="/hook", body=b'{"order": 1}')
    owner.click(".bin-actions button:has-text('Settings')")
    owner.locator("#bin-access").scroll_into_view_if_needed()
    share = owner.locator("#share-link").input_value()
    assert owner.locator("#bin-token").input_value() == owner_token != share.rsplit("/", 1)[1]
    drawer = owner.locator("#settings-drawer")
    shoot_schemes(
        owner, shots_dir, f"access-owner-{viewport['width']}", target=drawer, full_page=False
    )

    reader, reader_log = new_page(viewport=viewport, is_mobile=narrow, has_touch=narrow)
    reader.goto(share)
    expect(reader).to_have_url(f"{live_server}/bins/{bin_id}")
    expect(reader.locator(".badge-read-only").first).to_be_visible()
    for control in ("Delete bin", "Clear", "Settings"):
        expect(reader.locator(f".bin-actions button:has-text('{control}')")).to_have_count(0)
    reader.locator(f"#row-{sent.id} a.request-row").click()
    detail = reader.locator(f"#request-detail[data-request-id='{sent.id}']")
    expect(detail).to_be_visible()
    expect(detail.locator("button:has-text('Delete')")).to_have_count(0)
    expect(detail.locator("input[name=resign]")).to_have_count(0)
    shoot_schemes(reader, shots_dir, f"read-only-{viewport['width']}")
    # replaying to a URL of one's own works
    reader.fill("#replay-panel input[name=url]", httpserver.url_for("/mine"))
    reader.click("#replay-panel button[type=submit]")
    expect(reader.locator("#replay-panel .replay-history")).to_contain_text("202")
    # the server refuses what the page does not offer
    refused = reader.evaluate(
        "(url) => fetch(url, {method: 'POST'}).then((answer) => answer.status)",
        f"/bins/{bin_id}/delete",
    )
    assert refused == 403
    reader.click(".bin-actions button:has-text('Access')")
    expect(reader.locator("#bin-access")).to_contain_text("read-only")
    drawer = reader.locator("#settings-drawer")
    shoot_schemes(
        reader, shots_dir, f"access-reader-{viewport['width']}", target=drawer, full_page=False
    )
    assert reader.evaluate(SCROLL_WIDTH) <= viewport["width"] + 1

    # the owner still has everything
    owner.reload()
    expect(owner.locator(".bin-actions button:has-text('Delete bin')")).to_be_visible()
    expect(owner.locator(".badge-read-only")).to_have_count(0)
    assert_clean(owner_log)
    # the refused fetch is the only error the reader's console shows
    assert [message for message in reader_log.console_errors() if "403" not in message] == []
    assert reader_log.errors == [] and reader_log.csp_violations() == []


# 12. the section bar leaves the heading it jumps to in sight --------------------------------

# for each link of the detail's section bar: click it, then where its section's heading is
# against the bottom of the (sticky) bar
HEADING_BELOW_BAR = """
async (href) => {
  const nav = document.querySelector(".detail-nav");
  nav.querySelector(`a[href="${href}"]`).click();
  await new Promise((done) => setTimeout(done, 50));
  const heading = document.querySelector(href).querySelector("h2, h3, legend") ||
    document.querySelector(href);
  const bar = nav.getBoundingClientRect().bottom;
  return {href, heading: heading.getBoundingClientRect().top, bar};
}
"""


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1400px", "390px"])
def test_the_section_bar_never_covers_the_heading_it_jumps_to(
    live_server: str, new_page: Any, viewport: dict[str, int]
) -> None:
    bin_id = create_bin(
        live_server, signature={"scheme": "hmac-sha256", "secret": "s3cret"}, label="sections"
    )
    body = json.dumps({"rows": [{"n": n, "text": "x" * 40} for n in range(80)]}).encode()
    sent = send(
        live_server,
        bin_id,
        query="a=1",
        headers=[("Content-Type", "application/json"), ("X-Hub-Signature-256", "sha256=00")],
        body=body,
    )
    page, log = new_page(viewport=viewport)
    open_request(page, live_server, bin_id, sent.id)
    links = page.eval_on_selector_all(
        ".detail-nav a[href^='#']", "links => links.map((link) => link.getAttribute('href'))"
    )
    assert len(links) >= 6
    for href in links:
        seen = page.evaluate(HEADING_BELOW_BAR, href)
        assert seen["heading"] >= seen["bar"] - 1, seen
    assert_clean(log)


# 12. the detail says each issue once, beside what it is about -------------------------------

ORDER_PAID = {
    "type": "object",
    "required": ["order_id", "amount"],
    "properties": {"order_id": {"type": "string"}, "amount": {"type": "integer", "minimum": 1}},
}


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1400px", "390px"])
def test_the_detail_says_each_issue_once_and_beside_its_line(
    live_server: str, new_page: Any, shots_dir: Path, viewport: dict[str, int]
) -> None:
    put = httpx.put(
        f"{live_server}/api/catalog/shop/order.paid", json={"schema": ORDER_PAID}, timeout=10
    )
    assert put.status_code in (200, 201), put.text
    bin_id = create_bin(
        live_server,
        provider="shop",
        event="order.paid",
        signature={"scheme": "hmac-sha256", "secret": "s3cret"},
    )
    body = b'{"order_id": "A-1", "amount": 0, "note": "extra"}'
    digest = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    sent = send(
        live_server,
        bin_id,
        headers=[("Content-Type", "application/json"), ("X-Signature", f"sha256={digest}")],
        body=body,
    )
    page, log = new_page(viewport=viewport)
    open_request(page, live_server, bin_id, sent.id)
    expect(page.locator(".bin-name")).to_contain_text(bin_id)
    assert page.locator(".bin-name").inner_text().count(bin_id) == 1

    line = page.locator("#detail-body .line-error")
    note = line.locator(".line-note")
    expect(note).to_have_text("✗ 0 is less than the minimum of 1 · minimum")
    line_box, note_box = line.bounding_box(), note.bounding_box()
    assert line_box and note_box
    assert note_box["y"] < line_box["y"] + line_box["height"]  # on the line, not below it
    finding = "which verifies as hmac-sha256 with the bin's secret"
    assert page.locator("#signature").inner_text().count(finding) == 1
    shoot_schemes(page, shots_dir, f"detail-issues-{viewport['width']}")
    assert page.evaluate(SCROLL_WIDTH) <= viewport["width"] + 1
    assert_clean(log)


def test_a_settings_error_is_shown_in_the_drawer(live_server: str, new_page: Any) -> None:
    """htmx 2 does not swap a 4xx answer by default: the form's error partial never showed."""
    bin_id = create_bin(live_server)
    page, log = new_page(viewport=WIDE)
    page.goto(f"{live_server}/bins/{bin_id}")
    page.click(".bin-actions button:has-text('Settings')")
    page.fill("#response-headers", "a header line without a colon")
    page.click("#bin-settings button[type=submit]")
    expect(page.locator("#bin-settings [role=alert]")).to_contain_text("needs a colon")
    assert [m for m in log.console_errors() if "400" not in m] == []
    assert log.errors == [] and log.csp_violations() == []


# 14. forwarding in the settings drawer, with the queue's state beside it ----------------------


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1400px", "390px"])
def test_the_drawer_sets_the_forward_url_and_shows_the_queue(
    app: Any, live_server: str, new_page: Any, shots_dir: Path, viewport: dict[str, int]
) -> None:
    bin_id = create_bin(live_server, label="forwarding")
    down = f"http://127.0.0.1:{free_port()}/hooks"
    page, log = new_page(viewport=viewport)
    page.goto(f"{live_server}/bins/{bin_id}")
    page.click(".bin-actions button:has-text('Settings')")
    page.click("#settings-drawer .drawer-nav a:has-text('Forwarding')")
    page.fill("#forward-url", down)
    page.click("#bin-settings button[type=submit]")
    expect(page.locator("#bin-settings [role=status]")).to_contain_text("Saved")
    assert httpx.get(f"{live_server}/api/bins/{bin_id}", timeout=10).json()["forward_url"] == down

    # a capture, and one forwarding round against the target that is down
    sent = send(live_server, bin_id, body=b'{"a": 1}')
    with app.app_context():
        assert forward_due(db.engine, ForwardPolicy(max_attempts=3, first_delay=60.0)) == 1
    queue = page.locator("#forward-queue")
    expect(queue).to_contain_text("1 retrying", timeout=15_000)  # the panel asks again by itself
    expect(queue).to_contain_text("refused")
    expect(queue.locator("a")).to_have_attribute("href", f"/bins/{bin_id}?request={sent.id}")
    queue.scroll_into_view_if_needed()
    drawer = page.locator("#settings-drawer")
    shoot_schemes(
        page, shots_dir, f"forwarding-{viewport['width']}", target=drawer, full_page=False
    )
    assert page.evaluate(SCROLL_WIDTH) <= viewport["width"] + 1
    assert_clean(log)


# 15. follow the newest: each new request opens as it arrives, remembered per browser ----------


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1400px", "390px"])
def test_follow_opens_each_new_request_as_it_arrives_and_is_remembered(
    live_server: str, new_page: Any, shots_dir: Path, viewport: dict[str, int]
) -> None:
    bin_id = create_bin(live_server, label="follow")
    narrow = viewport is PHONE
    page, log = new_page(viewport=viewport, is_mobile=narrow, has_touch=narrow)
    page.goto(f"{live_server}/bins/{bin_id}")
    toggle = page.locator("#follow-newest")
    expect(toggle).not_to_be_checked()  # off until this browser turns it on

    quiet = send(live_server, bin_id, path="/quiet")
    expect(page.locator(f"#row-{quiet.id}")).to_be_attached()
    page.wait_for_timeout(300)
    expect(page.locator("#request-detail.detail-filled")).to_have_count(0)

    toggle.check()
    page.evaluate("() => { window.__same_page = true; }")
    first = send(live_server, bin_id, path="/first", body=b'{"n": 1}')
    expect(page.locator(f"#request-detail[data-request-id='{first.id}']")).to_be_visible()
    expect(page).to_have_url(f"{live_server}/bins/{bin_id}?request={first.id}")
    # opened in the page by htmx, not by navigating to the row's address
    assert page.evaluate("() => window.__same_page") is True
    shoot_schemes(page, shots_dir, f"follow-{viewport['width']}", full_page=False)

    # remembered by this browser: a reload keeps following
    page.goto(f"{live_server}/bins/{bin_id}")
    expect(page.locator("#follow-newest")).to_be_checked()
    second = send(live_server, bin_id, path="/second")
    expect(page.locator(f"#request-detail[data-request-id='{second.id}']")).to_be_visible()
    # typing in the open request's replay form is never interrupted
    page.fill("#replay-panel input[name=url]", "http://127.0.0.1:9/typing")
    third = send(live_server, bin_id, path="/third")
    expect(page.locator(f"#row-{third.id}")).to_be_attached()
    page.wait_for_timeout(300)
    expect(page.locator(f"#request-detail[data-request-id='{second.id}']")).to_be_visible()
    page.goto(f"{live_server}/bins/{bin_id}")  # the list (a phone shows the toggle there)
    page.locator("#follow-newest").uncheck()
    page.reload()
    expect(page.locator("#follow-newest")).not_to_be_checked()
    assert_clean(log)


# 16. all bins, behind the team token ----------------------------------------------------------

TEAM = "team-token"


@pytest.mark.parametrize("app_config", [{"RECEIVER_ACCESS_TOKEN": TEAM}], ids=["team"])
@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1400px", "390px"])
def test_a_team_member_finds_every_bin_by_its_label(
    app_config: dict[str, str],
    live_server: str,
    new_page: Any,
    shots_dir: Path,
    viewport: dict[str, int],
) -> None:
    made = {}
    for label in ("Stripe staging", "GitHub payments", "Shop orders", ""):
        response = httpx.post(
            f"{live_server}/api/bins",
            json={"label": label},
            headers={"Authorization": f"Bearer {TEAM}"},
            timeout=10,
        )
        made[label] = response.json()["id"]
    page, log = new_page(viewport=viewport)
    page.goto(f"{live_server}/bins")
    page.fill("#token", TEAM)
    page.click("button:has-text('Log in')")
    expect(page).to_have_url(f"{live_server}/bins")
    expect(page.locator(".bin-list-item")).to_have_count(4)
    shoot_schemes(page, shots_dir, f"all-bins-{viewport['width']}")
    page.fill("#bin-search-q", "payments")
    expect(page.locator(".bin-list-item")).to_have_count(1)
    expect(page.locator(".bin-list-item")).to_contain_text("GitHub payments")
    expect(page).to_have_url(f"{live_server}/bins?q=payments")
    page.click(".bin-list-item a")
    expect(page).to_have_url(f"{live_server}/bins/{made['GitHub payments']}")
    assert page.evaluate(SCROLL_WIDTH) <= viewport["width"] + 1
    assert_clean(log)


# 18. compare two captures ------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1400px", "390px"])
def test_comparing_a_failed_delivery_with_the_one_before(
    live_server: str, new_page: Any, shots_dir: Path, viewport: dict[str, int]
) -> None:
    bin_id = create_bin(live_server, label="deliveries")
    json_type = ("Content-Type", "application/json")
    worked = send(
        live_server,
        bin_id,
        path="/hooks",
        headers=[json_type, ("X-Attempt", "1"), ("X-Signature", "sha256=aa")],
        body=json.dumps({"id": "evt_1", "data": {"amount": 1200, "currency": "eur"}}).encode(),
    )
    text = send(live_server, bin_id, path="/notes", body=b"line one\nline two\n")
    failed = send(
        live_server,
        bin_id,
        path="/hooks",
        query="retry=1",
        headers=[json_type, ("X-Attempt", "2")],
        body=json.dumps({"id": "evt_1", "data": {"amount": "1200", "items": [1]}}).encode(),
    )
    narrow = viewport is PHONE
    page, log = new_page(viewport=viewport, is_mobile=narrow, has_touch=narrow)
    open_request(page, live_server, bin_id, failed.id)
    page.click("#request-detail a:has-text('Compare')")
    expect(page).to_have_url(f"{live_server}/bins/{bin_id}/compare?b={failed.id}")
    expect(page.locator("#compare-a")).to_have_value(str(text.id))  # the capture before it

    page.select_option("#compare-a", str(worked.id))
    expect(page).to_have_url(f"{live_server}/bins/{bin_id}/compare?a={worked.id}&b={failed.id}")
    comparison = page.locator("#comparison")
    expect(comparison.locator(".change-type")).to_contain_text("/data/amount")
    expect(comparison.locator(".change-removed")).to_have_count(2)  # a header, a member
    expect(comparison.locator(".change-added")).to_contain_text("/data/items")
    expect(comparison).to_contain_text("retry=1")
    shoot_schemes(page, shots_dir, f"compare-{viewport['width']}")
    assert page.evaluate(SCROLL_WIDTH) <= viewport["width"] + 1
    assert_clean(log)


# 12. script steps named as the API names them; Show all bounded (screens at both widths) ------


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1400px", "390px"])
def test_script_steps_and_a_large_body_as_the_page_shows_them(
    live_server: str, new_page: Any, shots_dir: Path, viewport: dict[str, int]
) -> None:
    bin_id = create_bin(
        live_server, response_script=[{"status": 429}, {"status": 409}, {"status": 202}]
    )
    send(live_server, bin_id, body=b"first")
    big = json.dumps({"rows": ["x" * 60] * 24_000}).encode()  # 1.5 MiB of JSON
    second = send(live_server, bin_id, headers=[("Content-Type", "application/json")], body=big)
    narrow = viewport is PHONE
    page, log = new_page(viewport=viewport, is_mobile=narrow, has_touch=narrow)
    open_request(page, live_server, bin_id, second.id)
    expect(page.locator(f"#row-{second.id} .badge-step")).to_have_text("script[1] · 409")
    expect(page.locator("#detail-response")).to_contain_text("response_script[1]")
    page.click("#body-view button:has-text('Show the first 1.0 MiB')")
    expect(page.locator("#body-view .body-head-note")).to_contain_text("a page shows at most")
    expect(page.locator("#body-view a:has-text('Download')")).to_be_visible()
    shoot_schemes(page, shots_dir, f"steps-body-{viewport['width']}", full_page=False)
    page.goto(f"{live_server}/bins/{bin_id}")
    page.click(".bin-actions button:has-text('Settings')")
    page.click("#settings-drawer .drawer-nav a:has-text('Response script')")
    script = page.locator("#response-script .script-steps li")
    expect(script).to_have_count(1)
    expect(script).to_contain_text("response_script[2]")
    drawer = page.locator("#settings-drawer")
    shoot_schemes(page, shots_dir, f"script-{viewport['width']}", target=drawer, full_page=False)
    assert_clean(log)


# the bin page's panels on a phone --------------------------------------------------------------

# each word of an element's text, and how many lines it is drawn on
WORD_LINES = """
(selector) => {
  const text = document.querySelector(selector).firstChild;
  let start = 0;
  return text.textContent.split(" ").map((word) => {
    const range = document.createRange();
    range.setStart(text, start);
    range.setEnd(text, start + word.length);
    start += word.length + 1;
    return [word, new Set([...range.getClientRects()].map((box) => Math.round(box.top))).size];
  });
}
"""


def test_listeners_and_schema_drift_fit_a_phone(
    live_server: str, new_page: Any, shots_dir: Path
) -> None:
    bin_id = create_bin(live_server, label="phone panels")
    example = httpx.get(f"{live_server}/api/catalog/appery/PROJECT_BUILD_IOS_FAIL", timeout=10)
    for _ in range(2):
        send(
            live_server,
            bin_id,
            headers=[("Content-Type", "application/json")],
            body=json.dumps(example.json()["example"]).encode(),
        )
    # an Android build event that fits several events: the selector's longest option
    android = {"project": {"guid": 5}, "build": {"platform": "android"}}
    send(
        live_server,
        bin_id,
        headers=[("Content-Type", "application/json")],
        body=json.dumps(android).encode(),
    )
    opened = httpx.put(f"{live_server}/api/bins/{bin_id}/listeners/laptop", json={}, timeout=10)
    assert opened.status_code in (200, 201), opened.text
    page, log = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto(f"{live_server}/bins/{bin_id}")
    expect(page.locator("#drift-event")).to_be_visible()
    expect(page.locator(".listener-row")).to_have_count(1)
    page.wait_for_function(SETTLED)
    shoot(page, shots_dir, "panels-390")
    # the drift selector (an event's long name) stays inside its card and the page
    select = page.locator("#drift-event").bounding_box()
    card = page.locator("#drift").bounding_box()
    assert select is not None and card is not None
    assert select["x"] + select["width"] <= card["x"] + card["width"] + 0.5, (select, card)
    assert page.evaluate(SCROLL_WIDTH) <= PHONE["width"] + 1
    # the listener's last answer wraps between words, never inside one
    words = page.evaluate(WORD_LINES, ".listener-row td:last-child .muted")
    assert [word for word, _ in words] == ["nothing", "delivered", "yet"]
    assert all(lines == 1 for _, lines in words), words
    assert_clean(log)
