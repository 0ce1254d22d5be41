"""ApiTree's Event-API webhooks, simulated: the documented Webhook object and its rules (version 4
UUID ids, a generated read-only secret, custom as JSON text, url of at most 1000 characters, at
most 30 per user), the scopes webhook and webhook.readonly, the error object {code, message},
the list filters, and deliveries that are signed, keep lastDelivery up to date and reach exactly
the matching webhooks. Through HTTP on both databases; targets are real HTTP servers."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from typing import Any

import pytest
from simulated import Tenant
from simulated import delivered_paths
from sqlalchemy import text
from sqlalchemy.orm import Session

from receiver.signatures import apitree as apitree_signature
from receiver.simulators.apitree import MAX_WEBHOOKS
from receiver.simulators.model import MockError
from receiver.simulators.registry import APITREE
from receiver.simulators.state import add_webhook
from receiver.simulators.state import issue_token
from receiver.simulators.state import list_webhooks
from receiver.storage.db import db
from receiver.storage.models import utcnow
from receiver.web.serving import RAW_HEADERS_KEY

EVENT = "release.released"
API = "2f1c7e3a-5b9d-4e8f-a6c4-0d3b7e9f1a25"
OTHER_API = "8a4d2c6e-1f3b-4a7d-9c5e-3b6f8d2a4c71"
SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def create(owner: Tenant, **fields: Any) -> dict[str, Any]:
    body = {"url": "http://127.0.0.1:9/hook", "events": [{"name": EVENT}], **fields}
    return owner.ok("POST", "/webhooks", body, status=201)


def code_message(answer: Any, status: int) -> dict[str, Any]:
    """ApiTree's documented error object, with the HTTP status as its code."""
    assert answer.status_code == status, (answer.status_code, answer.get_json())
    error: dict[str, Any] = answer.get_json()
    assert set(error) == {"code", "message"} and error["code"] == status and error["message"]
    return error


@pytest.fixture
def user(client: Any) -> Tenant:
    return Tenant(client, "apitree", user="10123")


def test_the_documented_operations_and_the_webhook_object(user: Tenant) -> None:
    made = create(user, custom='{"team": "payments"}', secret="mine", id="x", user={"id": "1"})
    assert UUID4.fullmatch(made["id"]) and made["id"] != "x"
    assert made["user"] == {"id": "10123"} and made["userId"] == "10123"
    assert re.fullmatch(r"[0-9a-f]{32}", made["secret"]) and made["secret"] != "mine"
    assert made["active"] is True  # the documented default
    assert made["events"] == [{"name": EVENT}] and made["custom"] == '{"team": "payments"}'
    assert SECONDS.fullmatch(made["createdAt"]) and SECONDS.fullmatch(made["updatedAt"])
    assert "lastDelivery" not in made and "apiId" not in made
    one = f"/webhooks/{made['id']}"

    assert user.ok("GET", "/webhooks") == [made]
    assert user.ok("GET", one) == made
    patched = user.ok("PATCH", one, {"active": False, "secret": "changed"})
    assert patched["active"] is False and patched["secret"] == made["secret"]
    assert patched["custom"] == made["custom"]
    # PUT replaces the writable fields: left out, active is true again and custom is gone
    replaced = user.ok("PUT", one, {"url": "http://127.0.0.1:9/new", "apiId": API})
    assert replaced["url"] == "http://127.0.0.1:9/new" and replaced["active"] is True
    assert replaced["events"] == [] and "custom" not in replaced
    assert replaced["apiId"] == API and "userId" not in replaced
    assert replaced["secret"] == made["secret"] and replaced["id"] == made["id"]
    assert user.ok("PATCH", one, {"apiId": None})["userId"] == "10123"

    deleted = user.call("DELETE", one)
    assert deleted.status_code == 204 and deleted.data == b""
    code_message(user.call("GET", one), 404)
    code_message(user.call("DELETE", one), 404)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"events": [{"name": EVENT}]}, '"url" is a required property'),
        ({"url": "http://x/" + "a" * 992}, "/url"),
        ({"url": "http://x", "custom": "not json"}, "JSON"),
        ({"url": "http://x", "custom": {"a": 1}}, "/custom"),
        ({"url": "http://x", "events": [{"name": "api.renamed"}]}, "/events/0/name"),
        ({"url": "http://x", "events": ["release.released"]}, "/events/0"),
        ({"url": "http://x", "apiId": "2f1c7e3a-5b9d-1e8f-a6c4-0d3b7e9f1a25"}, "/apiId"),
        ({"url": "http://x", "userId": "has space"}, "/userId"),
        ({"url": "http://x", "active": "yes"}, "/active"),
    ],
)
def test_a_body_that_breaks_the_documented_fields_is_a_400(
    user: Tenant, body: dict[str, Any], words: str
) -> None:
    assert words in code_message(user.call("POST", "/webhooks", body), 400)["message"]
    assert user.ok("GET", "/webhooks") == []


