"""Bins and the catalog kept in memory by the capture path, checked at commit.

Two apps on one database stand for two server processes: the first captures (so it keeps the
bin and the catalog in memory), the second changes them, and the first must capture with what
the database says now, never with what it remembered.
"""

from __future__ import annotations

import json
from typing import Any

from actions import BinActions

ORDER_SCHEMA = {
    "type": "object",
    "required": ["id", "total"],
    "properties": {"id": {"type": "integer"}, "total": {"type": "integer"}},
}


def two_processes(make_app: Any) -> tuple[BinActions, BinActions]:
    return BinActions(make_app().test_client()), BinActions(make_app().test_client())


def send_json(bins: BinActions, bin_id: str, payload: Any) -> Any:
    body = json.dumps(payload).encode()
    return bins.ingest(bin_id, body=body, headers=[("Content-Type", "application/json")])


def test_a_setting_changed_by_another_process_applies_to_the_next_capture(make_app):
    first, second = two_processes(make_app)
    bin_id = first.create()["id"]
    assert send_json(first, bin_id, {"not": "an event"}).status_code == 200

    patched = second.client.patch(
        f"/api/bins/{bin_id}", json={"provider": "appery", "strict_validation": True}
    )
    assert patched.status_code == 200

    refused = send_json(first, bin_id, {"not": "an event"})
    assert refused.status_code == 422
    stored = first.request(bin_id, int(refused.headers["X-Receiver-Request-Id"]))
    assert stored["event"]["provider"] == "appery"


def test_a_schema_changed_by_another_process_validates_the_next_capture(make_app):
    first, second = two_processes(make_app)
    bin_id = first.create(provider="acme", event="order")["id"]
    before = send_json(first, bin_id, {"id": 1})
    assert first.request(bin_id, int(before.headers["X-Receiver-Request-Id"]))["validation"][
        "status"
    ] in ("unknown_event", "valid")

    put = second.client.put("/api/catalog/acme/order", json={"schema": ORDER_SCHEMA})
    assert put.status_code == 201

    after = send_json(first, bin_id, {"id": 1})
    validation = first.request(bin_id, int(after.headers["X-Receiver-Request-Id"]))["validation"]
    assert validation["status"] == "invalid"
    assert [error["keyword"] for error in validation["errors"]] == ["required"]


def test_a_bin_deleted_by_another_process_answers_404_and_stores_nothing(make_app):
    first, second = two_processes(make_app)
    bin_id = first.create()["id"]
    assert send_json(first, bin_id, {}).status_code == 200

    assert second.client.delete(f"/api/bins/{bin_id}").status_code == 204

    gone = send_json(first, bin_id, {})
    assert gone.status_code == 404
    assert gone.get_json()["error"]["code"] == "bin_not_found"


def test_a_bin_made_again_under_its_id_is_not_taken_for_the_old_one(make_app):
    first, second = two_processes(make_app)
    first.create(id="orders-dev")
    assert send_json(first, "orders-dev", {"not": "an event"}).status_code == 200

    assert second.client.delete("/api/bins/orders-dev").status_code == 204
    second.create(id="orders-dev", provider="appery", strict_validation=True)

    assert send_json(first, "orders-dev", {"not": "an event"}).status_code == 422


def test_a_sub_path_that_begins_with_a_slash_is_captured_as_sent(bins):
    bin_id = bins.create()["id"]

    for path in ("//x", "//", "/a//b/"):
        answer = bins.ingest(bin_id, path=path, body=b"{}")
        assert answer.status_code == 200, path
        stored = bins.request(bin_id, int(answer.headers["X-Receiver-Request-Id"]))
        assert stored["path"] == path
