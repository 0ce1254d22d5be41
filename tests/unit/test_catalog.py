"""The shipped catalog: every fixture file is well-formed, sourced, and agrees with its seed."""

import json
import re
from pathlib import Path

import jsonschema_rs
import pytest

from receiver.catalog.model import CatalogError
from receiver.catalog.model import InvalidSchemaError
from receiver.catalog.model import UserSchemaSpec
from receiver.catalog.model import check_user_schema
from receiver.catalog.model import load_catalog
from receiver.catalog.validation import validate_against
from receiver.resources import resource_dir

ROOT = Path(__file__).resolve().parents[2]
CATALOG_DIR = ROOT / "fixtures" / "catalog"
# the seeds sit beside the repository (../shared/seeds), as PRODUCT.md and STYLE.md do
SEEDS_DIR = ROOT.parent / "shared" / "seeds"

SCHEMA_FILES = sorted(CATALOG_DIR.glob("*/*.schema.json"))
EVENT_SCHEMA_FILES = [p for p in SCHEMA_FILES if not p.name.startswith("_")]
EXAMPLE_FILES = sorted(CATALOG_DIR.glob("*/*.example.json"))
PROVIDER_FILES = sorted(CATALOG_DIR.glob("*/provider.json"))

APPERY_EVENTS = {
    "PROJECT_VERSION_CREATE",
    "PROJECT_VERSION_RESTORE",
    "PROJECT_PUBLISH_APPERY_SUCCESS",
    "PROJECT_BUILD_ANDROID_START",
    "PROJECT_BUILD_ANDROID_SUCCESS",
    "PROJECT_BUILD_ANDROID_ABORT",
    "PROJECT_BUILD_ANDROID_FAIL",
    "PROJECT_BUILD_IOS_START",
    "PROJECT_BUILD_IOS_SUCCESS",
    "PROJECT_BUILD_IOS_FAIL",
    "PROJECT_PREVIEW_TEST",
    "APPLICATION_VERSION_CREATE",
    "APPLICATION_VERSION_REMOVE",
    "APPLICATION_VERSION_RENAME",
}
APITREE_EVENTS = {
    "api.created",
    "api.deleted",
    "release.released",
    "release.deprecated",
    "release.endOfLife",
    "release.deleted",
    "plan.subscribed",
    "user.created",
    "webhook.created",
}
QOVERY_EVENTS = {
    "DEPLOYMENT_STARTED",
    "DEPLOYMENT_CANCELLED",
    "DEPLOYMENT_FAILURE",
    "DEPLOYMENT_SUCCESSFUL",
}
AKINON_EVENTS = {"deployment.build.created"}


def ids(paths: list[Path]) -> list[str]:
    """Test ids like 'appery/PROJECT_BUILD_IOS_FAIL.schema.json'."""
    return [f"{p.parent.name}/{p.name}" for p in paths]


def read(path: Path) -> object:
    """Parse one fixture file."""
    return json.loads(path.read_text(encoding="utf-8"))


def require_seeds() -> None:
    """Skip when the seed documents are not beside the repository."""
    if not SEEDS_DIR.is_dir():
        pytest.skip(f"seed documents not found at {SEEDS_DIR}")


def test_default_root_is_the_shipped_catalog():
    assert resource_dir("catalog") == CATALOG_DIR
    assert load_catalog() is load_catalog()


def test_catalog_lists_every_documented_event_id():
    catalog = load_catalog()
    assert list(catalog.providers) == ["akinon", "apitree", "appery", "qovery"]
    assert set(catalog.providers["appery"].events) == APPERY_EVENTS
    assert set(catalog.providers["apitree"].events) == APITREE_EVENTS
    assert set(catalog.providers["qovery"].events) == QOVERY_EVENTS
    assert set(catalog.providers["akinon"].events) == AKINON_EVENTS
    assert len(list(catalog.events())) == 14 + 9 + 4 + 1


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=ids(SCHEMA_FILES))
def test_schema_is_valid_draft_2020_12_with_provenance(path):
    schema = read(path)
    jsonschema_rs.meta.validate(schema)
    check_user_schema(schema)
    provider = path.parent.name
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://receiver.local/catalog/{provider}/{path.name}"
    assert schema["title"] and schema["description"]
    assert schema["x-documented"] in ("full", "envelope-only", "undocumented")
    assert re.fullmatch(r"00\d_[0-9a-f]{16}\.txt", schema["x-source"]["seed"])
    assert schema["x-source"]["section"]
    # schemas stay open: undocumented extras are warnings, never errors
    assert '"additionalProperties": false' not in path.read_text()


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=ids(SCHEMA_FILES))
def test_schema_names_an_existing_seed(path):
    require_seeds()
    assert (SEEDS_DIR / read(path)["x-source"]["seed"]).is_file()


