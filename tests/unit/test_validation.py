"""Validation: variants derived from every documented example break where and how we expect."""

import copy
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from receiver.catalog.model import Event
from receiver.catalog.model import UserSchemaSpec
from receiver.catalog.model import load_catalog
from receiver.catalog.validation import Issue
from receiver.catalog.validation import ValidationResult
from receiver.catalog.validation import get_compiled
from receiver.catalog.validation import parse_json
from receiver.catalog.validation import validate_against
from receiver.catalog.validation import validate_body
from receiver.catalog.validation import validate_payload
from receiver.resources import resource_dir

CATALOG = load_catalog()
CHECKED = [e for e in CATALOG.events() if e.provider_id in ("appery", "apitree")]
# documented fields whose value is pinned by the event (const in the schema)
PINNED = {
    "appery": {"/build/status", "/build/platform", "/hosting/type"},
    "apitree": {"/name"},
}
# ...and by fully documented events only
PINNED_WHEN_FULL = {"apitree": {"/resourceType"}}
# documented but optional: the seed's Webhook example shows a user with only an id
OPTIONAL = {"apitree": {"/user/nickname"}}
# a path into an example payload: keys and list indexes
Path_ = tuple[str | int, ...]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def pointer(parts: Path_) -> str:
    """JSON Pointer of a path tuple (the example keys need no escaping)."""
    return "".join(f"/{p}" for p in parts)


