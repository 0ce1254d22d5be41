"""Qovery's organization webhook API, simulated: list, create, get, edit and delete with the
documented fields (kind, target_url, target_secret never read back, events, the project name
and environment type filters), uuid ids, organization isolation, and deliveries that reach
exactly the webhooks whose filters pass. Through HTTP on both databases."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from simulated import Tenant
from simulated import delivered_paths
from simulated import error_of

from receiver.simulators.qovery import name_matches
from receiver.web.serving import RAW_HEADERS_KEY

EVENT = "DEPLOYMENT_FAILURE"
SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
WEBHOOK_FIELDS = {
    "id",
    "created_at",
    "updated_at",
    "kind",
    "target_url",
    "target_secret_set",
    "description",
    "enabled",
    "events",
    "project_names_filter",
    "environment_types_filter",
}


def create(org: Tenant, **fields: Any) -> dict[str, Any]:
    body = {
        "kind": "STANDARD",
        "target_url": "http://127.0.0.1:9/hook",
        "events": [EVENT],
        **fields,
    }
    return org.ok("POST", f"/organization/{org.id}/webhook", body, status=201)


@pytest.fixture
def org(client: Any) -> Tenant:
    return Tenant(client, "qovery")


def test_the_documented_operations_and_the_webhook_object(org: Tenant) -> None:
    made = create(org, target_secret="s3cret", description="prod failures")
    assert set(made) == WEBHOOK_FIELDS
    assert uuid.UUID(made["id"]) and SECONDS.fullmatch(made["created_at"])
    assert made["target_secret_set"] is True and "target_secret" not in made
    assert made["enabled"] is True and made["description"] == "prod failures"
    assert made["project_names_filter"] == [] and made["environment_types_filter"] == []
    webhooks = f"/organization/{org.id}/webhook"
    one = f"{webhooks}/{made['id']}"

    assert org.ok("GET", webhooks) == {"results": [made]}
    assert org.ok("GET", one) == made
    # PUT takes the create body: every field as given; a secret left out stays
    edited = org.ok(
        "PUT",
        one,
        {"kind": "STANDARD", "target_url": "https://x/q", "events": [], "enabled": False},
    )
    assert edited["target_url"] == "https://x/q" and edited["enabled"] is False
    assert edited["description"] is None and edited["target_secret_set"] is True
    assert "s3cret" not in json.dumps(edited)
    cleared = org.ok(
        "PUT", one, {"kind": "SLACK", "target_url": "https://x", "events": [], "target_secret": ""}
    )
    assert cleared["target_secret_set"] is False and cleared["kind"] == "SLACK"
    error_of(org.call("PATCH", one, {"enabled": True}), 405)

    deleted = org.call("DELETE", one)
    assert deleted.status_code == 204 and deleted.data == b""
    error_of(org.call("GET", one), 404)
    assert org.ok("GET", webhooks) == {"results": []}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"kind": None}, '"kind" is a required property'),
        ({"kind": "DISCORD"}, "/kind"),
        ({"target_url": "ftp://x"}, "/target_url"),
        ({"target_url": "example.com/hooks"}, "/target_url"),
        ({"events": ["DEPLOYMENT_DONE"]}, "/events/0"),
        ({"events": "DEPLOYMENT_FAILURE"}, "/events"),
        ({"environment_types_filter": ["production"]}, "/environment_types_filter/0"),
        ({"project_names_filter": "shop"}, "/project_names_filter"),
        ({"enabled": "true"}, "/enabled"),
        ({"target_secret": "a\nb"}, "/target_secret"),
    ],
)
def test_a_body_that_breaks_the_documented_fields_is_a_400(
    org: Tenant, change: dict[str, Any], words: str
) -> None:
    body = {"kind": "STANDARD", "target_url": "https://x", "events": [EVENT], **change}
    body = {key: value for key, value in body.items() if value is not None}
    answer = org.call("POST", f"/organization/{org.id}/webhook", body)
    assert words in error_of(answer, 400)["message"]
    assert org.ok("GET", f"/organization/{org.id}/webhook") == {"results": []}


def test_required_fields(org: Tenant) -> None:
    answer = org.call("POST", f"/organization/{org.id}/webhook", {})
    message = error_of(answer, 400)["message"]
    for field in ("kind", "target_url", "events"):
        assert f'"{field}" is a required property' in message


def test_ids_tokens_and_organizations(client: Any, org: Tenant) -> None:
    made = create(org)
    one = f"/organization/{org.id}/webhook/{made['id']}"
    error_of(org.call("GET", one, token=""), 401)
    error_of(org.call("GET", f"/organization/{org.id}/webhook/42"), 400)
    error_of(org.call("GET", "/organization/acme/webhook"), 400)
    error_of(org.call("GET", f"/organization/{org.id}/webhook/{uuid.uuid4()}"), 404)
    assert org.ok("GET", one.replace(org.id, org.id.upper()))["id"] == made["id"]
    other = Tenant(client, "qovery")
    error_of(other.call("GET", one), 403)
    error_of(other.call("GET", f"/organization/{org.id}/webhook"), 403)
    error_of(other.call("DELETE", one), 403)
    # their own path does not show another organization's webhook
    error_of(other.call("GET", f"/organization/{other.id}/webhook/{made['id']}"), 404)
    named = Tenant(client, "qovery", organization=org.id)
    assert named.ok("GET", one) == made


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("product*", "production-api", True),
        ("product*", "Product", True),
        ("PRODUCT*", "product-x", True),
        ("*-api", "shop-api", True),
        ("*", "", True),
        ("shop", "shop", True),
        ("shop", "shop-2", False),
        ("s*p*-a*i", "shop-api", True),
        ("s*p*-a*i", "shop-ap", False),
        ("a*a*a*a*a*a*a*a*a*b", "a" * 200, False),
        ("*.*", "shop.v2", True),
        ("shop?", "shopx", False),
    ],
)
def test_project_name_filters_are_case_insensitive_with_star_wildcards(
    pattern: str, name: str, matches: bool
) -> None:
    assert name_matches(pattern, name) is matches


def test_a_trigger_reaches_exactly_the_webhooks_whose_filters_pass(
    client: Any, org: Tenant, target: Any
) -> None:
    cases = {
        "/any": {},
        "/shop-wildcard": {"project_names_filter": ["SHOP*"]},
        "/other-project": {"project_names_filter": ["billing"]},
        "/production": {"environment_types_filter": ["PRODUCTION", "STAGING"]},
        "/preview": {"environment_types_filter": ["PREVIEW"]},
        "/both": {"project_names_filter": ["*-api"], "environment_types_filter": ["PRODUCTION"]},
        "/disabled": {"enabled": False},
        "/other-event": {"events": ["DEPLOYMENT_STARTED"]},
        "/slack": {"kind": "SLACK"},
    }
    for path, fields in cases.items():
        target.expect_request(path).respond_with_data("ok")
        create(org, target_url=target.url_for(path), **fields)
    target.expect_request("/stranger").respond_with_data("ok")
    create(Tenant(client, "qovery"), target_url=target.url_for("/stranger"))

    fired = org.trigger(
        event=EVENT, organization_id=org.id, project_name="shop-api", environment_type="PRODUCTION"
    )
    assert sorted(delivered_paths(target)) == ["/any", "/both", "/production", "/shop-wildcard"]
    assert fired["matched"] == 5  # the SLACK webhook matched too, and was not sent
    [slack] = [d for d in fired["deliveries"] if d["url"].endswith("/slack")]
    assert slack["status_code"] is None and "SLACK" in slack["error"]
    assert slack["request_headers"] == []

    target.clear_log()
    org.trigger(event=EVENT, organization_id=org.id)  # no project name, no environment type
    assert delivered_paths(target) == ["/any"]


def test_a_delivery_is_the_documented_body_with_the_secret_in_a_header(
    org: Tenant, target: Any
) -> None:
    target.expect_request("/hook").respond_with_data("ok")
    create(org, target_url=target.url_for("/hook"), target_secret="s3cret")
    org.trigger(event=EVENT, organization_id=org.id, set={"/payload/project/name": "shop"})
    request = target.log[0][0]
    body = json.loads(request.get_data())
    assert body["event_type"] == EVENT and body["payload_type"] == "DEPLOYMENT"
    assert body["payload"]["organization"]["id"] == org.id
    assert body["payload_id"] == body["payload"]["id"] and uuid.UUID(body["payload_id"])
    assert SECONDS.fullmatch(body["created_at"])
    assert body["payload"]["project"]["name"] == "shop"
    headers = request.environ[RAW_HEADERS_KEY]
    # Qovery's sources disagree on the header: both, by default
    assert ("Qovery-Signature", "s3cret") in headers and ("Qovery-Secret", "s3cret") in headers


@pytest.mark.parametrize("header", ["Qovery-Signature", "Qovery-Secret"])
def test_the_secret_header_is_a_setting(org: Tenant, target: Any, header: str) -> None:
    target.expect_request("/hook").respond_with_data("ok")
    target.expect_request("/no-secret").respond_with_data("ok")
    create(org, target_url=target.url_for("/hook"), target_secret="s3cret")
    create(org, target_url=target.url_for("/no-secret"))
    assert org.ok("GET", "/settings")["secret_header"] == "both"
    assert org.ok("PATCH", "/settings", {"secret_header": header})["secret_header"] == header
    org.trigger(event=EVENT, organization_id=org.id)
    sent = {request.path: request.environ[RAW_HEADERS_KEY] for request, _ in target.log}
    assert [name for name, _ in sent["/hook"] if name.startswith("Qovery")] == [header]
    assert not [name for name, _ in sent["/no-secret"] if name.startswith("Qovery")]


def test_a_trigger_names_its_organization(client: Any, org: Tenant) -> None:
    answer = client.post("/mock/qovery/events", json={"event": EVENT})
    assert "organization_id" in error_of(answer, 400)["message"]
    answer = client.post(
        "/mock/qovery/events",
        json={"event": EVENT, "organization_id": org.id, "environment_type": "prod"},
    )
    assert "/environment_type" in error_of(answer, 400)["message"]