def test_a_url_of_1000_characters_is_allowed(user: Tenant) -> None:
    url = "http://x/" + "a" * 991
    assert len(url) == 1000
    assert create(user, url=url)["url"] == url


def test_at_most_30_webhooks_per_user(client: Any, user: Tenant) -> None:
    made = [create(user) for _ in range(30)]
    refused = code_message(user.call("POST", "/webhooks", {"url": "http://x"}), 400)
    assert refused["message"] == "A maximum of 30 webhooks can be created."
    assert len(user.ok("GET", "/webhooks")) == 30
    # another user has 30 of their own; one deleted makes room again
    create(Tenant(client, "apitree"))
    user.call("DELETE", f"/webhooks/{made[0]['id']}")
    create(user)


def test_the_list_filters(user: Tenant) -> None:
    for_api = create(user, apiId=API, events=[{"name": "api.deleted"}])
    for_user = create(user, events=[{"name": EVENT}, {"name": "release.deprecated"}])
    for_other = create(user, userId="org-7")

    def listed(**filters: str) -> list[str]:
        return [w["id"] for w in user.ok("GET", "/webhooks", query_string=filters)]

    assert listed() == [for_api["id"], for_user["id"], for_other["id"]]
    assert listed(apiId=API) == [for_api["id"]]
    assert listed(apiId=API.upper()) == [for_api["id"]]
    assert listed(userId="10123") == [for_user["id"]]
    assert listed(userId="org-7") == [for_other["id"]]
    assert listed(eventName="release.deprecated") == [for_user["id"]]
    assert listed(eventName=EVENT) == [for_user["id"], for_other["id"]]
    assert listed(apiId=OTHER_API) == []
    code_message(user.call("GET", "/webhooks", query_string={"eventName": "x" * 129}), 400)


def test_the_readonly_scope_may_view_but_not_change(client: Any, user: Tenant) -> None:
    made = create(user)
    one = f"/webhooks/{made['id']}"
    reader = Tenant(client, "apitree", user="10123", scopes=["webhook.readonly"])
    assert reader.scopes == ["webhook.readonly"]
    assert reader.ok("GET", "/webhooks") == [made]
    assert reader.ok("GET", one) == made
    for method, path, body in (
        ("POST", "/webhooks", {"url": "http://x"}),
        ("PUT", one, {"url": "http://x"}),
        ("PATCH", one, {"active": False}),
        ("DELETE", one, None),
    ):
        assert "webhook.readonly" in code_message(reader.call(method, path, body), 403)["message"]
    assert user.ok("GET", one) == made
    both = Tenant(client, "apitree", user="10123", scopes=["webhook.readonly", "webhook"])
    assert both.ok("PATCH", one, {"active": False})["active"] is False


def test_tokens_and_users(client: Any, user: Tenant) -> None:
    made = create(user)
    one = f"/webhooks/{made['id']}"
    # the reference's own example of the error object
    assert user.call("GET", one, token="").get_json() == {"code": 401, "message": "Access denied"}
    code_message(user.call("GET", one, token="rsim_nope"), 401)
    stranger = Tenant(client, "apitree")
    assert stranger.scopes == ["webhook"] and stranger.id != user.id
    assert stranger.ok("GET", "/webhooks") == []
    for method, body in (("GET", None), ("PATCH", {"active": False}), ("PUT", {"url": "x"})):
        code_message(stranger.call(method, one, body), 404)
    code_message(stranger.call("DELETE", one), 404)
    code_message(user.call("GET", "/webhooks/not-a-uuid"), 400)
    refused = client.post("/mock/apitree/tokens", json={"user": "u", "scopes": ["admin"]})
    code_message(refused, 400)


