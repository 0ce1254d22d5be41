"""The pytest plugin used as a user's project would use it: fixtures and public imports only.

Two small Flask apps stand in for the user's code: ``shipyard`` sends Appery-style build webhooks
(the system under test that *emits* webhooks), and ``hooks`` receives them (the handler under test).
Nothing here reaches into the receiver's internals.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.request
from datetime import UTC
from datetime import datetime

import pytest
from flask import Flask
from flask import abort
from flask import request

from receiver.testing import catalog_events
from receiver.testing import send_event

HOOK_SECRET = "s3cret-shared-with-appery"
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


# --- the user's code -----------------------------------------------------------------------------


def create_shipyard(webhook_url: str) -> Flask:
    """A build service that tells a webhook URL about failed builds, in the background."""
    app = Flask("shipyard")
    sent: list[threading.Thread] = []

    def notify(payload: dict) -> None:
        data = json.dumps(payload).encode()
        call = urllib.request.Request(
            webhook_url, data=data, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(call, timeout=5) as answer:
            answer.read()

    @app.post("/builds/<int:build_id>/fail")
    def fail_build(build_id: int) -> tuple[str, int]:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        owner = {"name": "Ada", "email": "ada@example.com"}
        payload = {
            "project": {
                "guid": "372f4a93-e8ce-46ac-a111-44b6c3f476f4",
                "name": f"build {build_id}",
                "description": "",
                "created_at": now,
                "edited_at": now,
                "owner": owner,
            },
            "build": {
                "started_at": now,
                "finished_at": now,
                "status": "failed",
                "platform": "ios",
                "file_url": None,
                "initiator": owner,
            },
        }
        thread = threading.Thread(target=notify, args=(payload,))
        thread.start()
        sent.append(thread)
        return "", 202

    app.extensions["sent"] = sent
    return app


def create_hooks() -> Flask:
    """A webhook handler: Appery build events, checked with an HMAC-SHA256 signature."""
    app = Flask("hooks")
    received: list[dict] = []

    @app.post("/hooks/appery")
    def appery() -> tuple[str, int]:
        payload = request.get_json()
        if "build" in payload and payload["build"]["status"] not in (
            "started",
            "success",
            "failed",
            "aborted",
        ):
            abort(422)
        received.append(payload)
        return "", 204

    @app.post("/hooks/signed")
    def signed() -> tuple[str, int]:
        expected = (
            "sha256="
            + hmac.new(HOOK_SECRET.encode(), request.get_data(), hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")):
            abort(401)
        received.append(request.get_json())
        return "", 204

    @app.post("/hooks/raw")
    def raw() -> tuple[str, int]:
        received.append({"body": request.get_data(), "type": request.content_type})
        return "", 204

    app.extensions["received"] = received
    return app


# --- the user's tests ----------------------------------------------------------------------------


def test_failed_builds_are_announced_as_documented(webhook_bin):
    shipyard = create_shipyard(webhook_bin.url)
    client = shipyard.test_client()

    assert client.post("/builds/1/fail").status_code == 202
    assert client.post("/builds/2/fail").status_code == 202

    arrived = webhook_bin.wait_for(count=2, event="PROJECT_BUILD_IOS_FAIL")
    webhook_bin.assert_all_valid()
    assert sorted(item.json()["project"]["name"] for item in arrived) == ["build 1", "build 2"]
    assert all(item.header("Content-Type") == "application/json" for item in arrived)


def test_wait_for_says_what_arrived_when_too_little_did(webhook_bin):
    webhook_bin.send_event("appery", "PROJECT_BUILD_IOS_START")

    with pytest.raises(AssertionError) as failure:
        webhook_bin.wait_for(count=1, event="PROJECT_BUILD_IOS_FAIL", timeout=0.3)

    message = str(failure.value)
    assert "expected 1 request of event 'PROJECT_BUILD_IOS_FAIL'" in message
    assert "0 matching, 1 in all" in message
    assert "appery PROJECT_BUILD_IOS_START" in message


def test_an_undocumented_value_fails_with_its_json_path(webhook_bin):
    webhook_bin.send_event(
        "appery", "PROJECT_BUILD_IOS_FAIL", overrides={"build.finished_at": "yesterday"}
    )
    webhook_bin.wait_for(count=1)

    with pytest.raises(AssertionError) as failure:
        webhook_bin.assert_all_valid()

    assert "1 of 1 requests" in str(failure.value)
    assert "/build/finished_at" in str(failure.value)


def test_a_failure_names_each_capture_by_its_number_in_the_bin(receiver_server, webhook_bin):
    receiver_server.create_bin().send_event("appery", "PROJECT_BUILD_IOS_FAIL")  # ids move on
    webhook_bin.send_event("appery", "PROJECT_BUILD_IOS_FAIL")
    webhook_bin.send_event(
        "appery", "PROJECT_BUILD_IOS_FAIL", overrides={"build.finished_at": "yesterday"}
    )
    [_, second] = webhook_bin.wait_for(count=2)

    with pytest.raises(AssertionError) as failure:
        webhook_bin.assert_all_valid()

    message = str(failure.value)
    assert "capture #2 (POST /, appery PROJECT_BUILD_IOS_FAIL): invalid" in message
    assert f"request {second['id']}" not in message and second["id"] != 2


def test_my_handler_takes_a_documented_ios_build_failure(send_event):
    app = create_hooks()

    response = send_event(
        "appery", "PROJECT_BUILD_IOS_FAIL", to=app.test_client(), path="/hooks/appery"
    )

    assert response.status_code == 204
    [payload] = app.extensions["received"]
    assert payload["build"]["platform"] == "ios"
    assert payload["build"]["status"] == "failed"


@pytest.mark.parametrize("event", catalog_events("appery"))
def test_my_handler_takes_every_documented_appery_event(event):
    app = create_hooks()

    response = send_event("appery", event, to=app, path="/hooks/appery")

    assert response.status_code == 204, response.text


def test_my_handler_rejects_a_status_appery_does_not_document():
    app = create_hooks()

    response = send_event(
        "appery",
        "PROJECT_BUILD_IOS_FAIL",
        to=app.test_client(),
        path="/hooks/appery",
        overrides={"/build/status": "exploded"},
    )

    assert response.status_code == 422


def test_my_handler_checks_the_signature():
    client = create_hooks().test_client()

    signed = send_event(
        "appery",
        "PROJECT_BUILD_IOS_FAIL",
        to=client,
        path="/hooks/signed",
        secret=HOOK_SECRET,
        scheme="hmac",
    )
    forged = send_event(
        "appery",
        "PROJECT_BUILD_IOS_FAIL",
        to=client,
        path="/hooks/signed",
        secret="not-the-secret",
        scheme="hmac",
    )

    assert signed.status_code == 204
    assert forged.status_code == 401
    assert dict(signed.request.headers)["X-Hub-Signature-256"].startswith("sha256=")


def test_signed_deliveries_verify_at_the_bin(webhook_bin):
    webhook_bin.configure(signature={"scheme": "standard-webhooks", "secret": STANDARD_SECRET})

    for event in ("DEPLOYMENT_STARTED", "DEPLOYMENT_SUCCESSFUL"):
        answer = webhook_bin.send_event("qovery", event, scheme="standard")
        assert answer.status_code == 200
        assert answer.json()["ok"] is True

    webhook_bin.wait_for(count=2)
    webhook_bin.assert_all_verified()
    webhook_bin.assert_all_valid()


def test_a_forged_delivery_fails_verification_at_the_bin(webhook_bin):
    webhook_bin.configure(signature={"scheme": "hmac-sha256", "secret": HOOK_SECRET})

    send_event("appery", "PROJECT_BUILD_IOS_FAIL", to=webhook_bin, secret="wrong", scheme="hmac")

    with pytest.raises(AssertionError, match="not verified"):
        webhook_bin.assert_all_verified()


def test_the_bin_answers_as_configured(webhook_bin):
    webhook_bin.configure(response={"status": 503, "body": "down for maintenance"})

    answer = send_event("appery", "PROJECT_PREVIEW_TEST", to=webhook_bin.url)

    assert answer.status_code == 503
    assert answer.text == "down for maintenance"
    assert len(webhook_bin.requests()) == 1


def test_a_captured_delivery_replays_byte_for_byte_from_a_recording(
    webhook_bin, send_recording, tmp_path
):
    body = b'{"build": {"status": "failed"},   "odd spacing": true}'
    call = urllib.request.Request(
        webhook_bin.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(call, timeout=5) as answer:
        assert answer.status == 200
    [captured] = webhook_bin.wait_for(count=1)
    fixture = webhook_bin.save_recording(captured, tmp_path / "build-failed.json")
    app = create_hooks()

    response = send_recording(fixture, to=app.test_client(), path="/hooks/raw")

    assert response.status_code == 204
    assert app.extensions["received"] == [{"body": body, "type": "application/json"}]
    assert json.loads(fixture.read_text())["name"] == "build-failed"

    again = send_recording(fixture, to=webhook_bin.url, path="/again")
    assert again.status_code == 200
    replayed = webhook_bin.wait_for(count=2)[-1]
    assert (replayed.body, replayed["path"]) == (body, "/again")
