"""The JSON API for bins: create, read, change settings, delete; private bins and their tokens."""

from __future__ import annotations

import re
from datetime import datetime
from datetime import timedelta

import pytest
from actions import assert_json_error
from sqlalchemy import func
from sqlalchemy import select

from receiver.storage.db import db
from receiver.storage.models import CapturedRequest

RANDOM_ID = re.compile(r"[A-Za-z0-9_-]{24,}")
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
BIN_FIELDS = {
    "id",
    "label",
    "private",
    "created_at",
    "expires_at",
    "request_count",
    "ingest_url",
    "inspect_url",
    "provider",
    "event",
    "response",
    "signature",
    "forward_url",
}


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_create_answers_201_with_urls_and_times(client):
    response = client.post("/api/bins", json={"label": "Appery iOS builds"})
    assert response.status_code == 201
    created = response.get_json()
    assert RANDOM_ID.fullmatch(created["id"])
    assert created["label"] == "Appery iOS builds"
    assert created["private"] is False
    assert "token" not in created
    assert created["ingest_url"] == f"http://localhost/b/{created['id']}"
    assert created["inspect_url"] == f"http://localhost/bins/{created['id']}"
    assert ISO_UTC.fullmatch(created["created_at"])
    assert ISO_UTC.fullmatch(created["expires_at"])
    lifetime = parse_iso(created["expires_at"]) - parse_iso(created["created_at"])
    assert lifetime == timedelta(days=7)
    assert response.headers["Location"].endswith(f"/api/bins/{created['id']}")


def test_create_without_a_body_makes_a_random_bin(client):
    response = client.post("/api/bins")
    assert response.status_code == 201
    assert RANDOM_ID.fullmatch(response.get_json()["id"])


def test_random_ids_are_unguessable_and_distinct(client):
    ids = {client.post("/api/bins", json={}).get_json()["id"] for _ in range(5)}
    assert len(ids) == 5
    # at least 128 bits: 22 base64url characters; the product uses 24 (144 bits)
    assert all(len(bin_id) >= 24 for bin_id in ids)


@pytest.mark.parametrize("bin_id", ["abc", "appery-dev", "0-9", "a" * 64])
def test_a_readable_id_can_be_chosen(client, bin_id):
    response = client.post("/api/bins", json={"id": bin_id})
    assert response.status_code == 201
    assert response.get_json()["id"] == bin_id
    assert client.get(f"/api/bins/{bin_id}").status_code == 200


@pytest.mark.parametrize(
    "bin_id", ["ab", "a" * 65, "Appery", "with_underscore", "with space", "ü-bin", "a/b", 123]
)
def test_a_readable_id_outside_the_rules_is_refused(client, bin_id):
    error = assert_json_error(client.post("/api/bins", json={"id": bin_id}), 400)
    assert "[a-z0-9-]{3,64}" in error["message"]


def test_a_taken_id_answers_409_json(client):
    client.post("/api/bins", json={"id": "taken-id"})
    error = assert_json_error(client.post("/api/bins", json={"id": "taken-id"}), 409)
    assert error["code"] == "id_taken"


def test_create_with_malformed_json_answers_400(client):
    response = client.post("/api/bins", data=b"{not json", content_type="application/json")
    assert_json_error(response, 400)


@pytest.mark.parametrize("body", [[], "a string", 3, None, [{"id": "abc"}]])
def test_create_with_json_that_is_not_an_object_answers_400(client, body):
    import json

    response = client.post("/api/bins", data=json.dumps(body), content_type="application/json")
    assert_json_error(response, 400)


@pytest.mark.parametrize(
    "body",
    [
        {"colour": "red"},
        {"private": "yes"},
        {"label": 5},
        {"label": "x" * 201},
        {"provider": 7},
    ],
)
def test_create_with_bad_fields_answers_400(client, body):
    assert_json_error(client.post("/api/bins", json=body), 400)


def test_create_with_another_media_type_answers_415(client):
    response = client.post("/api/bins", data="id=abc", content_type="text/plain")
    assert_json_error(response, 415)


def test_get_shows_the_documented_shape(client, bins):
    bin_id = bins.create(label="shape")["id"]
    shown = client.get(f"/api/bins/{bin_id}").get_json()
    assert BIN_FIELDS <= set(shown)
    assert shown["id"] == bin_id
    assert shown["request_count"] == 0
    assert shown["response"] == {"status": 200, "headers": [], "body": None, "delay_ms": 0}
    assert shown["signature"]["scheme"] is None
    assert shown["forward_url"] is None
    assert shown["provider"] is None and shown["event"] is None


def test_get_counts_captured_requests(client, bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id)
    bins.ingest(bin_id)
    assert client.get(f"/api/bins/{bin_id}").get_json()["request_count"] == 2