def test_errors_are_the_documented_object_everywhere(user: Tenant) -> None:
    code_message(user.call("GET", "/nowhere"), 404)
    answer = user.call("DELETE", "/webhooks")
    assert code_message(answer, 405) and "POST" in answer.headers["Allow"]
    code_message(user.call("POST", "/webhooks", data="url=x", content_type="text/plain"), 415)
    code_message(user.call("POST", "/webhooks", data="[]", content_type="application/json"), 400)


def test_a_trigger_reaches_exactly_the_matching_webhooks(
    client: Any, user: Tenant, target: Any
) -> None:
    for path in ("/api", "/user", "/both", "/other-api", "/inactive", "/other-event", "/stranger"):
        target.expect_request(path).respond_with_data("OK")
    create(user, url=target.url_for("/api"), apiId=API)
    create(user, url=target.url_for("/user"))  # userId is its owner
    create(user, url=target.url_for("/both"), apiId=API, userId="10123")
    create(user, url=target.url_for("/other-api"), apiId=OTHER_API)
    create(user, url=target.url_for("/inactive"), apiId=API, active=False)
    create(user, url=target.url_for("/other-event"), apiId=API, events=[{"name": "api.created"}])
    create(Tenant(client, "apitree"), url=target.url_for("/stranger"))

    fired = user.trigger(event=EVENT, api_id=API, user_id="10123")
    assert sorted(delivered_paths(target)) == ["/api", "/both", "/user"]
    assert fired["matched"] == 3 and len(fired["deliveries"]) == 3
    target.clear_log()
    user.trigger(event=EVENT, api_id=API)
    assert delivered_paths(target) == ["/api"]


def test_a_delivery_is_the_envelope_signed_with_the_webhooks_secret(
    user: Tenant, target: Any
) -> None:
    target.expect_request("/hook").respond_with_data("OK")
    made = create(user, url=target.url_for("/hook"), apiId=API, events=[{"name": "api.created"}])
    user.trigger(event="api.created", api_id=API, user_id="10123")
    request = target.log[0][0]
    body = json.loads(request.get_data())
    assert body["name"] == "api.created" and body["user"]["id"] == "10123"
    assert body["resourceType"] == "Api" and body["resource"]["id"] == API
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", body["timestamp"])
    headers = request.environ[RAW_HEADERS_KEY]
    result = apitree_signature.verify(
        [made["secret"]],
        headers,
        request.get_data(),
        header=apitree_signature.HEADER,
        url=target.url_for("/hook"),
    )
    assert result.status == "verified" and "url + body), base64" in result.reason
    wrong = apitree_signature.verify(
        ["not-the-secret"], headers, request.get_data(), header="X-ApiTree-Signature", url=None
    )
    assert wrong.status == "failed"


def test_last_delivery_follows_the_deliveries(user: Tenant, target: Any) -> None:
    target.expect_oneshot_request("/hook").respond_with_data("OK")
    target.expect_oneshot_request("/hook").respond_with_data("down for maintenance", status=503)
    made = create(user, url=target.url_for("/hook"))
    one = f"/webhooks/{made['id']}"
    user.trigger(event=EVENT, user_id="10123")
    first = user.ok("GET", one)["lastDelivery"]
    assert {key: first[key] for key in ("success", "statusCode", "response")} == {
        "success": True,
        "statusCode": 200,
        "response": "OK",
    }
    assert SECONDS.fullmatch(first["timestamp"])
    user.trigger(event=EVENT, user_id="10123")
    second = user.ok("GET", one)["lastDelivery"]
    assert second["success"] is False and second["statusCode"] == 503
    assert second["response"] == "down for maintenance"
    user.ok("PATCH", one, {"url": "http://127.0.0.1:9/closed"})
    user.trigger(event=EVENT, user_id="10123")
    third = user.ok("GET", one)["lastDelivery"]
    assert third["statusCode"] is None and "refused" in third["response"]


@pytest.mark.parametrize(
    ("order", "encoding", "words"),
    [("body+url", "hex", "body + url), hex"), ("body", "base64", "HMAC-SHA1(secret, body)")],
)
def test_the_signature_recipe_is_a_setting(
    user: Tenant, target: Any, order: str, encoding: str, words: str
) -> None:
    target.expect_request("/hook").respond_with_data("OK")
    made = create(user, url=target.url_for("/hook"))
    settings = user.ok(
        "PATCH", "/settings", {"signature_order": order, "signature_encoding": encoding}
    )
    assert settings["signature_order"] == order and settings["signature_encoding"] == encoding
    user.trigger(event=EVENT, user_id="10123")
    request = target.log[0][0]
    result = apitree_signature.verify(
        [made["secret"]],
        request.environ[RAW_HEADERS_KEY],
        request.get_data(),
        header=apitree_signature.HEADER,
        url=target.url_for("/hook"),
    )
    assert result.status == "verified" and words in result.reason


