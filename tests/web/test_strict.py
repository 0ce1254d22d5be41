"""Strict bins take documented events only: what each kind of body is answered (README,
"A strict bin"). Every refused request is still stored."""

from __future__ import annotations

import pytest

APPERY_EVENT = (
    b'{"project":{"guid":"372f4a93-e8ce-46ac-a111-44b6c3f476f4","name":"p","description":"d",'
    b'"created_at":"2013-11-27T05:08:26-08:00","edited_at":"2013-11-29T08:26:46-08:00",'
    b'"owner":{"name":"n","email":"me@example.com"}},"build":{"started_at":'
    b'"2013-11-30T05:07:26-08:00","finished_at":"2013-11-30T05:08:06-08:00","status":"failed",'
    b'"platform":"ios","file_url":null,"initiator":{"name":"n","email":"me@example.com"}}}'
)
JSON = [("Content-Type", "application/json")]


@pytest.mark.parametrize(
    ("settings", "body", "headers", "status", "verdict"),
    [
        # a bin that expects nothing in particular
        ({}, APPERY_EVENT, JSON, 200, "valid"),
        ({}, b'{"id": 1', JSON, 422, "not_json"),
        ({}, b'{"not": "an event"}', JSON, 422, "unknown_event"),
        ({}, b"a=1&b=2", [("Content-Type", "application/x-www-form-urlencoded")], 422, "not_json"),
        ({}, b"", [], 200, "no_body"),
        # a bin that expects a provider
        ({"provider": "appery"}, APPERY_EVENT, JSON, 200, "valid"),
        ({"provider": "appery"}, b'{"not": "an event"}', JSON, 422, "unknown_event"),
        ({"provider": "appery"}, b"", [], 422, "no_body"),
        # and one that expects an event
        ({"provider": "appery", "event": "PROJECT_BUILD_IOS_FAIL"}, b"[]", JSON, 422, "invalid"),
    ],
)
def test_a_strict_bin_refuses_what_is_not_a_documented_event(
    bins, settings, body, headers, status, verdict
):
    bin_id = bins.create(strict_validation=True, **settings)["id"]

    answer = bins.ingest(bin_id, body=body, headers=headers)

    assert answer.status_code == status
    stored = bins.request(bin_id, int(answer.headers["X-Receiver-Request-Id"]))
    assert stored["validation"]["status"] == verdict
    if status == 422:
        refusal = answer.get_json()
        assert refusal["error"]["code"] == "invalid_payload"
        assert refusal["validation"]["status"] == verdict


def test_a_preflight_to_a_strict_bin_that_expects_nothing_is_answered_as_a_preflight(bins):
    bin_id = bins.create(strict_validation=True)["id"]

    answer = bins.ingest(
        bin_id, method="OPTIONS", headers=[("Access-Control-Request-Method", "POST")]
    )

    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Methods"] == "POST"
