"""Promote a capture ("Use as example", revertible) and a bin's schema drift view, through the
API and the inspector's partials."""

from __future__ import annotations

import json

from htmltree import parse

ORDER_SCHEMA = {
    "type": "object",
    "required": ["id", "total", "currency"],
    "properties": {
        "id": {"type": "integer"},
        "total": {"type": "number"},
        "currency": {"type": "string"},
        "customer": {
            "type": "object",
            "required": ["email"],
            "properties": {"email": {"type": "string"}},
        },
        "lines": {
            "type": "array",
            "items": {"type": "object", "properties": {"sku": {"type": "string"}}},
        },
    },
}


def test_use_as_example_makes_a_capture_the_events_example_and_reverts(client, bins):
    shipped = client.get("/api/catalog/appery/PROJECT_BUILD_IOS_FAIL").get_json()
    bin_id = bins.create(provider="appery", event="PROJECT_BUILD_IOS_FAIL")["id"]
    real = {**shipped["example"], "seen_in_the_wild": True}
    rid = bins.capture_json(bin_id, real)

    promoted = client.post(f"/api/bins/{bin_id}/requests/{rid}/promote")
    assert promoted.status_code == 200, promoted.get_json()
    assert (promoted.get_json()["example"], promoted.get_json()["example_origin"]) == (real, "user")
    shown = client.get("/api/catalog/appery/PROJECT_BUILD_IOS_FAIL").get_json()
    assert shown["example"] == real
    assert shown["schema"] == shipped["schema"], "the schema is untouched"
    # a catalog send now delivers the promoted body
    target = bins.create()["id"]
    sent = client.post(
        f"/api/bins/{target}/send", json={"provider": "appery", "event": "PROJECT_BUILD_IOS_FAIL"}
    )
    assert sent.status_code in (200, 201), sent.get_json()
    newest = bins.requests(target)["requests"][0]["id"]
    assert json.loads(bins.request(target, newest)["body_text"]) == real

    reverted = client.delete("/api/catalog/appery/PROJECT_BUILD_IOS_FAIL/example")
    assert reverted.status_code == 200
    assert reverted.get_json()["example"] == shipped["example"]
    assert reverted.get_json()["example_origin"] == "shipped"
    again = client.delete("/api/catalog/appery/PROJECT_BUILD_IOS_FAIL/example")
    assert again.status_code == 404


def test_a_capture_with_several_candidates_or_none_or_no_json_is_refused_in_words(client, bins):
    example = client.get("/api/catalog/appery/PROJECT_VERSION_CREATE").get_json()["example"]
    bin_id = bins.create()["id"]
    rid = bins.capture_json(bin_id, example)
    ambiguous = client.post(f"/api/bins/{bin_id}/requests/{rid}/promote")
    assert ambiguous.status_code == 409
    assert "APPLICATION_VERSION_CREATE" in ambiguous.get_json()["error"]["message"]
    chosen = client.post(
        f"/api/bins/{bin_id}/requests/{rid}/promote",
        json={"provider": "appery", "event": "APPLICATION_VERSION_CREATE"},
    )
    assert chosen.status_code == 200 and chosen.get_json()["example"] == example
    assert (
        client.delete("/api/catalog/appery/APPLICATION_VERSION_CREATE/example").status_code == 200
    )

    nothing = bins.capture_json(bin_id, {"unheard": "of"})
    refused = client.post(f"/api/bins/{bin_id}/requests/{nothing}/promote")
    assert refused.status_code == 404
    assert refused.get_json()["error"]["code"] == "unknown_event"
    text = bins.create(provider="appery", event="PROJECT_BUILD_IOS_FAIL")["id"]
    broken = bins.capture(text, body=b"{not json", headers=[("Content-Type", "application/json")])
    answer = client.post(f"/api/bins/{text}/requests/{broken}/promote")
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "not_json"


def test_the_use_as_example_partial_promotes_and_escapes(client, bins):
    bin_id = bins.create(provider="appery", event="PROJECT_BUILD_IOS_FAIL")["id"]
    rid = bins.capture_json(bin_id, {"x": "<script>alert(1)</script>"})
    url = f"/bins/{bin_id}/requests/{rid}/use-as-example"
    form = parse(client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True))
    assert form.find(id="use-as-example") is not None
    answer = client.post(
        url, data={"event": "appery/PROJECT_BUILD_IOS_FAIL"}, headers={"HX-Request": "true"}
    )
    html = answer.get_data(as_text=True)
    assert "This body is now the example of" in html
    assert "<script>alert" not in html
    shown = client.get("/api/catalog/appery/PROJECT_BUILD_IOS_FAIL").get_json()
    assert shown["example"] == {"x": "<script>alert(1)</script>"}


def test_drift_lists_undocumented_fields_and_required_ones_never_seen(client, bins):
    assert client.put("/api/catalog/acme/order", json={"schema": ORDER_SCHEMA}).status_code in (
        200,
        201,
    )
    bin_id = bins.create(provider="acme", event="order")["id"]
    bins.capture_json(bin_id, {"id": 1, "total": 2, "note": "a"})
    bins.capture_json(
        bin_id, {"id": 2, "total": 3, "note": "b", "customer": {"email": "e", "tel": 1}}
    )
    bins.capture_json(
        bin_id,
        {"id": 3, "total": 4, "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]},
    )
    bins.capture(bin_id, body=b"not json", headers=[("Content-Type", "application/json")])

    events = client.get(f"/api/bins/{bin_id}/drift").get_json()["events"]
    assert events == [{"provider": "acme", "event": "order", "captures": 4}]
    report = client.get(f"/api/bins/{bin_id}/drift?provider=acme&event=order").get_json()
    assert (report["captures"], report["checked"], report["origin"]) == (4, 3, "user")
    assert report["undocumented"] == [
        {"path": "/note", "count": 2},
        {"path": "/customer/tel", "count": 1},
        {"path": "/lines/*/qty", "count": 1},
    ]
    assert report["never_seen"] == ["/currency"]

    html = client.get(f"/bins/{bin_id}/drift", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    page = parse(html)
    assert page.find(id="drift") is not None
    assert "/customer/tel" in html and "/currency" in html
    unknown = client.get(f"/api/bins/{bin_id}/drift?provider=acme&event=nope")
    assert unknown.status_code == 404