def test_the_status_that_disables_a_webhook_is_a_setting(user: Tenant, target: Any) -> None:
    target.expect_request("/gone").respond_with_data("gone", status=410)
    made = create(user, url=target.url_for("/gone"))
    assert user.ok("GET", "/settings")["disable_on_status"] is None  # off by default
    user.trigger(event=EVENT, user_id="10123")
    assert user.ok("GET", f"/webhooks/{made['id']}")["active"] is True
    user.ok("PATCH", "/settings", {"disable_on_status": 410})
    user.trigger(event=EVENT, user_id="10123")
    assert user.ok("GET", f"/webhooks/{made['id']}")["active"] is False
    assert user.trigger(event=EVENT, user_id="10123")["matched"] == 0
    assert len(target.log) == 2


def test_retries_are_a_setting_and_each_attempt_is_a_delivery(user: Tenant, target: Any) -> None:
    for status in (503, 502):
        target.expect_oneshot_request("/hook").respond_with_data("busy", status=status)
    target.expect_request("/hook").respond_with_data("OK")
    create(user, url=target.url_for("/hook"))
    user.ok("PATCH", "/settings", {"retries": 2})
    fired = user.trigger(event=EVENT, user_id="10123")
    assert [(d["attempt"], d["status_code"]) for d in fired["deliveries"]] == [
        (1, 503),
        (2, 502),
        (3, 200),
    ]
    assert len({d["trigger_id"] for d in fired["deliveries"]}) == 1
    assert fired["matched"] == 1


def test_ids_of_webhooks_are_version_4_uuids(user: Tenant) -> None:
    made = create(user)
    assert uuid.UUID(made["id"]).version == 4
    code_message(user.call("GET", f"/webhooks/{uuid.uuid1()}"), 400)
    code_message(user.call("GET", f"/webhooks/{uuid.uuid4()}"), 404)


def test_the_limit_holds_when_two_creations_race(app: Any, database_url: str) -> None:
    """The second creation waits for the first's lock on the tenant, then counts 30.

    On PostgreSQL (read committed) a count taken without that lock would not see the first
    creation until it commits, and both would make a 30th webhook. SQLite has one writer at a
    time, whose count sees every committed row: the race cannot happen there.
    """
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite lets one writer in at a time")
    with app.app_context():
        engine = db.engine
        now = utcnow()
        with Session(engine) as setup:
            issue_token(setup, APITREE, "racer", scopes=("webhook",), now=now)
            for _ in range(29):
                add_webhook(setup, "apitree", "racer", columns(), now=now, limit=MAX_WEBHOOKS)
            setup.commit()
        first = Session(engine)
        outcome: list[str] = []

        def second() -> None:
            with Session(engine) as session:
                try:
                    add_webhook(session, "apitree", "racer", columns(), now=now, limit=MAX_WEBHOOKS)
                    session.commit()
                    outcome.append("created")
                except MockError as error:
                    outcome.append(error.code)

        racer = threading.Thread(target=second, daemon=True)
        try:
            add_webhook(first, "apitree", "racer", columns(), now=now, limit=MAX_WEBHOOKS)
            racer.start()
            deadline = time.monotonic() + 30
            # until the second waits on the first's lock (or has finished: the lock is missing)
            while racer.is_alive() and time.monotonic() < deadline:
                if waiting_on_a_lock(engine):
                    break
                time.sleep(0.02)
        finally:
            first.commit()
            first.close()
        racer.join(timeout=30)
        assert outcome == ["limit_reached"]
        with Session(engine) as check:
            assert len(list_webhooks(check, "apitree", "racer")) == MAX_WEBHOOKS


def columns() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "url": "http://x", "events": [], "secret": "s", "fields": {}}


def waiting_on_a_lock(engine: Any) -> bool:
    """Whether a session of this database waits for a lock on a simulator's tenant."""
    with engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database() AND query LIKE :table"
            ),
            {"table": "%mock_tenant%"},
        ).scalar()
    return bool(waiting)
