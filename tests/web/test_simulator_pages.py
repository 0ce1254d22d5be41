"""The simulator's pages: each mock's address, document and what its provider leaves open; tokens
and triggers from forms (htmx partials, and whole pages without scripts); a tenant's webhooks,
deliveries and settings; everything a webhook or a target sent shown escaped and inert."""

from __future__ import annotations

import re
from typing import Any

import pytest
from htmltree import HOSTILE_BODY
from htmltree import parse
from simulated import Tenant

from receiver.simulators.registry import SIMULATORS

HTMX = {"HX-Request": "true"}
EVENT = "DEPLOYMENT_STARTED"


def issued_token(html: str) -> str:
    found = parse(html).find(tag="input", id="sim-issued-token")
    assert found is not None, html
    return str(found.attrs["value"])


def test_the_index_lists_every_simulated_provider(client: Any) -> None:
    page = parse(client.get("/simulator").data)
    for simulator in SIMULATORS.values():
        card = page.find(id=f"sim-card-{simulator.id}")
        assert card is not None and simulator.name in card.text()
        assert f"http://localhost/mock/{simulator.id}" in card.text()
    assert parse(client.get("/").data).find(tag="a", href="/simulator") is not None


@pytest.mark.parametrize("provider", list(SIMULATORS))
def test_a_provider_page_says_what_is_documented_and_what_is_not(
    client: Any, provider: str
) -> None:
    simulator = SIMULATORS[provider]
    tenant = Tenant(client, provider)
    answer = client.get(f"/simulator/{provider}?tenant={tenant.id}")
    assert answer.status_code == 200 and "HX-Request" in answer.headers["Vary"]
    page = parse(answer.data)
    text = page.text()
    assert (
        page.find(tag="input", id="sim-base-url").attrs["value"]
        == f"http://localhost/mock/{provider}"
    )
    assert page.find(tag="a", href=f"http://localhost/mock/{provider}/openapi.json") is not None
    for line in (*simulator.documented, *simulator.undocumented):
        assert line in text
    settings = page.find(id="sim-settings")
    for setting in simulator.settings:
        assert setting.undocumented in settings.text()
        assert settings.find(name=setting.name) is not None
    assert tenant.id in page.find(id="sim-tenants").text()


