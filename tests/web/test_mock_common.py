"""What the three mocks share: their OpenAPI documents (valid, served, and covering exactly the
routes each mock has), tokens, settings, resets, the delivery list, error shapes, and their place
beside the team gate and the cross-site check. Both databases."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
from simulated import Tenant
from simulated import error_of

from receiver.simulators.registry import SIMULATORS

PROVIDERS = tuple(SIMULATORS)
RULE_VARIABLE = re.compile(r"<(?:(?P<converter>[a-z_]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
METHODS = ("get", "put", "post", "delete", "patch")


def camel(name: str) -> str:
    """``organization_id`` -> ``organizationId``: the providers' own parameter names."""
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def mock_routes(app: Flask, provider: str) -> dict[tuple[str, str], dict[str, str]]:
    """``(METHOD, path below /mock/<provider>)`` of each of a mock's routes -> its variables
    (named as the document names them) and their converters."""
    prefix = f"/mock/{provider}"
    routes = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(prefix + "/"):
            continue
        path = RULE_VARIABLE.sub(lambda m: "{" + camel(m["name"]) + "}", rule.rule[len(prefix) :])
        variables = {
            camel(m["name"]): m["converter"] or "default" for m in RULE_VARIABLE.finditer(rule.rule)
        }
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes[(method, path)] = variables
    return routes


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_mock_is_described_by_its_own_valid_document(
    app: Flask, client: Any, provider: str
) -> None:
    answer = client.get(f"/mock/{provider}/openapi.json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    doc = answer.get_json()
    validate(doc, cls=OpenAPIV31SpecValidator)
    assert doc["servers"] == [{"url": f"http://localhost/mock/{provider}"}]
    assert "simulator's choices" in doc["info"]["description"]
    operations = {
        (method.upper(), path): item[method]
        for path, item in doc["paths"].items()
        for method in METHODS
        if method in item
    }
    routes = mock_routes(app, provider)
    assert sorted(set(routes) - set(operations)) == [], "routes missing from the document"
    assert sorted(set(operations) - set(routes)) == [], "documented routes that do not exist"
    for (method, path), variables in routes.items():
        item = doc["paths"][path]
        declared = {}
        for parameter in [
            *item.get("parameters", []),
            *operations[(method, path)].get("parameters", []),
        ]:
            if "$ref" in parameter:
                parameter = doc["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
            if parameter["in"] == "path":
                declared[parameter["name"]] = parameter["schema"]["type"]
        assert declared == {
            name: "integer" if converter == "int" else "string"
            for name, converter in variables.items()
        }, (method, path)
        assert operations[(method, path)].get("summary"), (method, path)


def test_the_mock_routes_are_not_in_the_apis_document(client: Any) -> None:
    """/api/openapi.json describes /api; each mock is described at /mock/<provider>/openapi.json,
    which the API's document names."""
    doc = client.get("/api/openapi.json").get_json()
    assert not [path for path in doc["paths"] if path.startswith("/mock")]
    for provider in PROVIDERS:
        assert f"/mock/{provider}/openapi.json" in doc["info"]["description"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tokens_name_their_tenant_or_make_one(client: Any, provider: str) -> None:
    first, second = Tenant(client, provider), Tenant(client, provider)
    assert first.id != second.id and first.token != second.token
    again = Tenant(client, provider, **{SIMULATORS[provider].tenant_kind: first.id})
    assert again.id == first.id and again.token != first.token
    not_json = client.post(f"/mock/{provider}/tokens", data="x", content_type="text/plain")
    assert not_json.status_code == 415 and not_json.mimetype == "application/json"
    listed = client.post(f"/mock/{provider}/tokens", data="[1]", content_type="application/json")
    assert listed.status_code == 400


@pytest.mark.parametrize("provider", PROVIDERS)
def test_settings_start_at_their_stated_defaults(client: Any, provider: str) -> None:
    tenant = Tenant(client, provider)
    simulator = SIMULATORS[provider]
    assert tenant.ok("GET", "/settings") == simulator.defaults()
    assert tenant.ok("GET", "/settings")["retries"] == 0
    assert tenant.ok("PATCH", "/settings", {"timeout_seconds": 3})["timeout_seconds"] == 3
    for bad in ({"timeout_seconds": 0}, {"retries": 4}, {"retries": True}, {"colour": "red"}):
        assert tenant.call("PATCH", "/settings", bad).status_code == 400
    assert tenant.ok("GET", "/settings")["timeout_seconds"] == 3
    assert Tenant(client, provider).ok("GET", "/settings")["timeout_seconds"] == 10
    assert tenant.call("GET", "/settings", token="").status_code == 401


def test_a_reset_forgets_webhooks_deliveries_and_settings_not_tokens(
    client: Any, target: Any
) -> None:
    target.expect_request("/hook").respond_with_data("ok")
    org = Tenant(client, "qovery")
    neighbour = Tenant(client, "qovery")
    body = {
        "kind": "STANDARD",
        "target_url": target.url_for("/hook"),
        "events": ["DEPLOYMENT_STARTED"],
    }
    for tenant in (org, neighbour):
        tenant.ok("POST", f"/organization/{tenant.id}/webhook", body, status=201)
        tenant.ok("PATCH", "/settings", {"retries": 1})
        tenant.trigger(event="DEPLOYMENT_STARTED", organization_id=tenant.id)
    assert org.call("POST", "/reset").status_code == 204
    assert org.ok("GET", f"/organization/{org.id}/webhook") == {"results": []}
    assert org.ok("GET", "/deliveries")["deliveries"] == []
    assert org.ok("GET", "/settings")["retries"] == 0
    assert len(neighbour.ok("GET", f"/organization/{neighbour.id}/webhook")["results"]) == 1
    assert len(neighbour.ok("GET", "/deliveries")["deliveries"]) == 1
    assert neighbour.ok("GET", "/settings")["retries"] == 1


def test_the_delivery_list_pages_newest_first(client: Any, target: Any) -> None:
    target.expect_request("/hook").respond_with_data("ok")
    user = Tenant(client, "apitree")
    made = user.ok(
        "POST",
        "/webhooks",
        {"url": target.url_for("/hook"), "events": [{"name": "user.created"}]},
        status=201,
    )
    for _ in range(3):
        user.trigger(event="user.created", user_id=user.id)
    listed = user.ok("GET", "/deliveries", query_string={"limit": 2})["deliveries"]
    assert len(listed) == 2 and listed[0]["id"] > listed[1]["id"]
    mine = user.ok("GET", "/deliveries", query_string={"webhook_id": made["id"]})["deliveries"]
    assert len(mine) == 3
    for bad in ("0", "201", "x", "-1"):
        assert user.call("GET", "/deliveries", query_string={"limit": bad}).status_code == 400
    assert user.call("GET", "/deliveries/99999999999999999999").status_code == 404


@pytest.mark.parametrize("provider", ["akinon", "qovery"])
def test_errors_are_receivers_where_the_provider_documents_none(client: Any, provider: str) -> None:
    error_of(client.get(f"/mock/{provider}/nowhere"), 404)
    answer = client.delete(f"/mock/{provider}/tokens")
    assert error_of(answer, 405) and answer.headers["Allow"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_cross_site_write_is_refused_in_the_mocks_shape(client: Any, provider: str) -> None:
    answer = client.post(
        f"/mock/{provider}/tokens", json={}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert answer.status_code == 403 and answer.mimetype == "application/json"
    body = answer.get_json()
    message = body["message"] if provider == "apitree" else body["error"]["message"]
    assert "cross-site" in message


@pytest.mark.parametrize("app_config", [{"RECEIVER_ACCESS_TOKEN": "team-token"}], ids=["team"])
def test_in_a_team_deployment_the_mocks_use_their_own_tokens(client: Any) -> None:
    team = {"Authorization": "Bearer team-token"}
    refused = client.post("/mock/apitree/tokens", json={})
    assert refused.status_code == 401 and refused.get_json()["code"] == 401
    issued = client.post("/mock/apitree/tokens", json={"user": "u1"}, headers=team)
    assert issued.status_code == 201
    mock = {"Authorization": f"Bearer {issued.get_json()['token']}"}
    # the provider's routes and the tenant's own take the mock's token, not the team's
    assert client.get("/mock/apitree/webhooks", headers=mock).status_code == 200
    assert client.get("/mock/apitree/webhooks", headers=team).status_code == 401
    assert client.get("/mock/apitree/settings", headers=mock).status_code == 200
    assert client.get("/mock/apitree/openapi.json").status_code == 200
    # making events happen and the pages stay behind the team's gate
    trigger = {"event": "user.created", "user_id": "u1"}
    assert client.post("/mock/apitree/events", json=trigger, headers=mock).status_code == 401
    assert client.post("/mock/apitree/events", json=trigger, headers=team).status_code == 200
    assert client.get("/simulator/apitree").status_code == 303


def test_the_readme_says_what_each_provider_leaves_undocumented() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Stand in for a provider", 1)[1].split("\n## ", 1)[0]
    for simulator in SIMULATORS.values():
        assert f"**{simulator.name.split(' Event-API')[0]}.**" in section, simulator.name
        for setting in simulator.settings:
            assert f"`{setting.name}`" in section, (simulator.id, setting.name)
        for attribute in simulator.attributes:
            assert f"`{attribute.name}`" in section and attribute.option in section
        assert f"{simulator.id}_mock" in section and f"/mock/{simulator.id}/openapi.json" in section