def nodes(value: Any, parts: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Yield (path, value) for every node below the root, depth first."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        yield (*parts, key), child
        if isinstance(child, dict | list):
            yield from nodes(child, (*parts, key))


def is_open(event: Event, parts: Path_) -> bool:
    """True when the path lies inside an object the docs leave open."""
    return event.documented == "envelope-only" and parts[:1] == ("resource",) and len(parts) > 1


def is_open_object(event: Event, parts: Path_) -> bool:
    """True when the object at the path is one whose fields the docs leave open."""
    return event.documented == "envelope-only" and parts[:1] == ("resource",)


def format_of(value: Any) -> str | None:
    """Guess the documented format of an example string from its content."""
    if not isinstance(value, str):
        return None
    if UUID.match(value):
        return "uuid"
    if value.startswith(("http://", "https://")):
        return "uri"
    if re.fullmatch(r"[^@\s]+@[^@\s]+", value):
        return "email"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None
    return "date-time" if "T" in value else None


BAD_FORMAT = {
    "uuid": "not-a-uuid",
    "uri": "not a uri",
    "email": "no-at-sign",
    "date-time": "2014-13-45",
}


def wrong_type(value: Any) -> Any:
    """A value of another JSON type."""
    if isinstance(value, str):
        return 12345
    if isinstance(value, bool) or value is None:
        return "text"
    if isinstance(value, dict):
        return []
    return {}


def variants(event: Event) -> Iterator[tuple[str, str, Path_, Any, str, str]]:
    """Yield (name, path, mutate, expected_path, expected_keyword) for one event."""
    pinned = PINNED.get(event.provider_id, set())
    if event.documented == "full":
        pinned = pinned | PINNED_WHEN_FULL.get(event.provider_id, set())
    optional = OPTIONAL.get(event.provider_id, set())
    for parts, value in nodes(event.example):
        if is_open(event, parts):
            continue
        here = pointer(parts)
        parent = pointer(parts[:-1])
        kind = "const" if here in pinned else "type"
        if isinstance(parts[-1], str) and here not in optional:
            yield "remove", here, parts, "remove", parent, "required"
        yield "wrong-type", here, parts, wrong_type(value), here, kind
        if value is not None:
            yield "null", here, parts, None, here, kind
        if here in pinned:
            yield "not-documented-value", here, parts, "undocumented", here, "const"
        fmt = format_of(value)
        if fmt:
            yield f"bad-{fmt}", here, parts, BAD_FORMAT[fmt], here, "format"


def apply(example: Any, parts: Path_, change: Any) -> Any:
    """A copy of the example with one node removed or replaced."""
    payload = copy.deepcopy(example)
    node = payload
    for key in parts[:-1]:
        node = node[key]
    if change == "remove":
        del node[parts[-1]]
    else:
        node[parts[-1]] = change
    return payload


CASES = [
    pytest.param(
        event, parts, change, path, keyword, id=f"{event.provider_id}/{event.id}:{name}:{at}"
    )
    for event in CHECKED
    for name, at, parts, change, path, keyword in variants(event)
]


def containers(event: Event) -> list[Path_]:
    """Pointers of every object in the example outside open parts, the root included."""
    found = [()] + [p for p, v in nodes(event.example) if isinstance(v, dict)]
    return [p for p in found if not is_open_object(event, p)]


EXTRA_CASES = [
    pytest.param(event, parts, id=f"{event.provider_id}/{event.id}:{pointer(parts) or 'root'}")
    for event in CHECKED
    for parts in containers(event)
]


def test_variant_table_covers_every_checked_event_and_variant():
    names = {(p.id.split(":")[0], p.id.split(":")[1]) for p in CASES}
    for event in CHECKED:
        key = f"{event.provider_id}/{event.id}"
        for kind in ("remove", "wrong-type", "null", "bad-date-time"):
            assert (key, kind) in names
        pinned = (
            event.provider_id == "apitree" or "build" in event.example or "hosting" in event.example
        )
        assert ((key, "not-documented-value") in names) == pinned
    assert any(":bad-email:" in p.id for p in CASES)
    assert any(":bad-uri:" in p.id for p in CASES)
    assert any(":bad-uuid:" in p.id for p in CASES)


@pytest.mark.parametrize(("event", "parts", "change", "path", "keyword"), CASES)
def test_broken_example_is_invalid_at_the_expected_pointer(event, parts, change, path, keyword):
    payload = apply(event.example, parts, change)
    result = validate_payload(CATALOG, payload, provider=event.provider_id, event=event.id)
    assert result.status == "invalid"
    assert [(e.path, e.keyword) for e in result.errors] == [(path, keyword)]
    assert (result.provider, result.event, result.candidates) == (
        event.provider_id,
        event.id,
        [event.id],
    )


@pytest.mark.parametrize(("event", "parts"), EXTRA_CASES)
def test_undocumented_field_is_a_warning_not_an_error(event, parts):
    payload = apply(event.example, (*parts, "x_undocumented"), {"nested": 1})
    result = validate_payload(CATALOG, payload, provider=event.provider_id, event=event.id)
    assert result.status == "valid"
    assert result.errors == []
    where = pointer((*parts, "x_undocumented"))
    assert result.warnings == [
        Issue(where, "field 'x_undocumented' is not documented", "additionalProperties")
    ]


def test_required_message_names_the_missing_field():
    payload = apply(
        CATALOG.get("appery", "PROJECT_BUILD_IOS_FAIL").example,
        ("build", "initiator", "email"),
        "remove",
    )
    result = validate_payload(CATALOG, payload)
    assert result.errors == [
        Issue("/build/initiator", "required field 'email' is missing", "required")
    ]


def test_fields_in_undocumented_parts_give_no_warnings():
    payload = copy.deepcopy(CATALOG.get("apitree", "api.created").example)
    payload["resource"]["anything"] = {"at": "all"}
    result = validate_payload(CATALOG, payload)
    assert (result.status, result.errors, result.warnings) == ("valid", [], [])
    payload = copy.deepcopy(CATALOG.get("qovery", "DEPLOYMENT_STARTED").example)
    payload["payload"]["organization"]["name"] = "acme"
    payload["payload"]["applications"].append({"id": "a"})
    assert validate_payload(CATALOG, payload).warnings == []
    payload["payload"]["surprise"] = True
    assert validate_payload(CATALOG, payload).warnings == [
        Issue("/payload/surprise", "field 'surprise' is not documented", "additionalProperties")
    ]


def test_warning_path_escapes_json_pointer_characters():
    payload = copy.deepcopy(CATALOG.get("appery", "PROJECT_PREVIEW_TEST").example)
    payload["a/b~c"] = 1
    assert [w.path for w in validate_payload(CATALOG, payload).warnings] == ["/a~1b~0c"]


def test_warnings_follow_array_items():
    payload = copy.deepcopy(CATALOG.get("apitree", "webhook.created").example)
    payload["resource"]["events"][1]["filter"] = "x"
    assert [w.path for w in validate_payload(CATALOG, payload).warnings] == [
        "/resource/events/1/filter"
    ]


def test_documented_optional_fields_give_no_warning():
    payload = copy.deepcopy(CATALOG.get("apitree", "webhook.created").example)
    payload["resource"]["lastDelivery"] = {"success": True, "statusCode": 200}
    payload["resource"]["secret"] = "f0da7e08f20dffb9194d65d5b950cda8"
    result = validate_payload(CATALOG, payload)
    assert (result.status, result.warnings) == ("valid", [])
    payload["resource"]["lastDelivery"]["statusCode"] = "200"
    assert [(e.path, e.keyword) for e in validate_payload(CATALOG, payload).errors] == [
        ("/resource/lastDelivery/statusCode", "type")
    ]


def test_null_fields_cover_start_abort_and_fail_builds():
    # two START events (finished_at, file_url), one ABORT and two FAIL events (file_url)
    assert len(NULL_FIELDS) == 2 * 2 + 3 * 1


def test_success_build_accepts_the_started_at_that_its_example_omits():
    payload = copy.deepcopy(CATALOG.get("appery", "PROJECT_BUILD_IOS_SUCCESS").example)
    payload["build"]["started_at"] = "2014-01-17T05:08:29-08:00"
    result = validate_payload(CATALOG, payload)
    assert (result.status, result.warnings) == ("valid", [])


NULL_FIELDS = [
    pytest.param(event.id, field, id=f"{event.id}:{field}")
    for event in CHECKED
    if event.provider_id == "appery" and "build" in event.example
    for field, value in event.example["build"].items()
    if value is None
]


@pytest.mark.parametrize(("event", "field"), NULL_FIELDS)
def test_fields_that_are_null_in_an_event_must_be_null(event, field):
    # a plausible value of the right kind: a finish time, or a binary's URL
    value = "2013-11-30T05:09:29-08:00" if field.endswith("_at") else "https://appery.io/x.apk"
    payload = copy.deepcopy(CATALOG.get("appery", event).example)
    payload["build"][field] = value
    result = validate_payload(CATALOG, payload)
    assert [(e.path, e.keyword, e.message) for e in result.errors] == [
        (f"/build/{field}", "type", "expected null, got string")
    ]


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date-time", "2013-11-27T05:08:26-08:00", "2013-11-27T05:08:26"),
        ("date-time", "2019-03-27T17:50:23Z", "27/03/2019"),
        ("email", "me@example.com", "me.example.com"),
        ("uri", "https://appery.io/app/x.apk", "//no-scheme/x"),
        ("uri", "http://abc8821.app.appery.io", "not a uri"),
        ("uuid", "372f4a93-e8ce-46ac-a111-44b6c3f476f4", "372f4a93e8ce46aca11144b6c3f476f4x"),
    ],
)
def test_formats_are_asserted_not_just_annotated(fmt, good, bad):
    schema = {"type": "string", "format": fmt}
    assert validate_against(schema, good) == ([], [])
    errors, _ = validate_against(schema, bad)
    assert [(e.path, e.keyword) for e in errors] == [("", "format")]
    assert fmt in errors[0].message


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"nope",
        b"{'a': 1}",
        b"[1,]",
        b"NaN",
        b"[Infinity]",
        b"  ",
        b"\xff\xfe{}",
        b'{"a": "\xff"}',
        b"[" * 100_000,
    ],
    ids=[
        "open-brace",
        "word",
        "single-quotes",
        "trailing-comma",
        "nan",
        "infinity",
        "spaces",
        "utf16-bom",
        "latin1",
        "deep",
    ],
)
def test_body_that_is_not_utf8_json_is_not_json(body):
    result = validate_body(CATALOG, body)
    assert result.status == "not_json"
    assert [(e.path, e.keyword) for e in result.errors] == [("", "json")]
    assert len(result.errors[0].message) < 300