def test_unknown_bin_answers_404_json(client):
    assert_json_error(client.get("/api/bins/nope-nope"), 404)
    assert_json_error(client.patch("/api/bins/nope-nope", json={"label": "x"}), 404)
    assert_json_error(client.delete("/api/bins/nope-nope"), 404)


def test_patch_changes_any_subset_of_the_settings(client, bins):
    bin_id = bins.create()["id"]
    response = client.patch(
        f"/api/bins/{bin_id}",
        json={
            "label": "renamed",
            "provider": "appery",
            "event": "PROJECT_BUILD_IOS_FAIL",
            "response": {
                "status": 202,
                "headers": [["X-Reply", "yes"]],
                "body": "accepted",
                "delay_ms": 10,
            },
            "signature": {"scheme": "hmac-sha256", "secret": "s3cret", "header": "X-Sig"},
            "forward_url": "https://example.com/hook",
        },
    )
    assert response.status_code == 200
    changed = response.get_json()
    assert changed["label"] == "renamed"
    assert changed["provider"] == "appery"
    assert changed["event"] == "PROJECT_BUILD_IOS_FAIL"
    assert changed["response"] == {
        "status": 202,
        "headers": [["X-Reply", "yes"]],
        "body": "accepted",
        "delay_ms": 10,
    }
    assert changed["signature"]["scheme"] == "hmac-sha256"
    assert changed["signature"]["header"] == "X-Sig"
    assert changed["forward_url"] == "https://example.com/hook"
    assert client.get(f"/api/bins/{bin_id}").get_json() == changed


def test_patch_leaves_unmentioned_settings_alone(client, bins):
    bin_id = bins.create(label="keep me")["id"]
    client.patch(f"/api/bins/{bin_id}", json={"response": {"status": 204}})
    client.patch(f"/api/bins/{bin_id}", json={"response": {"body": "b"}})
    shown = client.get(f"/api/bins/{bin_id}").get_json()
    assert shown["label"] == "keep me"
    assert shown["response"]["status"] == 204
    assert shown["response"]["body"] == "b"


def test_signature_secret_is_never_echoed(client, bins):
    bin_id = bins.create()["id"]
    response = client.patch(
        f"/api/bins/{bin_id}", json={"signature": {"scheme": "stripe", "secret": "whsec_abc"}}
    )
    assert b"whsec_abc" not in response.data
    assert b"whsec_abc" not in client.get(f"/api/bins/{bin_id}").data


@pytest.mark.parametrize(
    "changes",
    [
        {"response": {"status": 99}},
        {"response": {"status": 600}},
        {"response": {"status": "200"}},
        {"response": {"status": True}},
        {"response": {"headers": [["X-Evil", "a\r\nSet-Cookie: x=1"]]}},
        {"response": {"headers": [["X-Evil", "a\nb"]]}},
        {"response": {"headers": [["Bad Name", "x"]]}},
        {"response": {"headers": [["Content-Length", "5"]]}},
        {"response": {"headers": [["Transfer-Encoding", "chunked"]]}},
        {"response": {"headers": [["connection", "close"]]}},
        {"response": {"headers": "X-A: 1"}},
        {"response": {"delay_ms": -1}},
        {"response": {"delay_ms": 1.5}},
        {"response": {"body": 42}},
        {"response": {"colour": "red"}},
        {"response": "plain"},
        {"signature": {"scheme": "md5"}},
        {"signature": "hmac-sha256"},
        {"forward_url": "ftp://example.com/"},
        {"forward_url": "javascript:alert(1)"},
        {"private": "yes"},
        {"label": "x" * 201},
        {"unknown": 1},
    ],
    ids=lambda changes: repr(changes)[:60],
)
def test_patch_with_invalid_settings_answers_400_and_changes_nothing(client, bins, changes):
    bin_id = bins.create(label="before")["id"]
    before = client.get(f"/api/bins/{bin_id}").get_json()
    error = assert_json_error(client.patch(f"/api/bins/{bin_id}", json=changes), 400)
    assert error["code"] == "invalid_settings"
    assert client.get(f"/api/bins/{bin_id}").get_json() == before


def test_a_rejected_patch_applies_none_of_its_valid_parts(client, bins):
    bin_id = bins.create(label="before")["id"]
    response = client.patch(
        f"/api/bins/{bin_id}", json={"label": "after", "response": {"status": 99}}
    )
    assert_json_error(response, 400)
    assert client.get(f"/api/bins/{bin_id}").get_json()["label"] == "before"


def test_patch_without_a_json_object_answers_400(client, bins):
    bin_id = bins.create()["id"]
    assert_json_error(client.patch(f"/api/bins/{bin_id}"), 400)
    response = client.patch(f"/api/bins/{bin_id}", data=b"[1]", content_type="application/json")
    assert_json_error(response, 400)


