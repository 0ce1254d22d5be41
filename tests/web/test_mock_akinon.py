"""Akinon ABP's project webhook API, simulated: every documented operation, field rule, id
pattern and status, through HTTP on both databases, and triggers that reach exactly the
matching webhooks (real HTTP targets on loopback)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from simulated import Tenant
from simulated import delivered_paths
from simulated import error_of

from receiver.web.serving import RAW_HEADERS_KEY

EVENT = "deployment.build.created"
PROJECT = "63ea10b94a472e0033052300"
OTHER_PROJECT = "63ea10b94a472e0033052301"
OBJECT_ID = re.compile(r"[0-9a-f]{24}")
MILLIS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
WEBHOOK_FIELDS = {"_id", "name", "url", "headers", "active", "events", "createdAt", "updatedAt"}


def webhooks(tenant: Tenant, project: str = PROJECT) -> str:
    return f"/organizations/{tenant.id}/projects/{project}/settings/webhooks"


def create(tenant: Tenant, project: str = PROJECT, **fields: Any) -> dict[str, Any]:
    body = {"name": "ci", "url": "http://127.0.0.1:9/hook", "events": [EVENT], **fields}
    return tenant.ok("POST", webhooks(tenant, project), body, status=201)


@pytest.fixture
def org(client: Any) -> Tenant:
    return Tenant(client, "akinon")


def test_the_documented_operations_and_shapes(org: Tenant) -> None:
    made = create(org, headers={"X-Api-Key": "s3cret"})
    assert set(made) == WEBHOOK_FIELDS
    assert OBJECT_ID.fullmatch(made["_id"])
    assert made["active"] is True  # the documented default
    assert made["headers"] == {"X-Api-Key": "s3cret"}
    assert MILLIS.fullmatch(made["createdAt"]) and MILLIS.fullmatch(made["updatedAt"])
    one = f"{webhooks(org)}/{made['_id']}"

    assert org.ok("GET", webhooks(org)) == [made]
    assert org.ok("GET", one) == made
    changed = org.ok("PATCH", one, {"active": False, "name": "paused"})
    assert {**made, "active": False, "name": "paused", "updatedAt": changed["updatedAt"]} == changed
    assert changed["updatedAt"] >= made["updatedAt"]
    # a PATCH leaves out what it does not give
    assert org.ok("PATCH", one, {"events": ["x.y"]})["headers"] == {"X-Api-Key": "s3cret"}

    deleted = org.call("DELETE", one)
    assert deleted.status_code == 204 and deleted.data == b""
    error_of(org.call("GET", one), 404)
    error_of(org.call("DELETE", one), 404)
    assert org.ok("GET", webhooks(org)) == []


def test_a_project_lists_only_its_own_webhooks(org: Tenant) -> None:
    mine = create(org)
    theirs = create(org, OTHER_PROJECT)
    assert [w["_id"] for w in org.ok("GET", webhooks(org))] == [mine["_id"]]
    assert [w["_id"] for w in org.ok("GET", webhooks(org, OTHER_PROJECT))] == [theirs["_id"]]
    error_of(org.call("GET", f"{webhooks(org)}/{theirs['_id']}"), 404)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"url": "http://x", "events": [EVENT]}, '"name" is a required property'),
        ({"name": "n", "events": [EVENT]}, '"url" is a required property'),
        ({"name": "n", "url": "http://x"}, '"events" is a required property'),
        ({"name": 5, "url": "http://x", "events": [EVENT]}, "/name"),
        ({"name": "n", "url": "http://x", "events": EVENT}, "/events"),
        ({"name": "n", "url": "http://x", "events": [3]}, "/events/0"),
        ({"name": "n", "url": "http://x", "events": [EVENT], "active": "true"}, "/active"),
        ({"name": "n", "url": "http://x", "events": [EVENT], "headers": []}, "/headers"),
        ({"name": "n", "url": "http://x", "events": [EVENT], "headers": {"A": 1}}, "/headers/A"),
        ({"name": "n", "url": "http://x", "events": [EVENT], "headers": {"A B": "v"}}, "/headers"),
        (
            {"name": "n", "url": "http://x", "events": [EVENT], "headers": {"A": "v\nw"}},
            "/headers/A",
        ),
        ({"name": "n", "url": "x" * 2049, "events": [EVENT]}, "/url"),
    ],
)
def test_a_body_that_breaks_the_documented_fields_is_a_400(
    org: Tenant, body: dict[str, Any], where: str
) -> None:
    error = error_of(org.call("POST", webhooks(org), body), 400)
    assert where in error["message"]
    assert org.ok("GET", webhooks(org)) == []


def test_a_patch_is_checked_like_a_create(org: Tenant) -> None:
    one = f"{webhooks(org)}/{create(org)['_id']}"
    assert "/active" in error_of(org.call("PATCH", one, {"active": 1}), 400)["message"]
    error_of(org.call("PATCH", one, data="x", content_type="text/plain"), 415)
    error_of(org.call("PATCH", one, data="[1]", content_type="application/json"), 400)
    assert org.ok("GET", one)["active"] is True


@pytest.mark.parametrize(
    "path",
    [
        "/organizations/{org}/projects/nope/settings/webhooks",
        "/organizations/{org}/projects/" + "g" * 24 + "/settings/webhooks",
        "/organizations/x{org}/projects/" + PROJECT + "/settings/webhooks",
        "/organizations/{org}/projects/" + PROJECT + "/settings/webhooks/123",
    ],
)
def test_ids_must_match_the_documented_pattern(org: Tenant, path: str) -> None:
    error = error_of(org.call("GET", path.format(org=org.id)), 400)
    assert "^[0-9a-fA-F]{24}$" in error["message"] or "not a webhook id" in error["message"]


def test_ids_are_compared_without_regard_to_case(org: Tenant) -> None:
    made = create(org)
    upper = f"/organizations/{org.id.upper()}/projects/{PROJECT.upper()}/settings/webhooks"
    assert org.ok("GET", f"{upper}/{made['_id'].upper()}")["_id"] == made["_id"]


def test_tokens_are_bearer_tokens_of_one_organization(client: Any, org: Tenant) -> None:
    made = create(org)
    one = f"{webhooks(org)}/{made['_id']}"
    for token in ("", "rsim_not-issued"):
        answer = org.call("GET", one, token=token)
        assert error_of(answer, 401)["code"] == "unauthorized"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    basic = org.call("GET", one, token="", headers={"Authorization": f"Basic {org.token}"})
    error_of(basic, 401)

    other = Tenant(client, "akinon")
    for method, body in (("GET", None), ("PATCH", {"active": False}), ("DELETE", None)):
        error_of(other.call(method, one, body), 403)
    error_of(other.call("GET", webhooks(org)), 403)
    error_of(other.call("POST", webhooks(org), {"name": "n", "url": "u", "events": []}), 403)
    assert org.ok("GET", one) == made
    # a qovery token is no akinon token
    qovery = Tenant(client, "qovery")
    error_of(org.call("GET", one, token=qovery.token), 401)


def test_a_token_for_a_named_organization(client: Any) -> None:
    named = Tenant(client, "akinon", organization="5F8D0D55B54764421B7156C3")
    assert named.id == "5f8d0d55b54764421b7156c3"
    refused = client.post("/mock/akinon/tokens", json={"organization": "5f8d"})
    assert "organization" in error_of(refused, 400)["message"]


def test_a_trigger_reaches_exactly_the_matching_webhooks(
    client: Any, org: Tenant, target: Any
) -> None:
    for path in ("/match", "/inactive", "/other-event", "/other-project", "/other-org"):
        target.expect_request(path).respond_with_data("thanks", status=202)
    create(org, url=target.url_for("/match"), headers={"X-Api-Key": "k1", "User-Agent": "mine"})
    create(org, url=target.url_for("/inactive"), active=False)
    create(org, url=target.url_for("/other-event"), events=["deployment.build.succeeded"])
    create(org, OTHER_PROJECT, url=target.url_for("/other-project"))
    other = Tenant(client, "akinon")
    create(other, url=target.url_for("/other-org"))

    fired = org.trigger(event=EVENT, organization_id=org.id, project_id=PROJECT)

    assert delivered_paths(target) == ["/match"]
    assert fired["matched"] == 1 and fired["skipped"] == 0
    [delivery] = fired["deliveries"]
    assert delivery["status_code"] == 202 and delivery["error"] is None
    assert delivery["response_body"] == "thanks"
    request = target.log[0][0]
    assert request.method == "POST"
    assert request.get_data() == b"{}"  # the body is undocumented: the catalog's {}
    sent = request.environ[RAW_HEADERS_KEY]
    assert ("X-Api-Key", "k1") in sent
    # the webhook's headers win over the delivery's own of the same name
    assert [value for name, value in sent if name.lower() == "user-agent"] == ["mine"]
    assert ("Content-Type", "application/json") in sent
    assert ("X-Receiver-Sample", f"akinon/{EVENT}") in sent
    assert not any("signature" in name.lower() for name, _ in sent)


def test_set_shapes_the_undocumented_body(org: Tenant, target: Any) -> None:
    target.expect_request("/hook").respond_with_data("ok")
    create(org, url=target.url_for("/hook"))
    body = {"build": {"id": 7, "status": "created"}}
    org.trigger(event=EVENT, organization_id=org.id, project_id=PROJECT, set={"": body})
    org.trigger(event=EVENT, organization_id=org.id, project_id=PROJECT, set={"build.id": 8})
    sent = [json.loads(request.get_data()) for request, _ in target.log]
    assert sent == [body, {"build": {"id": 8}}]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"event": "nope", "project_id": PROJECT}, "/event"),
        ({"event": EVENT}, "project_id (--project-id) is required"),
        ({"event": EVENT, "project_id": "p"}, "/project_id"),
        ({"event": EVENT, "project_id": PROJECT, "set": {"/x": 1, "/x/y": 2}}, "set:"),
        ({"event": EVENT, "project_id": PROJECT, "set": []}, "/set"),
    ],
)
def test_a_trigger_that_breaks_the_rules_is_a_400_and_sends_nothing(
    client: Any, org: Tenant, target: Any, body: dict[str, Any], words: str
) -> None:
    create(org, url=target.url_for("/hook"))
    answer = client.post("/mock/akinon/events", json={"organization_id": org.id, **body})
    assert words in error_of(answer, 400)["message"]
    assert target.log == []
    assert org.ok("GET", "/deliveries")["deliveries"] == []


def test_deliveries_are_recorded_for_their_organization_only(
    client: Any, org: Tenant, target: Any
) -> None:
    target.expect_request("/hook").respond_with_json({"ok": True}, status=201)
    made = create(org, url=target.url_for("/hook"))
    fired = org.trigger(event=EVENT, organization_id=org.id, project_id=PROJECT)
    [listed] = org.ok("GET", "/deliveries")["deliveries"]
    assert listed == fired["deliveries"][0]
    assert listed["webhook_id"] == made["_id"] and listed["event"] == EVENT
    assert listed["attributes"] == {"organization_id": org.id, "project_id": PROJECT}
    assert listed["request_body"] == "{}" and listed["status_code"] == 201
    assert json.loads(listed["response_body"]) == {"ok": True}
    assert org.ok("GET", f"/deliveries/{listed['id']}") == listed
    assert org.ok("GET", "/deliveries", query_string={"webhook_id": "0" * 24})["deliveries"] == []

    other = Tenant(client, "akinon")
    assert other.ok("GET", "/deliveries")["deliveries"] == []
    error_of(other.call("GET", f"/deliveries/{listed['id']}"), 404)
    error_of(org.call("GET", "/deliveries", query_string={"limit": 0}), 400)