@pytest.mark.parametrize("path", EVENT_SCHEMA_FILES, ids=ids(EVENT_SCHEMA_FILES))
def test_every_event_schema_has_an_example(path):
    example = path.with_name(path.name.replace(".schema.json", ".example.json"))
    assert example.is_file()


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=ids(EXAMPLE_FILES))
def test_example_is_valid_against_its_own_schema_without_warnings(path):
    schema = read(path.with_name(path.name.replace(".example.json", ".schema.json")))
    errors, warnings = validate_against(schema, read(path))
    assert errors == []
    assert warnings == []


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=ids(EXAMPLE_FILES))
def test_example_has_no_scraped_email_placeholder(path):
    assert "[email" not in path.read_text()


@pytest.mark.parametrize("path", EVENT_SCHEMA_FILES, ids=ids(EVENT_SCHEMA_FILES))
def test_illustrative_examples_say_so_in_the_schema(path):
    schema = read(path)
    if schema["x-documented"] == "full":
        assert schema["x-example"] == "documented"
    else:
        assert schema["x-example"] == "illustrative"
        assert "illustrative" in schema["description"]


@pytest.mark.parametrize("path", PROVIDER_FILES, ids=ids(PROVIDER_FILES))
def test_provider_json_is_complete(path):
    meta = read(path)
    assert meta["id"] == path.parent.name
    assert {"name", "seed", "source", "signature", "detection", "documented_notes"} <= set(meta)
    assert meta["signature"]["scheme"] in ("none", "apitree", "qovery")
    assert meta["signature"]["note"]
    assert meta["documented_notes"]


@pytest.mark.parametrize("path", PROVIDER_FILES, ids=ids(PROVIDER_FILES))
def test_provider_json_names_an_existing_seed(path):
    require_seeds()
    assert (SEEDS_DIR / read(path)["seed"]).is_file()


def test_signature_schemes_are_as_documented():
    catalog = load_catalog()
    assert catalog.providers["appery"].signature["scheme"] == "none"
    assert catalog.providers["akinon"].signature["scheme"] == "none"
    qovery = catalog.providers["qovery"].signature
    assert qovery["scheme"] == "qovery"
    assert qovery["headers"] == ["Qovery-Signature", "Qovery-Secret"]
    assert qovery["status"] == "unverified"
    apitree = catalog.providers["apitree"].signature
    assert (apitree["scheme"], apitree["headers"]) == ("apitree", ["X-ApiTree-Signature"])
    assert apitree["status"] == "inferred"


def test_documented_levels_per_provider():
    catalog = load_catalog()
    levels = {(e.provider_id, e.documented) for e in catalog.events()}
    assert levels == {
        ("appery", "full"),
        ("apitree", "full"),
        ("apitree", "envelope-only"),
        ("qovery", "envelope-only"),
        ("akinon", "undocumented"),
    }
    assert catalog.get("apitree", "webhook.created").documented == "full"
    assert catalog.providers["apitree"].envelope is not None
    assert "_envelope" not in catalog.providers["apitree"].events


def _seed_appery_examples() -> dict[str, object]:
    text = (SEEDS_DIR / "003_bb73e9cfa01d398a.txt").read_text()
    found = {}
    for match in re.finditer(r"Event ID: ([A-Z_]+)\.?\n\n(\{\n.*?\n\})(?:\n|$)", text, re.DOTALL):
        found[match.group(1)] = json.loads(match.group(2))
    return found


def _blank_emails(node: object) -> object:
    if isinstance(node, dict):
        return {k: "<email>" if k == "email" else _blank_emails(v) for k, v in node.items()}
    return node


@pytest.mark.parametrize("event", sorted(APPERY_EVENTS))
def test_appery_example_is_the_seed_example_apart_from_emails(event):
    require_seeds()
    seed = _seed_appery_examples()
    assert set(seed) == APPERY_EVENTS
    ours = load_catalog().get("appery", event).example
    assert _blank_emails(ours) == _blank_emails(seed[event])
    assert json.dumps(ours).count("@example.com") == json.dumps(seed[event]).count("[email")


def test_apitree_webhook_created_example_is_the_seed_text():
    require_seeds()
    text = (CATALOG_DIR / "apitree" / "webhook.created.example.json").read_text().strip()
    assert text in (SEEDS_DIR / "002_31e2eb498d7b73b1.txt").read_text()


