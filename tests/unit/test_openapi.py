"""The OpenAPI document: valid 3.1, a webhook per catalog event, schemas hoisted and resolvable."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
from referencing import Registry
from referencing import Resource
from referencing.jsonschema import DRAFT202012

from receiver.catalog.model import Catalog
from receiver.catalog.model import UserSchemaSpec
from receiver.catalog.model import load_catalog
from receiver.catalog.pointers import MISSING
from receiver.catalog.pointers import resolve_pointer
from receiver.catalog.validation import VERDICTS
from receiver.exports.openapi import FILL
from receiver.exports.openapi import api_document
from receiver.exports.openapi import build_openapi
from receiver.exports.openapi import code_values
from receiver.exports.openapi import fill_placeholders
from receiver.signatures.common import STATUSES as SIGNATURE_STATUSES
from receiver.signatures.registry import SCHEME_NAMES
from receiver.version import package_version

DOC_URI = "urn:receiver:openapi"
COMPONENT_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_DELAY_MS = 4321

USER_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.test/acme/thing.happened.schema.json",
    "description": "A thing happened at Acme.",
    "x-documented": "envelope-only",
    "type": "object",
    "required": ["thing", "by", "tags"],
    "properties": {
        "thing": {"$ref": "#/$defs/thing"},
        "by": {"$ref": "https://example.test/acme/thing.happened.schema.json#/$defs/person"},
        "tags": {"type": "array", "items": {"$ref": "#tag"}},
        "$id": {"type": "string", "description": "a property named like a keyword"},
    },
    "$defs": {
        "person": {
            "type": "object",
            "required": ["email"],
            "properties": {"email": {"type": "string", "format": "email"}},
        },
        "thing": {
            "type": "object",
            "required": ["id", "owner", "size"],
            "properties": {
                "id": {"$ref": "#/$defs/thing/$defs/thing_id"},
                "owner": {"$ref": "#/$defs/person"},
                "size": {"$ref": "#/$defs/thing/properties/id"},
                "parent": {"$ref": "#/$defs/thing"},
            },
            "$defs": {"thing_id": {"type": "string", "pattern": "^th_"}},
        },
        "tag": {"$anchor": "tag", "type": "string", "minLength": 1},
    },
}
USER_EXAMPLE = {
    "thing": {"id": "th_1", "owner": {"email": "a@example.com"}, "size": "th_2"},
    "by": {"email": "b@example.com"},
    "tags": ["x"],
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    spec = UserSchemaSpec(
        provider="acme", event="thing.happened", schema=USER_SCHEMA, example=USER_EXAMPLE
    )
    return load_catalog().with_user_schemas([spec])


@pytest.fixture(scope="module")
def doc(catalog: Catalog) -> dict[str, Any]:
    return build_openapi(
        catalog,
        max_delay_ms=MAX_DELAY_MS,
        server_url="https://hooks.example.test",
        version="1.2.3",
    )


def iter_refs(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(location, ref)`` for every ``$ref`` string in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from iter_refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from iter_refs(value, f"{where}/{index}")


def component_validator(doc: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator for one component schema, refs resolved over the whole document."""
    registry = Registry().with_resource(DOC_URI, Resource(contents=doc, specification=DRAFT202012))
    schema = {"$ref": f"{DOC_URI}#/components/schemas/{name}"}
    return Draft202012Validator(
        schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def schema_validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for any schema of the document, refs resolved over the whole document."""
    registry = Registry().with_resource(DOC_URI, Resource(contents=doc, specification=DRAFT202012))
    if "$ref" in schema:
        schema = {"$ref": DOC_URI + schema["$ref"]}
    return Draft202012Validator(
        schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def iter_media(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(where, media type object)`` for every request and response body of the document."""
    bodies: list[tuple[str, dict[str, Any]]] = []
    for section in ("paths", "webhooks"):
        for path, item in doc[section].items():
            for method in METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                if "requestBody" in operation:
                    bodies.append((f"{method} {path} request", operation["requestBody"]))
                for status, response in operation["responses"].items():
                    bodies.append((f"{method} {path} {status}", response))
    for name, response in doc["components"]["responses"].items():
        bodies.append((f"components {name}", response))
    for where, body in bodies:
        for media_type, media in body.get("content", {}).items():
            yield f"{where} {media_type}", media


def iter_items(node: Any) -> Iterator[tuple[str, Any]]:
    """Yield every ``(key, value)`` of every object in ``node``, however deep."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from iter_items(value)
    elif isinstance(node, list):
        for value in node:
            yield from iter_items(value)


def webhook_component(webhook: dict[str, Any]) -> str:
    ref = webhook["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return ref.removeprefix("#/components/schemas/")


def test_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    validate(doc, cls=OpenAPIV31SpecValidator)
    assert doc["openapi"] == "3.1.0"
    assert doc["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["info"]["title"] == "receiver"
    assert doc["info"]["version"] == "1.2.3"
    assert doc["info"]["description"] and doc["info"]["license"]["name"]
    assert doc["servers"] == [{"url": "https://hooks.example.test"}]


def test_without_server_url_there_are_no_servers() -> None:
    doc = build_openapi(load_catalog(), max_delay_ms=0)
    assert "servers" not in doc
    assert doc["info"]["version"] == package_version()
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_request_list_documents_every_filter(doc: dict[str, Any]) -> None:
    base = "/api/bins/{bin_id}"
    one = f"{base}/requests/{{request_id}}"
    listing_op = doc["paths"][f"{base}/requests"]["get"]
    names = {
        resolve_pointer(doc, p["$ref"].removeprefix("#"))["name"] for p in listing_op["parameters"]
    }
    assert names == {"limit", "before", "after", "method", "event", "validation", "q"}
    replay = doc["paths"][f"{one}/replay"]["post"]
    assert set(replay["responses"]) >= {"201", "404"}
    assert doc["paths"][f"{base}/send"]["post"]["responses"]["201"]["content"]


def test_components_and_enums_match_the_code(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for name in (
        "Bin",
        "BinCreate",
        "BinSettings",
        "CapturedRequest",
        "CapturedRequestSummary",
        "RequestPage",
        "ValidationResult",
        "SignatureResult",
        "Replay",
        "Catalog",
        "CatalogEvent",
        "Error",
    ):
        assert name in schemas
    assert set(SIGNATURE_STATUSES) == {"verified", "failed", "missing", "not_configured"}
    settings = schemas["BinSettings"]["properties"]
    scheme = settings["signature"]["anyOf"][0]["properties"]["scheme"]["anyOf"][0]
    assert tuple(scheme["enum"]) == SCHEME_NAMES
    assert settings["response"] == {"$ref": "#/components/schemas/BinAnswer"}
    answer = schemas["BinAnswer"]["properties"]
    assert set(answer) == {"status", "headers", "body", "delay_ms"}
    assert answer["delay_ms"]["maximum"] == MAX_DELAY_MS
    shown = schemas["Bin"]["properties"]["signature"]["properties"]["scheme"]["anyOf"][0]
    assert tuple(shown["enum"]) == SCHEME_NAMES
    verdict = schemas["ValidationResult"]["properties"]["status"]
    assert tuple(verdict["enum"]) == VERDICTS
    status = schemas["SignatureResult"]["properties"]["status"]
    assert tuple(status["enum"]) == SIGNATURE_STATUSES
    validation_filter = doc["components"]["parameters"]["validation"]["schema"]
    assert tuple(validation_filter["enum"]) == VERDICTS
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert set(schemas["Replay"]["required"]) >= {
        "id",
        "url",
        "method",
        "status_code",
        "response_headers",
        "response_body",
        "elapsed_ms",
        "error",
        "created_at",
    }


def test_every_error_response_is_the_error_shape(doc: dict[str, Any]) -> None:
    error = {"$ref": "#/components/schemas/Error"}
    statuses = set()
    for path, item in doc["paths"].items():
        for method in METHODS:
            for status, response in item.get(method, {}).get("responses", {}).items():
                if int(status) < 400:
                    continue
                statuses.add(status)
                if status == "414":  # gunicorn's own answer to a long request line
                    assert "content" not in response, (method, path)
                    continue
                shared = resolve_pointer(doc, response["$ref"].removeprefix("#"))
                assert list(shared["content"]) == ["application/json"], (method, path, status)
                assert shared["content"]["application/json"]["schema"] == error
    assert statuses == {"400", "403", "404", "409", "413", "414", "415"}
    for response in doc["components"]["responses"].values():
        assert list(response["content"]) == ["application/json"]
        assert response["content"]["application/json"]["schema"] == error


def test_every_example_validates(doc: dict[str, Any]) -> None:
    checked = 0
    for where, media in iter_media(doc):
        values = [example["value"] for example in media.get("examples", {}).values()]
        if "example" in media:
            values.append(media["example"])
        for value in values:
            validator = schema_validator(doc, media["schema"])
            errors = [error.message for error in validator.iter_errors(value)]
            assert not errors, (where, errors)
            checked += 1
    # every request body with a schema of its own, the error examples and every webhook
    assert checked >= len(doc["webhooks"]) + 8


def test_examples_name_events_that_exist(catalog: Catalog, doc: dict[str, Any]) -> None:
    send = doc["paths"]["/api/bins/{bin_id}/send"]["post"]["requestBody"]
    for example in send["content"]["application/json"]["examples"].values():
        assert catalog.get(example["value"]["provider"], example["value"]["event"])
    create = doc["paths"]["/api/bins"]["post"]["requestBody"]
    for example in create["content"]["application/json"]["examples"].values():
        assert catalog.get(example["value"]["provider"], example["value"]["event"])


def test_lists_and_limits_come_from_the_code(doc: dict[str, Any]) -> None:
    text = json.dumps(doc)
    assert FILL not in text, "a placeholder was left in the document"
    stored = json.dumps(api_document())
    for name in code_values(max_delay_ms=MAX_DELAY_MS):
        assert json.dumps({FILL: name}) in stored, f"code value {name} is never used"
    enums = [value for key, value in iter_items(api_document()) if key == "enum"]
    assert enums and all(set(value) == {FILL} for value in enums), "a list is copied into api.json"


def test_each_build_gets_its_own_copy_of_the_stored_document() -> None:
    first = build_openapi(load_catalog(), max_delay_ms=10)
    first["components"]["schemas"]["Bin"]["properties"].clear()
    first["paths"].clear()
    second = build_openapi(load_catalog(), max_delay_ms=20)
    assert second["components"]["schemas"]["Bin"]["properties"]
    assert "/api/bins" in second["paths"]
    delay = second["components"]["schemas"]["BinAnswer"]["properties"]["delay_ms"]
    assert delay["maximum"] == 20
    assert api_document() is api_document()
    assert FILL in json.dumps(api_document())


def test_an_unknown_placeholder_is_a_loud_mistake() -> None:
    with pytest.raises(KeyError, match="no_such_value"):
        fill_placeholders({"a": [{FILL: "no_such_value"}]}, code_values(max_delay_ms=0))


def test_api_shapes_accept_what_the_api_returns(doc: dict[str, Any]) -> None:
    summary = {
        "id": 7,
        "bin_id": "abc",
        "received_at": "2024-01-31T12:00:00.000000Z",
        "method": "POST",
        "path": "/",
        "query_string": "",
        "headers": [["Content-Type", "application/json"], ["X-A", "1"], ["X-A", "2"]],
        "content_type": "application/json",
        "size": 2,
        "remote_addr": "127.0.0.1",
        "event": {"provider": None, "event": None, "candidates": []},
        "validation": {
            "status": "invalid",
            "provider": "appery",
            "event": "PROJECT_BUILD_IOS_FAIL",
            "candidates": ["PROJECT_BUILD_IOS_FAIL"],
            "errors": [{"path": "/project", "message": "missing", "keyword": "required"}],
            "warnings": [],
        },
        "signature": {"status": "not_configured", "scheme": None, "reason": None},
    }
    page_validator = component_validator(doc, "RequestPage")
    assert page_validator.is_valid({"requests": [summary], "next": None})
    detail = {**summary, "body_text": "{}", "body_base64": "e30="}
    assert component_validator(doc, "CapturedRequest").is_valid(detail)
    assert not component_validator(doc, "CapturedRequest").is_valid(summary)
    error = {"error": {"code": "not_found", "message": "no such bin"}}
    assert component_validator(doc, "Error").is_valid(error)
    bad_settings = {"signature": {"scheme": "md5"}}
    assert not component_validator(doc, "BinSettings").is_valid(bad_settings)


def test_operation_ids_are_unique_and_every_operation_has_a_summary(doc: dict[str, Any]) -> None:
    operations = [
        item[method]
        for section in (doc["paths"], doc["webhooks"])
        for item in section.values()
        for method in METHODS
        if method in item
    ]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert all(op["summary"] for op in operations)
    assert {"bin_create", "request_list", "replay_create", "payload_validate"} <= set(ids)


def test_every_catalog_event_is_a_webhook(catalog: Catalog, doc: dict[str, Any]) -> None:
    expected = {f"{event.provider_id}.{event.id}" for event in catalog.events()}
    assert set(doc["webhooks"]) == expected
    assert "appery.PROJECT_BUILD_IOS_FAIL" in doc["webhooks"]
    assert "acme.thing.happened" in doc["webhooks"]
    for event in catalog.events():
        post = doc["webhooks"][f"{event.provider_id}.{event.id}"]["post"]
        assert post["responses"]["2XX"]
        assert event.source in post["description"]
        assert event.documented in {"full", "envelope-only", "undocumented"}
        assert post["x-documented"] == event.documented
        word = {"full": "fully documented", "envelope-only": "envelope", "undocumented": "not"}
        assert word[event.documented] in post["description"]


def test_component_names_are_safe(doc: dict[str, Any]) -> None:
    for name in doc["components"]["schemas"]:
        assert COMPONENT_NAME.match(name), name
    assert "appery__PROJECT_BUILD_IOS_FAIL" in doc["components"]["schemas"]


def test_every_ref_resolves_inside_the_document(doc: dict[str, Any]) -> None:
    refs = list(iter_refs(doc))
    assert refs
    for where, ref in refs:
        assert ref.startswith("#/components/"), (where, ref)
        assert resolve_pointer(doc, unquote(ref[1:])) is not MISSING, (where, ref)


def test_event_schemas_lose_id_schema_and_defs(doc: dict[str, Any]) -> None:
    for name, schema in doc["components"]["schemas"].items():
        if "__" not in name:
            continue
        found = {key for key in ("$id", "$schema", "$defs", "$anchor") if key in schema}
        assert not found, (name, found)


def test_examples_validate_against_the_hoisted_schemas(
    catalog: Catalog, doc: dict[str, Any]
) -> None:
    for event in catalog.events():
        webhook = doc["webhooks"][f"{event.provider_id}.{event.id}"]
        media = webhook["post"]["requestBody"]["content"]["application/json"]
        example = media["examples"]["catalog"]["value"]
        assert example == event.example
        validator = component_validator(doc, webhook_component(webhook))
        errors = [error.message for error in validator.iter_errors(example)]
        assert not errors, (event.provider_id, event.id, errors)


def test_hoisted_refs_are_followed(doc: dict[str, Any]) -> None:
    validator = component_validator(doc, "appery__PROJECT_BUILD_IOS_FAIL")
    example = doc["webhooks"]["appery.PROJECT_BUILD_IOS_FAIL"]["post"]["requestBody"]
    payload = copy.deepcopy(example["content"]["application/json"]["examples"]["catalog"]["value"])
    del payload["project"]["owner"]["email"]
    assert not validator.is_valid(payload)


def test_user_schema_with_nested_defs_is_hoisted(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    root = schemas["acme__thing.happened"]
    assert root["properties"]["thing"] == {
        "$ref": "#/components/schemas/acme__thing.happened__thing"
    }
    assert root["properties"]["by"] == {"$ref": "#/components/schemas/acme__thing.happened__person"}
    assert root["properties"]["tags"]["items"] == {
        "$ref": "#/components/schemas/acme__thing.happened__tag"
    }
    assert root["properties"]["$id"]["type"] == "string"
    thing = schemas["acme__thing.happened__thing"]
    assert thing["properties"]["id"] == {
        "$ref": "#/components/schemas/acme__thing.happened__thing__thing_id"
    }
    assert thing["properties"]["size"] == {
        "$ref": "#/components/schemas/acme__thing.happened__thing/properties/id"
    }
    assert thing["properties"]["parent"] == {
        "$ref": "#/components/schemas/acme__thing.happened__thing"
    }
    assert schemas["acme__thing.happened__thing__thing_id"] == {"type": "string", "pattern": "^th_"}
    validator = component_validator(doc, "acme__thing.happened")
    assert validator.is_valid(USER_EXAMPLE)
    for broken in (
        {**USER_EXAMPLE, "thing": {**USER_EXAMPLE["thing"], "id": "nope"}},
        {**USER_EXAMPLE, "thing": {**USER_EXAMPLE["thing"], "size": "nope"}},
        {**USER_EXAMPLE, "by": {"email": "not an address"}},
        {**USER_EXAMPLE, "tags": [""]},
    ):
        assert not validator.is_valid(broken), broken
    webhook = doc["webhooks"]["acme.thing.happened"]["post"]
    assert webhook["summary"] == "A thing happened at Acme."
    assert "envelope" in webhook["description"]


def test_building_does_not_change_the_catalog(catalog: Catalog) -> None:
    before = {(e.provider_id, e.id): copy.deepcopy((e.schema, e.example)) for e in catalog.events()}
    doc = build_openapi(catalog, max_delay_ms=0)
    after = {(e.provider_id, e.id): (e.schema, e.example) for e in catalog.events()}
    assert after == before
    webhook = doc["webhooks"]["acme.thing.happened"]["post"]
    webhook["requestBody"]["content"]["application/json"]["examples"]["catalog"]["value"]["x"] = 1
    doc["components"]["schemas"]["acme__thing.happened__thing"]["properties"].clear()
    assert catalog.get("acme", "thing.happened").example == USER_EXAMPLE
    assert catalog.get("acme", "thing.happened").schema == USER_SCHEMA


def test_colliding_names_get_distinct_components() -> None:
    specs = [
        UserSchemaSpec(provider="a b", event="x", schema={"type": "object"}, example={}),
        UserSchemaSpec(provider="a_b", event="x", schema={"type": "string"}, example="s"),
        UserSchemaSpec(provider="a_b", event="x__d", schema={"type": "object"}, example=None),
        UserSchemaSpec(
            provider="q",
            event="y",
            schema={"$defs": {"d": {"type": "integer"}}, "$ref": "#/$defs/d"},
            example=3,
        ),
    ]
    doc = build_openapi(load_catalog().with_user_schemas(specs), max_delay_ms=0)
    validate(doc, cls=OpenAPIV31SpecValidator)
    schemas = doc["components"]["schemas"]
    assert schemas["a_b__x"] == {"type": "object"}
    assert schemas["a_b__x_2"] == {"type": "string"}
    assert webhook_component(doc["webhooks"]["a_b.x"]) == "a_b__x_2"
    assert (
        "examples"
        not in doc["webhooks"]["a_b.x__d"]["post"]["requestBody"]["content"]["application/json"]
    )
    assert schemas["q__y"] == {"$ref": "#/components/schemas/q__y__d"}
    assert component_validator(doc, "q__y").is_valid(3)
    assert not component_validator(doc, "q__y").is_valid("3")
