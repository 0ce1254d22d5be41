"""The served OpenAPI document is complete and truthful about the running app.

- Every ``/api`` route and method of ``app.url_map`` is in ``paths``, and nothing else is. The
  simulated providers' routes (``/mock/<provider>/…``) are described by a document of their
  own each; tests/web/test_mock_common.py checks those the same way, and that this document
  names them.
- The document carries the app's own limits (the response delay cap).
- Every answer of a walk through every operation (the documented examples as bodies) has a
  documented status, content type and shape; every error is the shared ``Error``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
from referencing import Registry
from referencing import Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

DOC_URI = "urn:receiver:openapi"
METHODS = ("get", "put", "post", "delete", "patch")
# a Flask rule's variable, with or without a converter: <bin_id>, <int:request_id>
RULE_VARIABLE = re.compile(r"<(?:(?P<converter>[a-z_]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path template: ``<int:request_id>`` -> ``{request_id}``."""
    return RULE_VARIABLE.sub(lambda match: "{" + match["name"] + "}", rule)


def api_routes(app: Flask) -> dict[tuple[str, str], dict[str, str]]:
    """``(METHOD, path template)`` of every ``/api`` route -> its variables and converters."""
    routes = {}
    for rule in app.url_map.iter_rules():
        if not (rule.rule == "/api" or rule.rule.startswith("/api/")):
            continue
        variables = {
            m["name"]: m["converter"] or "default" for m in RULE_VARIABLE.finditer(rule.rule)
        }
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes[(method, openapi_path(rule.rule))] = variables
    return routes


def documented_operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): item[method]
        for path, item in doc["paths"].items()
        for method in METHODS
        if method in item
    }


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (one level is all the document uses outside schemas)."""
    if "$ref" not in node:
        return node
    found: Any = doc
    for part in node["$ref"].removeprefix("#/").split("/"):
        found = found[part]
    return found


def path_parameters(doc: dict[str, Any], path: str, method: str) -> dict[str, dict[str, Any]]:
    """The path parameters of an operation (operation level overrides path level), by name."""
    item = doc["paths"][path]
    found = {}
    for parameter in [*item.get("parameters", []), *item[method].get("parameters", [])]:
        parameter = resolve(doc, parameter)
        if parameter["in"] == "path":
            found[parameter["name"]] = parameter
    return found


@pytest.fixture
def doc(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_every_api_route_and_method_is_documented(app: Flask, doc: dict[str, Any]) -> None:
    routes = api_routes(app)
    operations = documented_operations(doc)
    assert len(routes) > 20
    assert sorted(set(routes) - set(operations)) == [], "routes missing from paths"
    assert sorted(set(operations) - set(routes)) == [], "documented routes that do not exist"
    for (method, path), variables in routes.items():
        parameters = path_parameters(doc, path, method.lower())
        assert set(parameters) == set(variables), (method, path)
        for name, converter in variables.items():
            kind = parameters[name]["schema"]["type"]
            assert kind == ("integer" if converter == "int" else "string"), (method, path, name)


def test_the_rule_conversion_follows_flask() -> None:
    assert openapi_path("/api/bins/<bin_id>/requests/<int:request_id>") == (
        "/api/bins/{bin_id}/requests/{request_id}"
    )
    assert openapi_path("/api/x/<int(min=1):n>/<path:rest>") == "/api/x/{n}/{rest}"


def test_the_served_document_is_valid_and_carries_the_apps_delay_cap(make_app: Any) -> None:
    app = make_app(RECEIVER_MAX_RESPONSE_DELAY_MS=1234)
    client = app.test_client()
    doc = client.get("/api/openapi.json").get_json()
    validate(doc, cls=OpenAPIV31SpecValidator)
    answer = doc["components"]["schemas"]["BinAnswer"]["properties"]
    assert answer["delay_ms"]["maximum"] == 1234
    bin_id = client.post("/api/bins", json={}).get_json()["id"]
    at_cap = client.patch(f"/api/bins/{bin_id}", json={"response": {"delay_ms": 1234}})
    assert at_cap.status_code == 200
    over = client.patch(f"/api/bins/{bin_id}", json={"response": {"delay_ms": 1235}})
    assert over.status_code == 400
    assert doc["servers"] == [{"url": "http://localhost"}]


# an OpenAPI 3.1 document with one webhook, for the import route
OPENAPI = b"""openapi: 3.1.0
info: {title: Hub, version: "1"}
webhooks:
  ping:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Ping"}
            example: {zen: "Keep it simple"}
      responses: {"200": {description: ok}}
