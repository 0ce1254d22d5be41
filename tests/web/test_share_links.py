"""A private bin's share link is read-only (issue 18, item 7): its holder sees the captures and
replays them to a URL of their own; settings, deletion, clearing, sending into the bin, token
regeneration and re-signing with the bin's secret stay the owner's, in the API and the pages.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from actions import BinActions
from flask import Flask
from flask.testing import FlaskClient
from htmltree import parse
from werkzeug.routing import Rule

from receiver.bins.tokens import bin_token
from receiver.bins.tokens import read_token
from receiver.web.access import READ_HOLDER_WRITES
from receiver.web.security import SAFE_METHODS

SECRET = "test-secret-key"  # tests/conftest.py's SECRET_KEY
JSON = {"Content-Type": "application/json"}
HTMX = {"HX-Request": "true"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def share_token(made: dict[str, Any]) -> str:
    """The token of a private bin's share link, from the API's ``inspect_url``."""
    path = urlsplit(made["inspect_url"]).path
    prefix = f"/bins/{made['id']}/share/"
    assert path.startswith(prefix), made["inspect_url"]
    return path.removeprefix(prefix)


@pytest.fixture
def private(client: FlaskClient) -> dict[str, Any]:
    """A private bin with one capture, made through the API (its owner's answer)."""
    made = client.post("/api/bins", json={"private": True, "label": "shared"}).get_json()
    response = client.post(f"/b/{made['id']}/hook", data=b'{"a": 1}', headers=JSON)
    made["request_id"] = int(response.headers["X-Receiver-Request-Id"])
    return made


def opened_with_share_link(app: Flask, made: dict[str, Any]) -> FlaskClient:
    """A fresh browser that opened the bin's share link (its cookie now holds what it gave)."""
    browser = app.test_client()
    response = browser.get(urlsplit(made["inspect_url"]).path)
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == f"/bins/{made['id']}"
    return browser


# the API ----------------------------------------------------------------------------------


def test_the_share_link_carries_a_read_only_token_not_the_owners(private):
    link = share_token(private)
    assert link != private["token"]
    assert link == read_token(SECRET, private["id"], 0)
    assert private["access"] == "owner"


def test_a_share_link_holder_reads_the_bin_without_its_owner_token(app, private):
    holder = app.test_client()
    shown = holder.get(f"/api/bins/{private['id']}", headers=bearer(share_token(private)))
    assert shown.status_code == 200
    body = shown.get_json()
    assert body["access"] == "read"
    assert "token" not in body  # the owner's token is never shown to a share link's holder
    assert body["inspect_url"] == private["inspect_url"]
    listed = holder.get(f"/api/bins/{private['id']}/requests", headers=bearer(share_token(private)))
    assert [item["id"] for item in listed.get_json()["requests"]] == [private["request_id"]]
    raw = holder.get(
        f"/api/bins/{private['id']}/requests/{private['request_id']}/raw",
        headers=bearer(share_token(private)),
    )
    assert raw.data == b'{"a": 1}'


def test_the_owner_reads_the_bin_with_its_token_and_access(app, private):
    shown = app.test_client().get(f"/api/bins/{private['id']}", headers=bearer(private["token"]))
    assert shown.get_json()["access"] == "owner"
    assert shown.get_json()["token"] == private["token"]


def owner_only_calls(made: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
    base = f"/api/bins/{made['id']}"
    request = f"{base}/requests/{made['request_id']}"
    return [
        ("PATCH", base, {"label": "mine now"}),
        ("PATCH", base, {"private": False}),
        ("DELETE", base, None),
        ("POST", f"{base}/token", None),
        ("DELETE", f"{base}/requests", None),
        ("DELETE", request, None),
        ("POST", f"{base}/send", {"provider": "appery", "event": "PROJECT_BUILD_IOS_FAIL"}),
        ("POST", f"{base}/forward", {"url": "http://127.0.0.1:9/x"}),
        ("POST", f"{request}/promote", {}),
    ]


def test_a_share_link_holder_cannot_change_delete_or_take_over_the_bin(app, client, private):
    holder = app.test_client()
    for method, url, body in owner_only_calls(private):
        response = holder.open(url, method=method, json=body, headers=bearer(share_token(private)))
        assert response.status_code == 403, (method, url, response.data)
        assert response.get_json()["error"]["code"] == "owner_only", (method, url)
    # nothing changed: the bin, its capture and its tokens are as they were
    shown = client.get(f"/api/bins/{private['id']}", headers=bearer(private["token"])).get_json()
    assert (shown["label"], shown["private"], shown["request_count"]) == ("shared", True, 1)
    assert shown["token"] == private["token"]


def test_the_owner_token_still_does_everything(app, private):
    owner = app.test_client()
    for method, url, body in owner_only_calls(private)[:1]:
        response = owner.open(url, method=method, json=body, headers=bearer(private["token"]))
        assert response.status_code == 200
    deleted = owner.delete(f"/api/bins/{private['id']}", headers=bearer(private["token"]))
    assert deleted.status_code == 204


def test_a_share_link_holder_replays_to_their_own_url_but_not_re_signed(app, client, private):
    client.patch(
        f"/api/bins/{private['id']}",
        json={"signature": {"scheme": "hmac-sha256", "secret": "s3cret"}},
        headers=bearer(private["token"]),
    )
    holder = app.test_client()
    url = f"/api/bins/{private['id']}/requests/{private['request_id']}/replay"
    replayed = holder.post(
        url, json={"url": "http://127.0.0.1:9/hooks"}, headers=bearer(share_token(private))
    )
    assert replayed.status_code == 201  # the target refused: still a record
    resigned = holder.post(
        url,
        json={"url": "http://127.0.0.1:9/hooks", "resign": True},
        headers=bearer(share_token(private)),
    )
    assert resigned.status_code == 403
    assert resigned.get_json()["error"]["code"] == "owner_only"
    assert "secret" in resigned.get_json()["error"]["message"]
    scenario = holder.post(
        f"/api/bins/{private['id']}/scenarios",
        json={"url": "http://127.0.0.1:9/hooks", "resign": True},
        headers=bearer(share_token(private)),
    )
    assert scenario.status_code == 403


def test_regenerating_revokes_the_share_link_too(app, client, private):
    renewed = client.post(f"/api/bins/{private['id']}/token", headers=bearer(private["token"]))
    assert renewed.status_code == 200
    old = app.test_client().get(f"/api/bins/{private['id']}", headers=bearer(share_token(private)))
    assert old.status_code == 404
    assert share_token(renewed.get_json()) == read_token(SECRET, private["id"], 1)


def bin_routes(app: Flask) -> list[Rule]:
    """Every route below a bin outside ingest."""
    return [
        rule
        for rule in app.url_map.iter_rules()
        if "bin_id" in rule.arguments and not rule.endpoint.startswith("ingest.")
    ]


def test_every_route_that_changes_a_bin_needs_its_owner_unless_listed(app, private):
    """A route added later is the owner's until someone lists it among what a read-only holder
    may do: a share link's holder gets 403 on each of the others, pages and API alike."""
    holder = app.test_client()
    values = {"bin_id": private["id"], "request_id": private["request_id"]}
    values |= {"scenario_id": 1, "name": "laptop", "token": "x"}
    checked = []
    for rule in bin_routes(app):
        for method in sorted((rule.methods or set()) - SAFE_METHODS):
            if rule.endpoint in READ_HOLDER_WRITES:
                continue
            url = rule.build({name: values[name] for name in rule.arguments})[1]
            response = holder.open(url, method=method, headers=bearer(share_token(private)))
            assert response.status_code == 403, (method, url, response.status_code)
            checked.append(rule.endpoint)
    assert {"api.bin_delete", "inspector.bin_delete", "inspector.bin_access_update"} <= set(checked)
    # what a read-only holder may do besides reading is replaying (and receiver listen)
    assert all(
        any(word in endpoint for word in ("replay", "scenario", "listener", "owner_claim"))
        for endpoint in READ_HOLDER_WRITES
    )


# the pages --------------------------------------------------------------------------------


def test_the_share_link_opens_the_bin_read_only_in_another_browser(app, private):
    browser = opened_with_share_link(app, private)
    page = parse(browser.get(f"/bins/{private['id']}").data)
    actions = page.find_all(cls="bin-actions")[0]
    labels = {node.text().strip() for node in actions.find_all("button")}
    assert "Delete bin" not in labels and "Clear" not in labels and "Settings" not in labels
    assert "Access" in labels
    assert page.find_all(cls="badge-read-only")
    drawer = page.find(id="settings-drawer")
    assert drawer.find(id="bin-settings") is None  # no settings form
    assert drawer.find_all(cls="owner-claim")
    assert drawer.find(id="bin-token").attrs["value"] == share_token(private)
    # the detail pane has no Delete, and no re-signing
    detail = browser.get(f"/bins/{private['id']}/requests/{private['request_id']}", headers=HTMX)
    buttons = {node.text().strip() for node in parse(detail.data).find_all("button")}
    assert "Delete" not in buttons and "Replay" in "".join(buttons)


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("POST", "/bins/{id}/delete", {}),
        ("POST", "/bins/{id}/clear", {}),
        ("POST", "/bins/{id}/settings", {"status": "410"}),
        ("POST", "/bins/{id}/access", {"action": "public"}),
        ("POST", "/bins/{id}/access", {"action": "regenerate"}),
        ("POST", "/bins/{id}/script", {"preset": "always_410"}),
        ("DELETE", "/bins/{id}/requests/{rid}", {}),
        ("GET", "/bins/{id}/script", {}),
    ],
)
def test_a_share_link_browser_is_refused_the_owners_actions(
    app, client, private, method, path, data
):
    browser = opened_with_share_link(app, private)
    url = path.format(id=private["id"], rid=private["request_id"])
    response = browser.open(url, method=method, data=data, headers=HTMX)
    assert response.status_code == 403
    shown = client.get(f"/api/bins/{private['id']}", headers=bearer(private["token"])).get_json()
    assert (shown["private"], shown["request_count"], shown["response"]["status"]) == (
        True,
        1,
        200,
    )