@pytest.mark.parametrize(
    "schema",
    [
        [],
        "string",
        None,
        {"type": "nope"},
        {"required": "email"},
        {"properties": {"a": {"minLength": -1}}},
        {"$schema": "https://example.com/my-meta-schema", "type": "object"},
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "objekt"},
        {"$schema": "http://json-schema.org/draft-04/schema#", "minLength": -1},
        {"pattern": "(unclosed"},
        {"$ref": "#/$defs/missing"},
        {"$ref": "https://example.com/other.json"},
        {"properties": {"a": {"$ref": "#anchor"}}},
    ],
)
def test_check_user_schema_rejects_unusable_schemas(schema):
    with pytest.raises(InvalidSchemaError) as info:
        check_user_schema(schema)
    assert info.value.message


@pytest.mark.parametrize(
    "schema",
    [
        {},
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}, "$defs": {"a": {}}},
        {"$schema": "https://json-schema.org/draft/2020-12/schema#", "type": "object"},
        {
            "$id": "https://x.test/s.json",
            "$ref": "https://x.test/s.json#/$defs/a",
            "$defs": {"a": {}},
        },
        {"properties": {"a": {"$ref": "#here"}}, "$defs": {"b": {"$anchor": "here"}}},
        {"const": {"$ref": "not a reference, just data"}},
        {"$schema": "http://json-schema.org/draft-04/schema#", "id": "urn:x", "type": "object"},
        {"$schema": "http://json-schema.org/draft-06/schema#", "const": 1},
        {"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {"a": {}}},
        {"$schema": "https://json-schema.org/draft/2019-09/schema", "$defs": {"a": {}}},
        {"definitions": {"a b": {}}, "$ref": "#/definitions/a%20b"},
    ],
)
def test_check_user_schema_accepts_valid_schemas(schema):
    check_user_schema(schema)


def test_with_user_schemas_adds_and_replaces_without_touching_the_original():
    catalog = load_catalog()
    original = catalog.get("appery", "PROJECT_PREVIEW_TEST")
    merged = catalog.with_user_schemas(
        [
            UserSchemaSpec("appery", "PROJECT_PREVIEW_TEST", {"type": "object"}, {}, "mine", "d"),
            UserSchemaSpec("stripe", "charge.succeeded", {"type": "object"}, {"id": "ch_1"}),
        ]
    )
    replaced = merged.get("appery", "PROJECT_PREVIEW_TEST")
    assert replaced.user_defined and replaced.schema == {"type": "object"}
    assert replaced.source == "mine" and replaced.description == "d"
    assert catalog.get("appery", "PROJECT_PREVIEW_TEST") is original
    assert merged.get("appery", "PROJECT_BUILD_IOS_FAIL") is catalog.get(
        "appery", "PROJECT_BUILD_IOS_FAIL"
    )
    stripe = merged.providers["stripe"]
    assert stripe.user_defined and list(stripe.events) == ["charge.succeeded"]
    assert list(merged.providers)[-1] == "stripe"
    assert "stripe" not in catalog.providers
    assert merged.get("stripe", "charge.succeeded").example == {"id": "ch_1"}


def test_load_catalog_reports_a_missing_example(tmp_path):
    folder = tmp_path / "acme"
    folder.mkdir()
    (folder / "provider.json").write_text(
        json.dumps({"id": "acme", "name": "Acme", "seed": "", "source": "", "signature": {}})
    )
    (folder / "ping.schema.json").write_text(json.dumps({"x-documented": "full"}))
    with pytest.raises(CatalogError, match="ping.example.json"):
        load_catalog(tmp_path)
    (folder / "ping.example.json").write_text("{}")
    assert load_catalog(tmp_path).get("acme", "ping").example == {}


def test_load_catalog_reports_an_invalid_schema(tmp_path):
    folder = tmp_path / "acme"
    folder.mkdir()
    (folder / "provider.json").write_text(
        json.dumps({"id": "acme", "name": "Acme", "seed": "", "source": "", "signature": {}})
    )
    (folder / "ping.schema.json").write_text(json.dumps({"type": 5, "x-documented": "full"}))
    (folder / "ping.example.json").write_text("{}")
    with pytest.raises(CatalogError, match="ping.schema.json"):
        load_catalog(tmp_path)


@pytest.mark.parametrize(
    "rule",
    [{"events": ["ping"], "present": ["project"]}, {"present": ["/a"]}, {"event_from": "name"}],
)
def test_load_catalog_reports_a_malformed_detection_rule(tmp_path, rule):
    folder = tmp_path / "acme"
    folder.mkdir()
    meta = {"id": "acme", "name": "Acme", "seed": "", "source": "", "signature": {}}
    meta["detection"] = {"rules": [rule]}
    (folder / "provider.json").write_text(json.dumps(meta))
    with pytest.raises(CatalogError, match="provider.json"):
        load_catalog(tmp_path)