components:
  schemas:
    Ping: {type: object, required: [zen], properties: {zen: {type: string}}}
"""


class Conformance:
    """Sends requests through the test client and checks each answer against the document."""

    def __init__(self, client: FlaskClient, doc: dict[str, Any]) -> None:
        self.client = client
        self.doc = doc
        self.registry = Registry().with_resource(
            DOC_URI, Resource(contents=doc, specification=DRAFT202012)
        )
        self.seen: set[tuple[str, str, str]] = set()

    def example(self, method: str, path: str) -> Any:
        """The first documented example of an operation's request body."""
        body = self.doc["paths"][path][method.lower()]["requestBody"]
        return next(iter(body["content"]["application/json"]["examples"].values()))["value"]

    def call(
        self, method: str, path: str, params: dict[str, Any] | None = None, **kwargs: Any
    ) -> TestResponse:
        """Send ``method`` to ``path`` (a template filled from ``params``) and check the answer."""
        url = path.format(**(params or {}))
        response = self.client.open(url, method=method, **kwargs)
        self.check(method, path, response)
        return response

    def check(self, method: str, path: str, response: TestResponse) -> None:
        operation = self.doc["paths"][path][method.lower()]
        status = str(response.status_code)
        where = f"{method} {path} -> {status}"
        assert status in operation["responses"], f"{where}: undocumented status"
        self.seen.add((method, path, status))
        documented = resolve(self.doc, operation["responses"][status])
        content = documented.get("content")
        if not content:
            assert not response.data, f"{where}: a body where none is documented"
            return
        media_type = response.mimetype if response.mimetype in content else "*/*"
        assert media_type in content, f"{where}: {response.mimetype} is not documented"
        if int(status) >= 400:
            assert content[media_type]["schema"] == {"$ref": "#/components/schemas/Error"}
        if response.mimetype == "application/json":
            self.assert_valid(content[media_type]["schema"], response.get_json(), where)

    def assert_valid(self, schema: dict[str, Any], value: Any, where: str) -> None:
        if "$ref" in schema:
            schema = {"$ref": DOC_URI + schema["$ref"]}
        validator = Draft202012Validator(
            schema, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]
        assert not errors, f"{where}: {errors}"


