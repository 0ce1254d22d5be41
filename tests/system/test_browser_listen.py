"""The bin page's Listeners panel in a real browser while ``receiver listen`` runs and stops:
a listener stopped cleanly (SIGTERM, as Ctrl-C) shows as offline at once, not after the 45 s a
killed one takes. Chromium (Debian's, through Playwright) on the app served in a thread; the
listener is a real ``receiver listen`` process. Screenshots go to /tmp/receiver-shots/.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import RECEIVER
from servers import Process

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

VIEWPORTS = {"desktop": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}
# far below the 45 s after which a listener that never said it left counts as offline, far
# above the panel's refresh (RECEIVER_POLL_SECONDS, 1 s)
SHOWS_WITHIN_MS = 20_000


def shoot(page: Any, stem: Path) -> None:
    """The panel in the light and the dark scheme (people look at them; nothing asserts)."""
    page.locator("#listeners").scroll_into_view_if_needed()
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.screenshot(path=f"{stem}-{scheme}.png")
    page.emulate_media(color_scheme="light")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_stopped_listener_shows_as_offline_at_once(
    live_server: str,
    new_page: Any,
    shots_dir: Path,
    tmp_path: Path,
    viewport: str,
    request: pytest.FixtureRequest,
) -> None:
    made = httpx.post(f"{live_server}/api/bins", json={"label": "listen"}, timeout=10)
    bin_id = made.json()["id"]
    listener = Process(
        [
            RECEIVER,
            "listen",
            f"{live_server}/b/{bin_id}",
            "--to",
            "http://127.0.0.1:9/hooks",
            "--name",
            "laptop",
        ],
        log=tmp_path / "listen.log",
        cwd=tmp_path,
    )
    page, log = new_page(viewport=VIEWPORTS[viewport])
    page.goto(f"{live_server}/bins/{bin_id}")
    row = page.locator("#listeners .listener-row", has_text="laptop")
    badge = row.locator(".badge").first
    try:
        expect(badge).to_have_text("connected", timeout=SHOWS_WITHIN_MS)
        database = request.node.callspec.params.get("database_url", "db")
        shoot(page, shots_dir / f"listeners-{viewport}-{database}-connected")

        assert listener.stop(signal.SIGTERM) == 0, listener.describe()

        expect(badge).to_have_text("offline", timeout=SHOWS_WITHIN_MS)
        shoot(page, shots_dir / f"listeners-{viewport}-{database}-offline")
    finally:
        listener.kill()
    assert "stopped:" in listener.output()
    assert log.errors == [] and log.console_errors() == []