def test_invalid_utf8_says_so():
    result = validate_body(CATALOG, b'{"name": "caf\xe9"}')
    assert result.errors[0].message == "the body is not valid UTF-8 (byte 13)"


def test_empty_body_is_no_body_and_keeps_the_settings():
    assert validate_body(CATALOG, b"").to_dict() == {
        "status": "no_body",
        "provider": None,
        "event": None,
        "candidates": [],
        "errors": [],
        "warnings": [],
    }
    result = validate_body(CATALOG, b"", provider="appery", event="PROJECT_BUILD_IOS_FAIL")
    assert (result.status, result.provider, result.event) == (
        "no_body",
        "appery",
        "PROJECT_BUILD_IOS_FAIL",
    )
    result = validate_body(CATALOG, b"{", headers=[("Qovery-Signature", "s")])
    assert (result.status, result.provider) == ("not_json", "qovery")


def test_utf8_byte_order_mark_is_ignored():
    body = (
        b"\xef\xbb\xbf" + json.dumps(CATALOG.get("qovery", "DEPLOYMENT_FAILURE").example).encode()
    )
    assert validate_body(CATALOG, body).status == "valid"


@pytest.mark.parametrize("event", list(CATALOG.events()), ids=lambda e: f"{e.provider_id}/{e.id}")
def test_example_body_as_sent_is_valid(event):
    body = (resource_dir("catalog") / event.provider_id / f"{event.id}.example.json").read_bytes()
    settings = {"provider": "akinon", "event": event.id} if event.provider_id == "akinon" else {}
    result = validate_body(CATALOG, body, **settings)
    assert (result.status, result.errors, result.warnings) == ("valid", [], [])
    assert event.id in result.candidates


