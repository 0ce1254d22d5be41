"""Any provider's catalog from its OpenAPI 3.1 description: GitHub's published webhooks document
(trimmed, tests/data/openapi) imported through the API and the CLI, its components bundled, its
events browsed, validated, overridden and deleted; the whole document (tests/data/octokit) too
(how long it takes is a figure of bench/promises.py)."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest
import yaml
from clocks import NEVER_SECONDS

from receiver.catalog import importing

DATA = Path(__file__).resolve().parents[1] / "data"
SMALL = DATA / "openapi" / "github-webhooks-small.openapi.yaml"
LARGE = DATA / "octokit" / "openapi-webhooks-api.github.com.json.gz"
SMALL_EVENTS = [
    "ping",
    "projects-v2-item-created",
    "projects-v2-item-deleted",
    "projects-v2-item-edited",
    "custom-property-created",
    "custom-property-deleted",
]


def import_document(client, data: bytes, provider: str = "github", content_type: str = "x"):
    return client.post(
        f"/api/catalog/import?provider={provider}", data=data, content_type=content_type
    )


def test_a_yaml_document_with_webhooks_and_components_is_imported_and_validates(client):
    document = yaml.safe_load(SMALL.read_text())
    answer = import_document(client, SMALL.read_bytes(), content_type="application/yaml")
    assert answer.status_code == 201, answer.get_json()
    report = answer.get_json()
    assert (report["provider"], report["imported"], report["skipped"]) == (
        "github",
        SMALL_EVENTS,
        [],
    )
    assert (report["examples_dropped"], report["renamed"]) == ([], [])
    assert report["detection"] == {"event_header": "X-Github-Event"}

    listed = {p["id"]: p for p in client.get("/api/catalog").get_json()["providers"]}
    assert [e["id"] for e in listed["github"]["events"]] == SMALL_EVENTS
    ping = client.get("/api/catalog/github/ping").get_json()
    # the example comes from components/examples, the description from the operation
    assert ping["example"] == document["components"]["examples"]["ping"]["value"]
    assert ping["description"].startswith("This event occurs when you create a new webhook.")
    # $refs into components are bundled into $defs: the schema stands alone
    schema = ping["schema"]
    ping_body = document["components"]["schemas"]["webhook-ping"]
    assert list(schema["properties"]) == list(ping_body["properties"])
    assert set(schema["$defs"]) >= {"hook-response", "repository-webhooks", "simple-user"}
    assert "#/components/" not in json.dumps(schema)

    valid = client.post("/api/validate?provider=github&event=ping", json=ping["example"])
    assert valid.get_json()["status"] == "valid", valid.get_json()
    broken = {**ping["example"], "hook_id": "not a number"}
    verdict = client.post("/api/validate?provider=github&event=ping", json=broken).get_json()
    assert verdict["status"] == "invalid"
    assert [(e["path"], e["keyword"]) for e in verdict["errors"]] == [("/hook_id", "type")]
    # a field inside a bundled component is checked too
    sender = {**ping["example"], "sender": {**ping["example"]["sender"], "id": "x"}}
    verdict = client.post("/api/validate?provider=github&event=ping", json=sender).get_json()
    assert [e["path"] for e in verdict["errors"]] == ["/sender/id"]


def test_imported_events_can_be_overridden_and_deleted(client):
    assert import_document(client, SMALL.read_bytes()).status_code == 201
    override = {"schema": {"type": "object", "required": ["zen"]}, "example": {"zen": "z"}}
    assert client.put("/api/catalog/github/ping", json=override).status_code in (200, 201)
    verdict = client.post("/api/validate?provider=github&event=ping", json={}).get_json()
    assert verdict["errors"][0]["keyword"] == "required"
    assert client.delete("/api/catalog/github/ping").status_code in (200, 204)
    assert client.get("/api/catalog/github/ping").status_code == 404
    assert client.delete("/api/catalog/github").status_code in (200, 204)
    assert "github" not in {p["id"] for p in client.get("/api/catalog").get_json()["providers"]}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"openapi: 3.0.3\nwebhooks: {}\n", "only OpenAPI 3.1 documents carry webhooks"),
        (b'{"openapi": "3.1.0", "paths": {}}', "the document has no webhooks"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_documents_that_cannot_be_imported_are_refused_in_words(client, data, words):
    answer = import_document(client, data)
    assert answer.status_code == 400, answer.get_json()
    assert words in answer.get_json()["error"]["message"]


# A real-time bound, because real time is the point: an import that expanded the aliases below
# would build 10^8 strings (minutes and gigabytes); refusing them walks at most the node budget,
# here lowered to 10,000 (milliseconds). How long the real budget takes: bench/promises.py.


def test_a_billion_laughs_yaml_is_refused_without_expanding_it(client, monkeypatch):
    monkeypatch.setattr(importing, "MAX_NODES", 10_000)
    lines = ['openapi: "3.1.0"', "x-lol:", '  a0: &a0 ["lol"]']
    lines += [f"  a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    lines += ["webhooks:", "  boom:", "    post:", "      requestBody:", "        content:"]
    lines += ["          application/json:", "            schema: {type: object}"]
    lines += ["            example: *a8"]  # 10^8 strings once expanded
    started = time.perf_counter()
    answer = import_document(client, "\n".join(lines).encode())
    assert time.perf_counter() - started < NEVER_SECONDS
    assert answer.status_code == 400
    message = answer.get_json()["error"]["message"]
    assert "more than 10000 nodes of schemas and examples" in message
    too_many = ['a0: &a0 ["lol"]'] + [f"a{n}: [{', '.join(['*a0'] * 10)}]" for n in range(1, 120)]
    answer = import_document(client, "\n".join(too_many).encode())
    assert "more than 1000 aliases" in answer.get_json()["error"]["message"]


@pytest.mark.parametrize("depth", [600, 5000])
def test_deeply_nested_examples_and_schemas_are_refused_without_a_server_error(client, depth):
    nested_example = "[" * depth + "]" * depth
    nested_schema = '{"items":' * depth + "{}" + "}" * depth

    def webhook(schema: str, example: str = "") -> str:
        media = f'{{"schema":{schema}{example}}}'
        return f'{{"post":{{"requestBody":{{"content":{{"application/json":{media}}}}}}}}}'

    webhooks = {
        "a": webhook('{"type":"array"}', ',"example":' + nested_example),
        "b": webhook(nested_schema),
    }
    items = ",".join(f'"{name}":{item}' for name, item in webhooks.items())
    document = f'{{"openapi":"3.1.0","webhooks":{{{items}}}}}'
    answer = import_document(client, document.encode())
    if depth > 1000:  # deeper than the JSON parser goes
        assert answer.status_code == 400
        assert "nested too deeply" in answer.get_json()["error"]["message"]
        return
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["skipped"] == [
        {"webhook": "a", "reason": "an example or constant value is nested too deeply"},
        {"webhook": "b", "reason": "the schema is nested too deeply"},
    ]


def test_a_webhook_whose_schema_refers_nowhere_is_skipped_with_its_reason(client):
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Acme", "version": "1"},
        "webhooks": {
            "invoice.paid": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Invoice"}}
                        }
                    }
                }
            },
            "broken": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Missing"}}
                        }
                    }
                }
            },
        },
        "components": {
            "schemas": {
                "Invoice": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {"id": {"type": "string"}},
                }
            }
        },
    }
    answer = import_document(client, json.dumps(document).encode(), provider="acme")
    report = answer.get_json()
    assert report["imported"] == ["invoice.paid"]
    assert report["skipped"] == [
        {
            "webhook": "broken",
            "reason": "the schema refers to a component that does not exist: Missing",
        }
    ]


def test_the_cli_imports_a_document_file(runner, client):
    result = runner.invoke(args=["catalog", "import", str(SMALL), "--provider", "gh"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("imported 6 event(s) of gh in ")
    assert result.output.rstrip().endswith("events are detected by the header X-Github-Event")
    assert client.get("/api/catalog/gh/custom-property-created").status_code == 200
    refused = runner.invoke(args=["catalog", "import", str(LARGE), "--provider", "gh"])
    assert refused.exit_code == 2 and "not UTF-8" in refused.output  # still gzipped


def test_githubs_whole_webhooks_document_imports_and_validates_its_examples(client):
    data = gzip.decompress(LARGE.read_bytes())
    answer = import_document(client, data, content_type="application/json")
    assert answer.status_code == 201, answer.get_json()
    report = answer.get_json()
    assert (len(report["imported"]), report["skipped"]) == (261, [])
    # every example the document gives was checked against its schema on the way in (an
    # example that did not match would be listed as dropped); they validate here too
    for event in ("ping", "check-run-completed", "secret-scanning-alert-location-created"):
        shown = client.get(f"/api/catalog/github/{event}").get_json()
        assert shown["example"] is not None, event
        verdict = client.post(f"/api/validate?provider=github&event={event}", json=shown["example"])
        assert verdict.get_json()["status"] == "valid", (event, verdict.get_json()["errors"])


ADYEN = DATA / "adyen" / "webhooks-small.openapi.json"


def test_webhooks_named_like_paths_get_event_ids_and_keep_their_names(client):
    answer = import_document(client, ADYEN.read_bytes(), provider="adyen")

    assert answer.status_code == 201, answer.get_json()
    report = answer.get_json()
    assert report["imported"] == ["AUTHORISATION", "CAPTURE", "REFUND"]
    assert report["renamed"] == [
        {"webhook": "/AUTHORISATION", "event": "AUTHORISATION"},
        {"webhook": "/CAPTURE", "event": "CAPTURE"},
        {"webhook": "/REFUND", "event": "REFUND"},
    ]
    assert (report["skipped"], report["examples_dropped"]) == ([], [])
    shown = client.get("/api/catalog/adyen/AUTHORISATION").get_json()
    assert shown["source"] == "OpenAPI import: Webhooks, webhook /AUTHORISATION"
    assert shown["description"].startswith("The result of the [authorisation request]")
    verdict = client.post("/api/validate?provider=adyen&event=AUTHORISATION", json=shown["example"])
    assert verdict.get_json()["status"] == "valid", verdict.get_json()


def webhook_named(name: str) -> tuple[str, dict]:
    media = {"application/json": {"schema": {"type": "object"}, "example": {"name": name}}}
    return name, {"post": {"requestBody": {"content": media}}}


@pytest.mark.parametrize(
    ("names", "imported", "skipped"),
    [
        (["/orders/paid", "order paid!"], ["orders-paid", "order-paid"], []),
        (["x", "/x"], ["x"], [("/x", "its event id x is taken by the webhook x")]),
        (["///", "/ok"], ["ok"], [("///", "no event id can be made of the name")]),
    ],
)
def test_an_event_id_is_derived_from_a_name_that_is_not_one(client, names, imported, skipped):
    document = {"openapi": "3.1.0", "webhooks": dict(webhook_named(name) for name in names)}

    report = import_document(client, json.dumps(document).encode(), provider="p").get_json()

    assert report["imported"] == imported
    assert [(s["webhook"], s["reason"].split(" (")[0]) for s in report["skipped"]] == skipped


def test_yaml_is_read_with_libyaml_when_pyyaml_has_it():
    """The pure-Python reader takes 17-25 s for a 3 MB document (bench/import_yaml.py)."""
    from receiver.catalog import importing

    assert yaml.__with_libyaml__
    assert importing.SafeLoader is yaml.CSafeLoader
    assert importing.parse_document(SMALL.read_bytes()) == yaml.safe_load(SMALL.read_text())


def test_a_yaml_document_over_its_own_limit_is_refused_before_it_is_read(client):
    from receiver.catalog import importing

    data = b"# " + b"x" * importing.MAX_YAML_BYTES + b"\nopenapi: 3.1.0\n"
    answer = import_document(client, data)

    assert answer.status_code == 400
    message = answer.get_json()["error"]["message"]
    assert message == "a YAML document is at most 8 MiB (a JSON one 16 MiB): give this one as JSON"
