"""Detection rules of user providers: their webhooks are recognised in a bin that names no
provider, as the shipped ones are: a GitHub-style event header (set by an OpenAPI import), a
header only the provider sends, and a JSON Pointer naming the event."""

from __future__ import annotations

from pathlib import Path

import yaml

SMALL = (
    Path(__file__).resolve().parents[1] / "data" / "openapi" / "github-webhooks-small.openapi.yaml"
)


def captured(bins, bin_id: str, payload: object, headers: list[tuple[str, str]]) -> dict:
    """The captured request as the API shows it."""
    return bins.request(bin_id, bins.capture_json(bin_id, payload, headers))


def test_a_github_style_event_header_detects_events_in_an_unconfigured_bin(client, bins):
    imported = client.post("/api/catalog/import?provider=github", data=SMALL.read_bytes())
    assert imported.get_json()["detection"] == {"event_header": "X-Github-Event"}
    ping = yaml.safe_load(SMALL.read_text())["components"]["examples"]["ping"]["value"]
    bin_id = bins.create()["id"]
    assert client.get(f"/api/bins/{bin_id}").get_json()["provider"] is None

    # the header's value is the event id (GitHub spells the name in any case)
    got = captured(bins, bin_id, ping, [("X-GitHub-Event", "ping")])
    assert got["event"] == {"provider": "github", "event": "ping", "candidates": ["ping"]}
    assert got["validation"]["status"] == "valid"

    # or the family that the payload's action narrows to one event
    item = {"action": "edited", "projects_v2_item": {}, "sender": {}}
    got = captured(bins, bin_id, item, [("X-GitHub-Event", "projects_v2_item")])
    assert (got["event"]["provider"], got["event"]["event"]) == (
        "github",
        "projects-v2-item-edited",
    )
    assert got["validation"]["status"] == "invalid"  # checked against that event's schema
    deleted = captured(
        bins, bin_id, {**item, "action": "deleted"}, [("X-GitHub-Event", "projects_v2_item")]
    )
    assert deleted["event"]["event"] == "projects-v2-item-deleted"

    # without the header the same body is not GitHub's
    plain = captured(bins, bin_id, ping, [])
    assert plain["event"]["provider"] != "github"


def test_a_providers_own_header_and_a_pointer_detect_its_events(client, bins):
    rules = {
        "name": "Acme",
        "detection": {"headers": ["X-Acme-Signature"], "event_pointer": "/type"},
    }
    assert client.put("/api/catalog/acme", json=rules).status_code in (200, 201)
    schema = {
        "type": "object",
        "required": ["type", "data"],
        "properties": {"type": {"const": "invoice.paid"}, "data": {"type": "object"}},
    }
    assert client.put("/api/catalog/acme/invoice.paid", json={"schema": schema}).status_code in (
        200,
        201,
    )
    bin_id = bins.create()["id"]

    got = captured(bins, bin_id, {"type": "invoice.paid", "data": {}}, [("X-Acme-Signature", "x")])
    assert got["event"] == {
        "provider": "acme",
        "event": "invoice.paid",
        "candidates": ["invoice.paid"],
    }
    assert got["validation"]["status"] == "valid"
    missing = captured(bins, bin_id, {"type": "invoice.paid"}, [("x-acme-signature", "x")])
    assert missing["event"]["event"] == "invoice.paid"
    assert missing["validation"]["errors"][0]["keyword"] == "required"
    # the header names the provider even when the pointer names no event it has
    other = captured(bins, bin_id, {"type": "refund.created"}, [("X-Acme-Signature", "x")])
    assert (other["event"]["provider"], other["event"]["event"]) == ("acme", None)
    assert other["validation"]["status"] == "unknown_event"


def test_detection_rules_that_are_not_rules_are_refused_in_words(client):
    for detection, words in (
        ({"event_header": "X Bad"}, "event_header must be an HTTP header name"),
        ({"event_pointer": "type"}, "event_pointer must be a JSON Pointer"),
        ({"colour": "red"}, "unknown field in detection: 'colour'"),
    ):
        answer = client.put("/api/catalog/acme", json={"detection": detection})
        assert answer.status_code == 400
        assert words in answer.get_json()["error"]["message"]
    shipped = client.put("/api/catalog/qovery", json={"detection": {"event_pointer": "/x"}})
    assert shipped.status_code in (403, 409)


def user_provider(client, provider: str, events: list[str], **detection: object) -> None:
    answer = client.put(f"/api/catalog/{provider}", json={"detection": detection})
    assert answer.status_code in (200, 201), answer.get_json()
    for event in events:
        schema = {"type": "object", "required": ["type"]}
        answer = client.put(f"/api/catalog/{provider}/{event}", json={"schema": schema})
        assert answer.status_code == 201, answer.get_json()


def test_of_two_providers_with_one_event_pointer_the_one_whose_catalog_has_the_event_wins(
    client, bins
):
    user_provider(client, "alpha", ["invoice.created"], event_pointer="/type")
    user_provider(client, "beta", ["order.shipped"], event_pointer="/type")
    bin_id = bins.create()["id"]

    shipped = captured(bins, bin_id, {"type": "order.shipped"}, [])
    invoiced = captured(bins, bin_id, {"type": "invoice.created"}, [])
    unknown = captured(bins, bin_id, {"type": "nobody.has.it"}, [])

    assert shipped["event"] == {
        "provider": "beta",
        "event": "order.shipped",
        "candidates": ["order.shipped"],
    }
    assert invoiced["event"]["provider"] == "alpha"
    # none has it: the first that recognises the shape says so, as before
    assert (unknown["event"]["provider"], unknown["event"]["event"]) == ("alpha", None)


def test_of_two_providers_with_one_event_header_the_one_whose_catalog_has_the_event_wins(
    client, bins
):
    user_provider(client, "alpha", ["invoice.created"], event_header="X-Event")
    user_provider(client, "beta", ["order.shipped"], event_header="X-Event")
    bin_id = bins.create()["id"]

    got = captured(bins, bin_id, {"type": "x"}, [("X-Event", "order.shipped")])

    assert (got["event"]["provider"], got["event"]["event"]) == ("beta", "order.shipped")