@pytest.mark.parametrize(
    ("example", "pair"),
    [
        ("PROJECT_VERSION_CREATE", ["PROJECT_VERSION_CREATE", "APPLICATION_VERSION_CREATE"]),
        ("APPLICATION_VERSION_REMOVE", ["PROJECT_VERSION_RESTORE", "APPLICATION_VERSION_REMOVE"]),
    ],
)
def test_ambiguous_appery_body_is_checked_against_both_candidates(example, pair):
    payload = copy.deepcopy(CATALOG.get("appery", example).example)
    result = validate_payload(CATALOG, payload)
    assert (result.status, result.event, result.candidates) == ("valid", None, pair)
    # an error that both candidates share is listed once, without a label
    payload["project"]["guid"] = "nope"
    result = validate_payload(CATALOG, payload)
    assert result.status == "invalid"
    assert result.errors == [Issue("/project/guid", '"nope" is not a valid uuid', "format")]


def test_candidate_specific_errors_are_labelled_with_their_candidates():
    replacement = copy.deepcopy(CATALOG.get("appery", "APPLICATION_VERSION_CREATE").schema)
    replacement["required"] = [*replacement["required"], "workspace"]
    catalog = CATALOG.with_user_schemas(
        [UserSchemaSpec("appery", "APPLICATION_VERSION_CREATE", replacement)]
    )
    payload = copy.deepcopy(CATALOG.get("appery", "PROJECT_VERSION_CREATE").example)
    result = validate_payload(catalog, payload)
    assert result.status == "invalid"
    assert result.errors == [
        Issue("", "[APPLICATION_VERSION_CREATE] required field 'workspace' is missing", "required")
    ]
    payload["workspace"] = "w"
    result = validate_payload(catalog, payload)
    assert result.status == "valid"
    assert result.warnings == [
        Issue(
            "/workspace",
            "[PROJECT_VERSION_CREATE] field 'workspace' is not documented",
            "additionalProperties",
        )
    ]


def test_apitree_name_not_in_the_catalog_is_checked_against_the_envelope():
    payload = copy.deepcopy(CATALOG.get("apitree", "api.created").example)
    payload["name"] = "api.renamed"
    result = validate_payload(CATALOG, payload)
    assert (result.status, result.provider, result.event, result.candidates) == (
        "valid",
        "apitree",
        None,
        [],
    )
    assert result.errors == []
    assert result.warnings == [
        Issue(
            "/name",
            "event name 'api.renamed' is not in the catalog; only the ApiTree envelope was checked",
            "catalog",
        )
    ]
    payload["timestamp"] = "yesterday"
    payload["extra"] = 1
    result = validate_payload(CATALOG, payload)
    assert result.status == "invalid"
    assert [(e.path, e.keyword) for e in result.errors] == [("/timestamp", "format")]
    assert [(w.path, w.keyword) for w in result.warnings] == [
        ("/name", "catalog"),
        ("/extra", "additionalProperties"),
    ]


