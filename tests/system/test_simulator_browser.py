"""The simulator's page in a real browser: a token from the form, a webhook at one of receiver's
own bins, an event from the form, and its delivery appearing in the list without a reload; at
1400x900 and at 390 px wide, light and dark. Screenshots go to /tmp/receiver-shots/simulator-*
for people to look at; nothing asserts on pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
expect = sync_api.expect

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.system,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"browser tests need Chromium at {CHROMIUM}"),
]

DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
SCROLL_WIDTH = "() => document.documentElement.scrollWidth"
EVENT = "DEPLOYMENT_FAILURE"


def assert_clean(log: Any) -> None:
    """No CSP violation, no uncaught error and no console error."""
    assert log.csp_violations() == []
    assert log.errors == []
    assert log.console_errors() == []


def backend(request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params.get("database_url", "db"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_token_an_event_and_its_delivery_on_the_page(
    live_server: str, new_page: Any, shots_dir: Path, request: pytest.FixtureRequest, scheme: str
) -> None:
    page, log = new_page(viewport=DESKTOP, color_scheme=scheme)
    page.goto(f"{live_server}/simulator/qovery")
    expect(page.locator("h1")).to_contain_text("Qovery")
    expect(page.locator("#sim-base-url")).to_have_value(f"{live_server}/mock/qovery")

    page.click("#sim-token button:has-text('Issue a token')")
    token_field = page.locator("#sim-issued-token")
    expect(token_field).to_be_visible()
    token = token_field.input_value()
    organization = page.locator("#sim-token .sim-issued a code").inner_text()

    # the user's client registers a webhook at one of receiver's own bins
    with httpx.Client(base_url=live_server, trust_env=False, timeout=30) as http:
        target = http.post("/api/bins", json={"label": "qovery deliveries"}).json()
        http.patch(
            f"/api/bins/{target['id']}",
            json={"signature": {"scheme": "qovery", "secret": "s3cret"}},
        )
        webhook = {
            "kind": "STANDARD",
            "target_url": target["ingest_url"],
            "target_secret": "s3cret",
            "description": "failed production deployments",
            "events": [EVENT],
            "project_names_filter": ["shop*"],
            "environment_types_filter": ["PRODUCTION"],
        }
        made = http.post(
            f"/mock/qovery/organization/{organization}/webhook",
            json=webhook,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert made.status_code == 201, made.text

    page.goto(f"{live_server}/simulator/qovery?tenant={organization}")
    expect(page.locator("#sim-webhooks")).to_contain_text(target["ingest_url"])
    expect(page.locator("#sim-deliveries")).to_contain_text("No deliveries yet")
    page.select_option("#trigger-event", EVENT)
    expect(page.locator("#trigger-organization_id")).to_have_value(organization)
    page.fill("#trigger-project_name", "shop-api")
    page.select_option("#trigger-environment_type", "PRODUCTION")
    page.click("#sim-trigger button[type=submit]")

    expect(page.locator("#sim-trigger .sim-fired")).to_contain_text("1 webhook matched")
    expect(page.locator("#sim-trigger .sim-outcomes")).to_contain_text("200")
    # the list refreshes itself when the trigger says something was delivered
    expect(page.locator("#sim-deliveries .sim-deliveries > li")).to_have_count(1)
    page.locator("#sim-deliveries summary").first.click()
    expect(page.locator("#sim-deliveries details[open]")).to_contain_text("Qovery-Signature")
    page.locator("#sim-webhooks summary").first.click()
    page.screenshot(
        path=str(shots_dir / f"simulator-desktop-{scheme}-{backend(request)}.png"), full_page=True
    )

    # the delivery is in the bin: detected, valid, verified
    with httpx.Client(base_url=live_server, trust_env=False, timeout=30) as http:
        [listed] = http.get(f"/api/bins/{target['id']}/requests").json()["requests"]
    assert listed["event"]["event"] == EVENT and listed["validation"]["status"] == "valid"
    assert listed["signature"]["status"] == "verified"
    assert_clean(log)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_page_fits_a_phone(
    live_server: str, new_page: Any, shots_dir: Path, request: pytest.FixtureRequest, scheme: str
) -> None:
    with httpx.Client(base_url=live_server, trust_env=False, timeout=30) as http:
        issued = http.post("/mock/apitree/tokens", json={"user": "10123"}).json()
        headers = {"Authorization": f"Bearer {issued['token']}"}
        long_url = "http://127.0.0.1:9/" + "very-long-path-segment/" * 8
        for name in ("release.released", "api.created"):
            body = {"url": long_url, "events": [{"name": name}], "custom": '{"team": "payments"}'}
            assert (
                http.post("/mock/apitree/webhooks", json=body, headers=headers).status_code == 201
            )
        http.post("/mock/apitree/events", json={"event": "release.released", "user_id": "10123"})
    page, log = new_page(viewport=PHONE, is_mobile=True, has_touch=True, color_scheme=scheme)
    page.goto(f"{live_server}/simulator/apitree?tenant=10123")
    expect(page.locator("#sim-deliveries .sim-deliveries > li")).to_have_count(1)
    page.locator("#sim-deliveries summary").first.click()
    page.locator("#sim-webhooks summary").first.click()
    width = page.evaluate(SCROLL_WIDTH)
    page.screenshot(
        path=str(shots_dir / f"simulator-phone-{scheme}-{backend(request)}.png"), full_page=True
    )
    assert width <= PHONE["width"] + 1
    page.goto(f"{live_server}/simulator")
    assert page.evaluate(SCROLL_WIDTH) <= PHONE["width"] + 1
    page.screenshot(path=str(shots_dir / f"simulator-index-phone-{scheme}.png"), full_page=True)
    assert_clean(log)