def test_every_operation_answers_as_documented(
    client: FlaskClient, doc: dict[str, Any], target: Any
) -> None:
    api = Conformance(client, doc)
    target.expect_request("/hooks").respond_with_data("thanks", status=202)
    hooks = target.url_for("/hooks")

    # bins
    made = api.call("POST", "/api/bins", json=api.example("POST", "/api/bins")).get_json()
    b = {"bin_id": made["id"]}
    api.call("POST", "/api/bins", json={"id": made["id"]})  # 409
    api.call("POST", "/api/bins", json={"id": "NO"})  # 400
    api.call("POST", "/api/bins", data="id=x", content_type="text/plain")  # 415
    private = api.call("POST", "/api/bins", json={"private": True}).get_json()
    bearer = {"Authorization": f"Bearer {private['token']}"}
    renewed = api.call(
        "POST", "/api/bins/{bin_id}/token", {"bin_id": private["id"]}, headers=bearer
    )
    assert renewed.get_json()["token"] != private["token"]
    api.call("POST", "/api/bins/{bin_id}/token", b)  # 409: a public bin has no token
    api.call("POST", "/api/bins/{bin_id}/token", {"bin_id": "no-such-bin"})  # 404
    api.call("GET", "/api/bins/{bin_id}", b)
    settings = api.example("PATCH", "/api/bins/{bin_id}")
    api.call("PATCH", "/api/bins/{bin_id}", b, json={**settings, "forward_url": hooks})
    api.call("PATCH", "/api/bins/{bin_id}", b, json={"response": {"status": 99}})  # 400
    api.call("GET", "/api/bins/{bin_id}", {"bin_id": "no-such-bin"})  # 404

    # a captured request and what can be done with it
    send = api.example("POST", "/api/bins/{bin_id}/send")
    sent = api.call("POST", "/api/bins/{bin_id}/send", b, json=send).get_json()
    r = {**b, "request_id": sent["id"]}
    api.call("POST", "/api/bins/{bin_id}/send", b, json={"provider": "appery"})  # 400
    api.call("POST", "/api/bins/{bin_id}/send", b, json={"provider": "x", "event": "y"})  # 404
    api.call("GET", "/api/bins/{bin_id}/requests", b, query_string={"method": "post"})
    api.call("GET", "/api/bins/{bin_id}/requests", b, query_string={"limit": 0})  # 400
    one = "/api/bins/{bin_id}/requests/{request_id}"
    api.call("GET", one, r)
    api.call("GET", one, {**b, "request_id": sent["id"] + 1000})  # 404
    api.call("GET", f"{one}/raw", r)
    api.call("GET", f"{one}/export.har", r)
    api.call("GET", f"{one}/recording", r, query_string={"name": "build-failed"})
    api.call("GET", f"{one}/recording", r, query_string={"name": "-bad name"})  # 400
    replay = {**api.example("POST", f"{one}/replay"), "url": hooks}
    assert api.call("POST", f"{one}/replay", r, json=replay).get_json()["status_code"] == 202
    api.call("POST", f"{one}/replay", r, json={**replay, "url": "ftp://x"})  # 400
    api.call("GET", f"{one}/replays", r)
    compare = "/api/bins/{bin_id}/compare"
    api.call("GET", compare, b, query_string={"a": sent["id"], "b": sent["id"]})
    api.call("GET", compare, b, query_string={"a": sent["id"]})  # 400
    api.call("GET", compare, b, query_string={"a": sent["id"], "b": sent["id"] + 1000})  # 404
    api.call("GET", "/api/bins/{bin_id}/export.har", b)
    forward = {**api.example("POST", "/api/bins/{bin_id}/forward"), "url": hooks}
    api.call("POST", "/api/bins/{bin_id}/forward", b, json=forward)
    api.call("POST", "/api/bins/{bin_id}/forward", b, json={"since": "yesterday"})  # 400
    api.call("GET", "/api/bins/{bin_id}/forwards", b)
    scenarios = "/api/bins/{bin_id}/scenarios"
    scenario = {**api.example("POST", scenarios), "url": hooks}
    planned = {**b, "scenario_id": api.call("POST", scenarios, b, json=scenario).get_json()["id"]}
    api.call("POST", scenarios, b, json={**scenario, "duplicates": 9})  # 400
    api.call("GET", scenarios, b)
    api.call("GET", scenarios + "/{scenario_id}", planned)
    api.call("GET", scenarios + "/{scenario_id}", {**b, "scenario_id": 10**6})  # 404
    api.call("POST", scenarios + "/{scenario_id}/cancel", planned)
    api.call("POST", scenarios + "/{scenario_id}/cancel", planned)  # 409: already finished

    # the change feed and its listeners (tests/web/test_feed*.py check them in depth)
    api.call("GET", "/api/bins/{bin_id}/feed", b, query_string={"after": 0, "event": ["x"]})
    api.call("GET", "/api/bins/{bin_id}/feed", b, query_string={"wait": 31})  # 400
    named = {**b, "name": "laptop"}
    listener = "/api/bins/{bin_id}/listeners/{name}"
    api.call("PUT", listener, named, json=api.example("PUT", listener))  # 201
    api.call("PUT", listener, named)  # 200
    api.call("GET", "/api/bins/{bin_id}/listeners", b)
    api.call("GET", listener, named)
    report = {**api.example("POST", f"{listener}/deliveries"), "request_id": sent["id"]}
    api.call("POST", f"{listener}/deliveries", named, json=report)
    api.call("POST", f"{listener}/deliveries", named, json={**report, "seq": 10**6})  # 400
    api.call("POST", f"{listener}/leave", named)
    api.call("DELETE", listener, named)
    api.call("POST", f"{listener}/leave", named)  # 404
    api.call("GET", listener, named)  # 404

    # the catalog and validation
    api.call("GET", "/api/catalog")
    event = {"provider": send["provider"], "event": send["event"]}
    api.call("GET", "/api/catalog/{provider}/{event}", event)
    api.call("GET", "/api/catalog/{provider}/{event}", {"provider": "x", "event": "y"})  # 404
    put = api.example("PUT", "/api/catalog/{provider}/{event}")
    user = {"provider": "acme", "event": "thing.happened"}
    api.call("PUT", "/api/catalog/{provider}/{event}", user, json=put)  # 201
    api.call("PUT", "/api/catalog/{provider}/{event}", user, json=put)  # 200
    api.call("PUT", "/api/catalog/{provider}/{event}", {**user, "event": ".x"}, json=put)  # 400
    example = doc["webhooks"][f"{send['provider']}.{send['event']}"]["post"]["requestBody"]
    payload = example["content"]["application/json"]["examples"]["catalog"]["value"]
    api.call("POST", "/api/validate", query_string=event, json=payload)
    api.call("POST", "/api/validate", query_string={"provider": "x", "event": "y"})  # 404
    api.call("GET", "/api/openapi.json")

    # user providers, overrides, OpenAPI imports, promoted examples and drift
    catalog_provider = "/api/catalog/{provider}"
    provider_put = api.example("PUT", catalog_provider)
    api.call("PUT", catalog_provider, {"provider": "hub"}, json=provider_put)  # 201
    api.call("PUT", catalog_provider, {"provider": "hub"}, json=provider_put)  # 200
    api.call("PUT", catalog_provider, {"provider": "hub"}, json={"detection": {"x": 1}})  # 400
    api.call("PUT", catalog_provider, {"provider": "appery"}, json=provider_put)  # 409
    api.call("PUT", catalog_provider, {"provider": "hub"}, data="x", content_type="text/plain")
    api.call("PUT", "/api/catalog/{provider}/{event}", event, json=put)  # 201: an override
    api.call("POST", "/api/catalog/import", query_string={"provider": "hub"}, data=OPENAPI)
    not_31 = b"openapi: 3.0.3"
    api.call("POST", "/api/catalog/import", query_string={"provider": "hub"}, data=not_31)  # 400
    api.call("POST", f"{one}/promote", r, json={"provider": "acme", "event": "thing.happened"})
    api.call("POST", f"{one}/promote", r, json={"event": 5})  # 400
    user_example = "/api/catalog/{provider}/{event}/example"
    api.call("DELETE", user_example, user)  # 200
    api.call("DELETE", user_example, user)  # 404
    api.call("GET", "/api/bins/{bin_id}/drift", b)
    api.call("GET", "/api/bins/{bin_id}/drift", b, query_string=event)
    api.call("DELETE", "/api/catalog/{provider}/{event}", event)  # 204: the shipped one returns
    api.call("DELETE", "/api/catalog/{provider}/{event}", event)  # 409: shipped data
    api.call("DELETE", "/api/catalog/{provider}/{event}", {**user, "event": ".x"})  # 400
    api.call("DELETE", "/api/catalog/{provider}/{event}", {**user, "event": "never"})  # 404
    api.call("DELETE", catalog_provider, {"provider": "hub"})  # 204
    api.call("DELETE", catalog_provider, {"provider": "hub"})  # 404
    api.call("DELETE", catalog_provider, {"provider": "appery"})  # 409

    # deleting
    api.call("DELETE", one, r)
    api.call("DELETE", one, r)  # 404
    api.call("DELETE", "/api/bins/{bin_id}/requests", b)
    api.call("DELETE", "/api/bins/{bin_id}", b)
    api.call("DELETE", "/api/bins/{bin_id}", b)  # 404

    operations = {(method, path) for method, path, _ in api.seen}
    assert operations == set(documented_operations(doc)), "an operation was not exercised"


