"""Samples of an imported provider carry the headers its OpenAPI document requires, on every path
that builds a sample (``receiver send``, the API's send, the catalog page's Send, the pytest
plugin's ``send_event``); an import says what became of each webhook, once; and one document
imported as two providers gives two event filters that can be told apart.
"""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask import request

from receiver.testing import send_event
from receiver.web.state import current_catalog

PAID = {"order": "A-1", "amount": 1200}
REFUNDED = {"order": "A-1", "amount": 1200, "refunded_at": "2026-01-02T03:04:05Z"}
ORDER = {
    "type": "object",
    "required": ["order", "amount"],
    "properties": {"order": {"type": "string"}, "amount": {"type": "integer", "minimum": 1}},
}


def shop_webhook(example: dict, summary: str) -> dict:
    """A webhook as Shop's document describes it: the event header (whose documented example is
    the same for every webhook, as in GitHub's document), a delivery id, a signature."""
    return {
        "post": {
            "summary": summary,
            "parameters": [
                {"name": "X-Shop-Event", "in": "header", "required": True, "example": "order.paid"},
                {
                    "name": "X-Shop-Delivery",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "example": "d-1"},
                },
                {"name": "X-Shop-Trace", "in": "header", "required": False, "example": "t"},
                {"name": "X-Shop-Nonce", "in": "header", "required": True},
                {
                    "name": "X-Hub-Signature-256",
                    "in": "header",
                    "required": True,
                    "example": "sha256=0000",
                },
            ],
            "requestBody": {"content": {"application/json": {"schema": ORDER, "example": example}}},
        }
    }


SHOP = {
    "openapi": "3.1.0",
    "info": {"title": "Shop", "version": "1"},
    "webhooks": {
        "order.paid": shop_webhook(PAID, "An order was paid"),
        "order.refunded": shop_webhook(REFUNDED, "An order was refunded"),
    },
}