def test_a_token_from_the_page_shown_once(client: Any) -> None:
    answer = client.post(
        "/simulator/apitree/tokens",
        data={"tenant": "10123", "scopes": ["webhook.readonly"]},
        headers=HTMX,
    )
    assert answer.status_code == 200
    token = issued_token(answer.get_data(as_text=True))
    fragment = parse(answer.data)
    assert fragment.find(id="sim-token") is not None and fragment.find(tag="html") is None
    assert "webhook.readonly" in fragment.text()
    listed = client.get("/mock/apitree/webhooks", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    # without scripts, the whole page carries it; a bad id is said, not a 500
    page = client.post("/simulator/qovery/tokens", data={"tenant": ""})
    assert page.status_code == 200 and issued_token(page.get_data(as_text=True)).startswith("rsim_")
    refused = client.post("/simulator/qovery/tokens", data={"tenant": "acme"}, headers=HTMX)
    assert refused.status_code == 200 and "acme" in parse(refused.data).find(role="alert").text()
    assert client.post("/simulator/qovery/tokens", data={"tenant": "acme"}).status_code == 400


def test_an_event_from_the_page_delivers_and_refreshes_the_list(client: Any, target: Any) -> None:
    target.expect_request("/hook").respond_with_data("ok")
    org = Tenant(client, "qovery")
    body = {"kind": "STANDARD", "target_url": target.url_for("/hook"), "events": [EVENT]}
    org.ok("POST", f"/organization/{org.id}/webhook", body, status=201)
    form = {
        "event": EVENT,
        "organization_id": org.id,
        "project_name": "",
        "set": '{"/payload/jobs": [1]}',
    }
    answer = client.post("/simulator/qovery/events", data=form, headers=HTMX)
    assert answer.status_code == 200 and answer.headers["HX-Trigger"] == "simulator-delivered"
    result = parse(answer.data).find(id="sim-trigger")
    assert "1 webhook matched" in result.text() and "200" in result.text()
    assert len(target.log) == 1

    deliveries = client.get(f"/simulator/qovery/tenants/{org.id}/deliveries", headers=HTMX)
    panel = parse(deliveries.data).find(id="sim-deliveries")
    assert panel.attrs["hx-trigger"] == "simulator-delivered from:body"
    assert target.url_for("/hook") in panel.text() and EVENT in panel.text()

    for bad in ('{"/x": ', "[1]"):
        refused = client.post("/simulator/qovery/events", data={**form, "set": bad}, headers=HTMX)
        assert refused.status_code == 200 and "set is a JSON object" in refused.get_data(
            as_text=True
        )
        assert "HX-Trigger" not in refused.headers
    assert client.post("/simulator/qovery/events", data={**form, "event": "X"}).status_code == 400
    assert len(target.log) == 1


def test_what_webhooks_and_targets_sent_is_shown_inert(client: Any, target: Any) -> None:
    hostile = HOSTILE_BODY.decode()
    target.expect_request("/hook").respond_with_data(hostile, content_type="text/html")
    user = Tenant(client, "apitree")
    url = target.url_for("/hook") + "?q=<script>alert(2)</script>"
    user.ok(
        "POST",
        "/webhooks",
        {
            "url": url,
            "custom": '{"x": "<b hx-get=/api/bins>"}',
            "events": [{"name": "user.created"}],
        },
        status=201,
    )
    user.trigger(event="user.created", user_id=user.id)
    html = client.get(f"/simulator/apitree?tenant={user.id}").get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    page = parse(html)
    assert not page.find_all(tag="script", src=None)
    for node in page.walk():
        if "hx-get" in node.attrs and node.attrs["hx-get"].startswith("/api"):
            pytest.fail(f"a live hx-get from captured content: {node.attrs}")
    for panel in ("sim-webhooks", "sim-deliveries"):
        shown = [
            text
            for node, text in page.find(id=panel).texts()
            if "alert(" in text or "hx-get" in text
        ]
        assert shown, panel
        for node, text in page.find(id=panel).texts():
            if "alert(" in text or "hx-get" in text:
                assert any("hx-disable" in parent.attrs for parent in node.lineage()), (panel, text)


def test_settings_from_the_page(client: Any) -> None:
    user = Tenant(client, "apitree")
    form = {
        "retries": "2",
        "timeout_seconds": "5",
        "signature_order": "body",
        "signature_encoding": "hex",
        "disable_on_status": "410",
    }
    saved = client.post(f"/simulator/apitree/tenants/{user.id}/settings", data=form, headers=HTMX)
    assert saved.status_code == 200 and "Saved" in parse(saved.data).find(id="sim-settings").text()
    assert user.ok("GET", "/settings") == {
        **{k: v for k, v in form.items()},
        "retries": 2,
        "timeout_seconds": 5,
        "disable_on_status": 410,
    }
    client.post(
        f"/simulator/apitree/tenants/{user.id}/settings",
        data={"disable_on_status": ""},
        headers=HTMX,
    )
    assert user.ok("GET", "/settings")["disable_on_status"] is None
    refused = client.post(
        f"/simulator/apitree/tenants/{user.id}/settings", data={"retries": "many"}, headers=HTMX
    )
    assert "retries is a whole number" in parse(refused.data).find(role="alert").text()
    assert user.ok("GET", "/settings")["retries"] == 2


def test_a_reset_from_the_page(client: Any) -> None:
    org = Tenant(client, "akinon")
    org.ok("PATCH", "/settings", {"retries": 3})
    answer = client.post(f"/simulator/akinon/tenants/{org.id}/reset", headers=HTMX)
    assert answer.status_code == 200
    assert answer.headers["HX-Redirect"] == f"/simulator/akinon?tenant={org.id}"
    assert org.ok("GET", "/settings")["retries"] == 0
    plain = client.post(f"/simulator/akinon/tenants/{org.id}/reset")
    assert plain.status_code == 303


def test_unknown_providers_and_tenants_are_404_pages(client: Any) -> None:
    assert client.get("/simulator/github").status_code == 404
    assert client.get("/simulator/qovery?tenant=nobody").status_code == 404
    assert client.get("/simulator/qovery/tenants/nobody/deliveries").status_code == 404
    assert client.post("/simulator/qovery/tenants/nobody/reset").status_code == 404
    assert re.search(r"<html", client.get("/simulator/github").get_data(as_text=True))
