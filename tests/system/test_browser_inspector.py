"""The inspector's second hour in a real browser (issue 18): tables on narrow screens, read-only
share links, forwarding in the settings drawer, following the newest request, comparing two
captures, and the detail pane's smaller defects.

The setup is test_browser.py's (Chromium through Playwright, the app on Werkzeug's dev server in
a thread). Screenshots go to /tmp/receiver-shots/ with an ``inspector-`` prefix, at both widths,
light and dark, for people to look at; nothing asserts on pixels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_browser import CHROMIUM
from test_browser import DESKTOP
from test_browser import PHONE
from test_browser import ROWS
from test_browser import SCROLL_WIDTH
from test_browser import SETTLED
from test_browser import assert_clean
from test_browser import create_bin
from test_browser import send

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


def shoot(page: Any, shots_dir: Path, name: str) -> None:
    """A full-page screenshot, in the scheme the page's context emulates."""
    page.screenshot(path=str(shots_dir / f"inspector-{name}.png"), full_page=True)


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
    shoot(page, shots_dir, f"tables-{viewport['width']}")
    for cell in cells:
        if cell["name"] in ("Host", "X-Long", "token", "page", "name", "blob"):
            # a short name is on one line, and its column is wider than a few letters
            assert cell["lines"] == 1, cell
            assert cell["width"] >= 48, cell
    assert page.evaluate(SCROLL_WIDTH) <= viewport["width"] + 1
    assert_clean(log)