def documented(doc: dict[str, Any], pointer: str, value: Any) -> bool:
    """True when ``value`` is valid against the schema at ``pointer`` of the document."""
    registry = Registry().with_resource(DOC_URI, Resource(contents=doc, specification=DRAFT202012))
    validator = Draft202012Validator(
        {"$ref": f"{DOC_URI}#{pointer}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    return validator.is_valid(value)


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({}, True),
        ({"id": "abc", "label": "x" * 200, "private": True}, True),
        ({"id": "a" * 64}, True),
        ({"id": "a-b-0"}, True),
        ({"id": None, "label": None}, True),
        ({"provider": "qovery", "event": None}, True),
        ({"id": "ab"}, False),
        ({"id": "a" * 65}, False),
        ({"id": "ABC"}, False),
        ({"id": "a_b"}, False),
        ({"id": 123}, False),
        ({"label": "x" * 201}, False),
        ({"private": "yes"}, False),
        ({"private": None}, False),
        ({"provider": 1}, False),
        ({"colour": "red"}, False),
    ],
)
def test_new_bins_documented_as_enforced(
    client: FlaskClient, doc: dict[str, Any], body: dict[str, Any], valid: bool
) -> None:
    assert documented(doc, "/components/schemas/BinCreate", body) is valid
    assert client.post("/api/bins", json=body).status_code == (201 if valid else 400)