def test_an_old_share_link_with_the_owner_token_now_opens_read_only(app, private):
    """Share links given out before read-only tokens carried the owner's token."""
    browser = app.test_client()
    response = browser.get(f"/bins/{private['id']}/share/{private['token']}")
    assert response.status_code == 303
    refused = browser.post(f"/bins/{private['id']}/delete", headers=HTMX)
    assert refused.status_code == 403
    assert browser.get(f"/api/bins/{private['id']}").get_json()["access"] == "read"


def test_the_owners_browser_stays_owner_when_it_opens_its_own_share_link(client):
    location = client.post("/bins", data={"private": "on"}).headers["Location"]
    bin_id = location.rsplit("/", 1)[1]
    made = client.get(f"/api/bins/{bin_id}").get_json()
    assert made["access"] == "owner"
    client.get(urlsplit(made["inspect_url"]).path)
    assert client.get(f"/api/bins/{bin_id}").get_json()["access"] == "owner"


def test_the_owner_token_typed_in_opens_the_bin_as_owner(app, private):
    browser = opened_with_share_link(app, private)
    claim = f"/bins/{private['id']}/owner"
    wrong = browser.post(claim, data={"token": share_token(private)}, headers=HTMX)
    assert wrong.status_code == 400
    assert "not this bin's owner token" in parse(wrong.data).find(role="alert").text()
    right = browser.post(claim, data={"token": private["token"]}, headers=HTMX)
    assert right.status_code == 200
    assert right.headers["HX-Redirect"] == f"/bins/{private['id']}"
    assert browser.get(f"/api/bins/{private['id']}").get_json()["access"] == "owner"