def test_apitree_bin_with_a_body_that_is_no_envelope_is_invalid():
    result = validate_payload(CATALOG, {"hello": "world"}, provider="apitree")
    assert result.status == "invalid"
    assert {e.message for e in result.errors} >= {"required field 'name' is missing"}
    assert result.warnings[0].keyword == "catalog"


def test_unrecognised_payload_is_unknown_event():
    result = validate_payload(CATALOG, {"foo": 1})
    assert result.to_dict() == {
        "status": "unknown_event",
        "provider": None,
        "event": None,
        "candidates": [],
        "errors": [],
        "warnings": [],
    }


def test_event_the_catalog_does_not_list_is_unknown_and_says_so():
    result = validate_payload(CATALOG, {}, provider="stripe", event="charge.succeeded")
    assert (result.status, result.provider, result.event) == ("unknown_event", "stripe", None)
    assert result.warnings == [
        Issue("", "event name 'charge.succeeded' is not in the catalog", "catalog")
    ]


def test_akinon_accepts_any_object_when_the_bin_names_the_event():
    settings = {"provider": "akinon", "event": "deployment.build.created"}
    result = validate_payload(CATALOG, {"build": {"id": 1}}, **settings)
    assert (result.status, result.warnings) == ("valid", [])
    assert validate_payload(CATALOG, [1], **settings).errors == [
        Issue("", "expected object, got array", "type")
    ]
    assert validate_payload(CATALOG, {"build": 1}).status == "unknown_event"


def test_qovery_body_missing_a_documented_field_is_invalid():
    payload = copy.deepcopy(CATALOG.get("qovery", "DEPLOYMENT_SUCCESSFUL").example)
    del payload["payload"]["logs"]
    payload["created_at"] = "2023-11-07"
    result = validate_payload(CATALOG, payload)
    assert [(e.path, e.keyword) for e in result.errors] == [
        ("/created_at", "format"),
        ("/payload", "required"),
    ]


def test_messages_do_not_echo_large_values():
    payload = copy.deepcopy(CATALOG.get("appery", "PROJECT_PREVIEW_TEST").example)
    payload["preview"]["tested_at"] = "x" * 10_000
    payload["project"] = ["y" * 10_000]
    result = validate_payload(CATALOG, payload)
    assert len(result.errors) == 2
    assert all(len(e.message) < 120 for e in result.errors)


def test_result_shape_matches_the_product_contract():
    result = validate_payload(
        CATALOG, copy.deepcopy(CATALOG.get("appery", "PROJECT_BUILD_IOS_FAIL").example)
    )
    assert isinstance(result, ValidationResult)
    data = result.to_dict()
    assert list(data) == ["status", "provider", "event", "candidates", "errors", "warnings"]
    assert data["event"] == "PROJECT_BUILD_IOS_FAIL"
    assert json.loads(json.dumps(data)) == data


def test_validators_are_cached_by_identity_and_by_content():
    schema = {"type": "object", "required": ["a"]}
    assert get_compiled(schema) is get_compiled(schema)
    assert get_compiled(copy.deepcopy(schema)) is get_compiled(schema)
    assert get_compiled({"type": "object", "required": ["b"]}) is not get_compiled(schema)


def test_changed_user_schema_takes_effect():
    payload = {"a": 1}
    first = CATALOG.with_user_schemas([UserSchemaSpec("acme", "ping", {"required": ["a"]})])
    second = CATALOG.with_user_schemas([UserSchemaSpec("acme", "ping", {"required": ["b"]})])
    settings = {"provider": "acme", "event": "ping"}
    assert validate_payload(first, payload, **settings).status == "valid"
    assert validate_payload(second, payload, **settings).status == "invalid"
    assert validate_payload(first, payload, **settings).status == "valid"