@pytest.mark.parametrize(
    ("name", "valid"),
    [("", True), ("build-1.json", True), ("x" * 100, True), ("x" * 101, False), ("-a", False)]
    + [("a b", False), ("a/b", False)],
)
def test_recording_names_documented_as_enforced(
    client: FlaskClient, bins: Any, doc: dict[str, Any], name: str, valid: bool
) -> None:
    bin_id = bins.create()["id"]
    request_id = bins.ingest(bin_id, body=b"{}").get_json()["request_id"]
    pointer = "/components/parameters/recording_name/schema"
    assert documented(doc, pointer, name) is valid
    url = f"/api/bins/{bin_id}/requests/{request_id}/recording"
    assert client.get(url, query_string={"name": name}).status_code == (200 if valid else 400)


@pytest.mark.parametrize(
    ("provider", "event", "valid"),
    [
        ("acme", "thing.happened", True),
        ("a.b_c-d", "E_1", True),
        ("p" * 64, "e" * 128, True),
        ("p" * 65, "e", False),
        ("p", "e" * 129, False),
        (".acme", "e", False),
        ("acme", "_e", False),
        ("ac me", "e", False),
    ],
)
def test_user_schema_ids_documented_as_enforced(
    client: FlaskClient, doc: dict[str, Any], provider: str, event: str, valid: bool
) -> None:
    both = all(
        documented(doc, f"/components/parameters/{key}/schema", value)
        for value, key in ((provider, "catalog_provider_id"), (event, "catalog_event_id"))
    )
    assert both is valid
    response = client.put(f"/api/catalog/{provider}/{event}", json={"type": "object"})
    assert response.status_code == (201 if valid else 400)