def test_the_owners_drawer_gives_out_the_read_only_link_and_keeps_the_token(client):
    location = client.post("/bins", data={"private": "on"}).headers["Location"]
    bin_id = location.rsplit("/", 1)[1]
    drawer = parse(client.get(f"/bins/{bin_id}").data).find(id="bin-access")
    share = drawer.find(id="share-link").attrs["value"]
    assert share.endswith(f"/bins/{bin_id}/share/{read_token(SECRET, bin_id, 0)}")
    assert drawer.find(id="bin-token").attrs["value"] == bin_token(SECRET, bin_id, 0)
    assert "read-only" in drawer.text()


def test_regenerating_in_the_page_keeps_this_browser_the_owner(client):
    location = client.post("/bins", data={"private": "on"}).headers["Location"]
    bin_id = location.rsplit("/", 1)[1]
    response = client.post(f"/bins/{bin_id}/access", data={"action": "regenerate"}, headers=HTMX)
    assert response.status_code == 200
    drawer = parse(response.data).find(id="bin-access")
    assert drawer.find(id="bin-token").attrs["value"] == bin_token(SECRET, bin_id, 1)
    assert client.get(f"/api/bins/{bin_id}").get_json()["access"] == "owner"


def test_a_public_bin_is_everyones_who_knows_its_id(client, bins: BinActions):
    bin_id = bins.create()["id"]
    assert client.get(f"/api/bins/{bin_id}").get_json()["access"] == "owner"
    assert "token" not in client.get(f"/api/bins/{bin_id}").get_json()


# a team deployment ------------------------------------------------------------------------


def test_in_a_team_deployment_the_share_token_passes_the_gate_for_reading_only(make_app):
    team = make_app(RECEIVER_ACCESS_TOKEN="team-secret")
    member = team.test_client()
    made = member.post("/api/bins", json={"private": True}, headers=bearer("team-secret"))
    made = made.get_json()
    holder = team.test_client()
    shown = holder.get(f"/api/bins/{made['id']}", headers=bearer(share_token(made)))
    assert shown.status_code == 200 and shown.get_json()["access"] == "read"
    refused = holder.delete(f"/api/bins/{made['id']}", headers=bearer(share_token(made)))
    assert refused.status_code == 403