def test_user_schema_with_combinators_reports_fields_outside_the_matching_branch():
    schema = {
        "type": "object",
        "properties": {"kind": {"enum": ["a", "b"]}},
        "oneOf": [
            {"properties": {"kind": {"const": "a"}, "alpha": {"type": "string"}}},
            {"properties": {"kind": {"const": "b"}, "beta": {"$ref": "#/$defs/beta"}}},
        ],
        "$defs": {"beta": {"type": "object", "properties": {"x": {"type": "integer"}}}},
    }
    catalog = CATALOG.with_user_schemas([UserSchemaSpec("acme", "thing", schema)])
    settings = {"provider": "acme", "event": "thing"}
    result = validate_payload(
        catalog, {"kind": "b", "beta": {"x": 1, "y": 2}, "alpha": "s"}, **settings
    )
    assert result.status == "valid"
    assert [w.path for w in result.warnings] == ["/beta/y", "/alpha"]
    result = validate_payload(catalog, {"kind": "c"}, **settings)
    assert [(e.path, e.keyword) for e in result.errors] == [("/kind", "enum"), ("", "oneOf")]


def test_what_one_payload_chose_is_not_remembered_for_the_next():
    # the walk remembers what a schema says of an object, but only where no branch was chosen
    schema = {
        "type": "object",
        "properties": {"kind": {"type": "string"}, "inner": {"type": "object"}},
        "oneOf": [
            {"properties": {"kind": {"const": "a"}, "alpha": {}, "inner": {"$ref": "#/$defs/a"}}},
            {"properties": {"kind": {"const": "b"}, "beta": {}, "inner": {"$ref": "#/$defs/b"}}},
        ],
        "$defs": {
            "a": {"type": "object", "properties": {"x": {}}},
            "b": {"type": "object", "properties": {"y": {}}},
        },
    }
    payloads = {
        "a": {"kind": "a", "alpha": 1, "beta": 1, "inner": {"x": 1, "y": 1}},
        "b": {"kind": "b", "alpha": 1, "beta": 1, "inner": {"x": 1, "y": 1}},
    }
    expected = {"a": ["/beta", "/inner/y"], "b": ["/alpha", "/inner/x"]}
    for kind in ["a", "b", "a", "b", "b", "a"]:
        _, warnings = validate_against(schema, payloads[kind])
        assert [w.path for w in warnings] == expected[kind], kind


def test_field_names_matched_by_patterns_are_answered_alike_past_what_the_walk_keeps():
    schema = {
        "type": "object",
        "properties": {"id": {}},
        "patternProperties": {"^x-": {"type": "object", "properties": {"v": {}}}},
    }
    # more names than an object plan keeps, and names longer than it keeps: each answered alike
    names = [f"x-{n}" for n in range(300)] + ["x-" + "n" * 200, "y-" + "n" * 200, "other"]
    payload = {name: {"v": 1, "w": 2} for name in names}
    for _ in range(2):
        _, warnings = validate_against(schema, payload)
        assert [w.path for w in warnings] == [
            *(f"/{name}/w" for name in names if name.startswith("x-")),
            "/" + "y-" + "n" * 200,
            "/other",
        ]


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ({"type": "nope"}, {}),
        ({"minLength": "2"}, "abc"),
        ({"allOf": 5, "properties": {"a": {}}}, {"a": 1}),
        ({"required": 5}, {"a": 1}),
    ],
)
def test_a_malformed_schema_gives_an_error_not_an_exception(schema, instance):
    errors, _ = validate_against(schema, instance)
    assert [(e.path, e.keyword) for e in errors] == [("", "$schema")]
    assert errors[0].message.startswith("the schema cannot be applied: ")


def test_parse_json_accepts_documents_and_says_why_it_refuses_the_rest():
    assert parse_json(b'{"a": [1, 2]}') == ({"a": [1, 2]}, None)
    assert parse_json(b"[]") == ([], None)
    for refused in (b"not json", b"", b"\xff", b'{"a": NaN}', b"[Infinity]"):
        payload, problem = parse_json(refused)
        assert payload is None and problem is not None and problem.keyword == "json", refused


def test_deeply_nested_json_is_refused_not_raised():
    payload, problem = parse_json(b"[" * 100_000 + b"]" * 100_000)
    assert payload is None and "nested too deeply" in problem.message