def import_shop(client, provider: str = "shop", document: dict = SHOP) -> dict:
    answer = client.post(
        f"/api/catalog/import?provider={provider}",
        data=json.dumps(document),
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def header(pairs, name: str) -> list[str]:
    return [value for key, value in pairs if key.lower() == name.lower()]


def assert_shop_headers(pairs, event: str) -> None:
    """The document's required headers with their values; the event header names the event;
    no documented example signature, and nothing the document gives no value for."""
    assert header(pairs, "X-Shop-Event") == [event]
    assert header(pairs, "X-Shop-Delivery") == ["d-1"]
    assert header(pairs, "X-Shop-Trace") == []  # not required
    assert header(pairs, "X-Shop-Nonce") == []  # required, but the document gives no value
    assert header(pairs, "X-Hub-Signature-256") == []  # signing makes it, or nothing does


@pytest.mark.parametrize("event", ["order.paid", "order.refunded"])
def test_receiver_send_carries_the_documents_headers(client, runner, httpserver, event):
    import_shop(client)
    httpserver.expect_request("/hooks").respond_with_data("")

    result = runner.invoke(args=["send", "shop", event, "--to", httpserver.url_for("/hooks")])

    assert result.exit_code == 0, result.output
    [(sent, _)] = httpserver.log
    assert_shop_headers(list(sent.headers.items()), event)


def test_the_apis_send_carries_them_and_detects_the_event_by_them(client, bins):
    import_shop(client)
    bin_id = bins.create()["id"]

    sent = client.post(
        f"/api/bins/{bin_id}/send", json={"provider": "shop", "event": "order.refunded"}
    )

    assert sent.status_code == 201, sent.get_json()
    captured = sent.get_json()
    assert_shop_headers(captured["headers"], "order.refunded")
    assert captured["event"]["provider"] == "shop"
    assert captured["event"]["event"] == "order.refunded"
    assert captured["validation"]["status"] == "valid"


def test_the_catalog_pages_send_carries_them(client, bins):
    import_shop(client)
    bin_id = bins.create()["id"]

    sent = client.post("/catalog/shop/order.paid/send", data={"bin_id": bin_id})

    assert sent.status_code == 303
    [listed] = bins.requests(bin_id)["requests"]
    assert_shop_headers(bins.request(bin_id, listed["id"])["headers"], "order.paid")


def test_the_pytest_plugins_send_event_carries_them(app, client):
    import_shop(client)
    with app.app_context():
        catalog = current_catalog()
    handler = Flask("handler")
    seen: list = []

    @handler.post("/hooks")
    def hooks():
        seen.append(list(request.headers.items()))
        return "", 204

    response = send_event("shop", "order.paid", to=handler, path="/hooks", catalog=catalog)

    assert response.status_code == 204
    assert_shop_headers(seen[0], "order.paid")


def test_a_signed_sample_carries_a_fresh_signature_instead(client, runner, httpserver):
    import_shop(client)
    httpserver.expect_request("/hooks").respond_with_data("")
    args = ["send", "shop", "order.paid", "--to", httpserver.url_for("/hooks")]

    result = runner.invoke(args=[*args, "--secret", "s3cret", "--scheme", "hmac"])

    assert result.exit_code == 0, result.output
    [(sent, _)] = httpserver.log
    [signature] = header(list(sent.headers.items()), "X-Hub-Signature-256")
    assert signature.startswith("sha256=") and signature != "sha256=0000"


def test_the_documented_event_value_is_kept_when_it_names_the_event(client, httpserver, runner):
    document = json.loads(json.dumps(SHOP))
    parameter = document["webhooks"]["order.refunded"]["post"]["parameters"][0]
    parameter["example"] = "order.refunded"
    import_shop(client, document=document)
    shown = client.get("/api/catalog/shop/order.refunded").get_json()
    assert shown["headers"] == [
        ["X-Shop-Event", "order.refunded"],
        ["X-Shop-Delivery", "d-1"],
        ["X-Shop-Nonce", ""],
        ["X-Hub-Signature-256", "sha256=0000"],
    ]


# --- what an import reports ---------------------------------------------------------------------


def test_an_event_imported_without_its_example_is_reported_once_as_such(client, runner, tmp_path):
    document = json.loads(json.dumps(SHOP))
    media = document["webhooks"]["order.refunded"]["post"]["requestBody"]["content"]
    media["application/json"]["example"] = {"order": "A-1", "amount": 0}

    report = import_shop(client, document=document)

    assert report["imported"] == ["order.paid", "order.refunded"]
    assert report["skipped"] == []
    [dropped] = report["examples_dropped"]
    assert dropped["event"] == "order.refunded"
    assert dropped["reason"].startswith("the example does not match the schema at '/amount'")
    assert client.get("/api/catalog/shop/order.refunded").get_json()["example"] is None

    path = tmp_path / "shop.json"
    path.write_text(json.dumps(document))
    result = runner.invoke(args=["catalog", "import", str(path), "--provider", "shop2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "skipped" not in result.output
    assert lines[0] == f"imported order.refunded, example dropped: {dropped['reason']}"
    assert lines[1].startswith("imported 2 event(s) of shop2 in ")


# --- one document, two providers: two filters ---------------------------------------------------


def test_the_event_filter_tells_two_providers_with_the_same_events_apart(client, bins):
    import_shop(client, "shop")
    import_shop(client, "shop2")
    bin_id = bins.create()["id"]
    for provider in ("shop", "shop2", "shop"):
        sent = client.post(
            f"/api/bins/{bin_id}/send", json={"provider": provider, "event": "order.paid"}
        )
        assert sent.status_code == 201, sent.get_json()

    def listed(event: str) -> list[str]:
        page = bins.requests(bin_id, event=event)["requests"]
        return [item["event"]["provider"] for item in page]

    assert listed("shop/order.paid") == ["shop", "shop"]
    assert listed("shop2/order.paid") == ["shop2"]
    assert listed("order.paid") == ["shop", "shop2", "shop"]  # any provider's, as before

    page = client.get(f"/bins/{bin_id}?event=shop2/order.paid").get_data(as_text=True)
    # both documents are titled Shop: each group says whose it is
    assert '<optgroup label="Shop (shop)">' in page
    assert '<optgroup label="Shop (shop2)">' in page
    assert '<option value="shop2/order.paid" selected>order.paid</option>' in page
    assert '<option value="shop/order.paid" >order.paid</option>' in page
    legacy = client.get(f"/bins/{bin_id}?event=order.paid").get_data(as_text=True)
    assert '<option value="order.paid" selected>order.paid (any provider)</option>' in legacy