def test_delete_removes_the_bin_and_its_requests(app, client, bins):
    bin_id = bins.create()["id"]
    other = bins.create()["id"]
    bins.ingest(bin_id)
    bins.ingest(bin_id)
    bins.ingest(other)
    response = client.delete(f"/api/bins/{bin_id}")
    assert response.status_code == 204
    assert response.data == b""
    assert_json_error(client.get(f"/api/bins/{bin_id}"), 404)
    with app.app_context():
        counts = dict(
            db.session.execute(
                select(CapturedRequest.bin_id, func.count()).group_by(CapturedRequest.bin_id)
            ).all()
        )
    assert counts == {other: 1}


# private bins ---------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_private_bin_returns_its_token_once_created(client):
    created = client.post("/api/bins", json={"private": True}).get_json()
    assert created["private"] is True
    assert isinstance(created["token"], str) and len(created["token"]) > 20


def test_private_bin_without_its_token_answers_404_like_a_missing_bin(app, client):
    created = client.post("/api/bins", json={"private": True}).get_json()
    stranger = app.test_client()
    hidden = stranger.get(f"/api/bins/{created['id']}")
    missing = stranger.get("/api/bins/never-existed")
    assert_json_error(hidden, 404)
    assert hidden.get_json() == missing.get_json()
    for url in (
        f"/api/bins/{created['id']}/requests",
        f"/api/bins/{created['id']}/requests/1",
    ):
        assert_json_error(stranger.get(url), 404)
    assert_json_error(stranger.patch(f"/api/bins/{created['id']}", json={"label": "x"}), 404)
    assert_json_error(stranger.delete(f"/api/bins/{created['id']}"), 404)
    assert_json_error(stranger.delete(f"/api/bins/{created['id']}/requests"), 404)


def test_private_bin_opens_with_its_bearer_token(app, client):
    created = client.post("/api/bins", json={"private": True}).get_json()
    stranger = app.test_client()
    shown = stranger.get(f"/api/bins/{created['id']}", headers=bearer(created["token"]))
    assert shown.status_code == 200
    assert shown.get_json()["private"] is True
    listed = stranger.get(f"/api/bins/{created['id']}/requests", headers=bearer(created["token"]))
    assert listed.status_code == 200


def test_a_token_of_another_bin_does_not_open_a_private_bin(app, client):
    mine = client.post("/api/bins", json={"private": True}).get_json()
    theirs = client.post("/api/bins", json={"private": True}).get_json()
    response = app.test_client().get(f"/api/bins/{mine['id']}", headers=bearer(theirs["token"]))
    assert_json_error(response, 404)


@pytest.mark.parametrize("token", ["", "garbage", "Bearer"])
def test_a_forged_token_does_not_open_a_private_bin(app, client, token):
    created = client.post("/api/bins", json={"private": True}).get_json()
    response = app.test_client().get(f"/api/bins/{created['id']}", headers=bearer(token))
    assert_json_error(response, 404)


def test_a_token_from_another_installation_does_not_open_a_private_bin(make_app, client):
    created = client.post("/api/bins", json={"private": True}).get_json()
    other = make_app(SECRET_KEY="another-installation").test_client()
    forged = other.post("/api/bins", json={"id": "forge-probe", "private": True}).get_json()
    response = client.get("/api/bins/forge-probe", headers=bearer(created["token"]))
    assert_json_error(response, 404)
    response = client.get(f"/api/bins/{created['id']}", headers=bearer(forged["token"]))
    assert_json_error(response, 404)


def test_senders_need_no_token_to_deliver_into_a_private_bin(app, client):
    created = client.post("/api/bins", json={"private": True}).get_json()
    assert app.test_client().post(f"/b/{created['id']}", data=b"hi").status_code == 200
    listed = client.get(f"/api/bins/{created['id']}/requests", headers=bearer(created["token"]))
    assert len(listed.get_json()["requests"]) == 1


def test_making_a_bin_private_hands_out_its_token(app, client, bins):
    """Whoever turns a bin private must be able to open it afterwards."""
    bin_id = bins.create()["id"]
    response = client.patch(f"/api/bins/{bin_id}", json={"private": True})
    assert response.status_code == 200
    token = response.get_json().get("token")
    assert token, "PATCH private=true locks everyone out: no token is handed out"
    assert app.test_client().get(f"/api/bins/{bin_id}", headers=bearer(token)).status_code == 200


def test_the_creating_browsers_cookie_opens_its_private_bin_in_the_api(app):
    browser = app.test_client()
    location = browser.post("/bins", data={"private": "on"}).headers["Location"]
    bin_id = location.rsplit("/", 1)[1]
    assert browser.get(f"/api/bins/{bin_id}").status_code == 200
    assert_json_error(app.test_client().get(f"/api/bins/{bin_id}"), 404)
