"""The loop closes on itself: a webhook registered with a mock API that points at one of
receiver's own bins shows each delivery in that bin, detected as the right event, valid, and its
signature checked with the webhook's secret (set on the bin as a user would). The app runs on a
real threaded server (the dev server, in this process) on each database; the mock API is called
over HTTP like any client would, and so are the deliveries.

Also here: ApiTree's 30-webhook limit holds when many requests create at once."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.system

QOVERY_ORG = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


class Api:
    """Plain HTTP calls to the live server."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=30, trust_env=False)

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None, status: int = 200
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer = self.http.request(method, path, json=body, headers=headers)
        assert answer.status_code == status, (method, path, answer.status_code, answer.text)
        return answer.json() if answer.content else None

    def bin(self, **settings: Any) -> dict[str, Any]:
        made = self.call("POST", "/api/bins", {}, status=201)
        if settings:
            self.call("PATCH", f"/api/bins/{made['id']}", settings)
        return made

    def captured(self, bin_id: str) -> list[dict[str, Any]]:
        listed = self.call("GET", f"/api/bins/{bin_id}/requests")["requests"]
        return [
            self.call("GET", f"/api/bins/{bin_id}/requests/{item['id']}")
            for item in reversed(listed)
        ]


@pytest.fixture
def api(live_server: str) -> Any:
    client = Api(live_server)
    yield client
    client.http.close()


def assert_detected_valid(capture: dict[str, Any], provider: str, event: str) -> None:
    assert capture["event"]["provider"] == provider and capture["event"]["event"] == event
    assert capture["validation"]["status"] == "valid", capture["validation"]


def test_akinon_deliveries_arrive_in_a_bin_detected_and_valid(api: Api) -> None:
    issued = api.call("POST", "/mock/akinon/tokens", {}, status=201)
    org, token = issued["organization"], issued["token"]
    project = "63ea10b94a472e0033052300"
    target = api.bin()
    webhook = {
        "name": "loop",
        "url": target["ingest_url"],
        "headers": {"X-Api-Key": "k-1"},
        "events": ["deployment.build.created"],
    }
    path = f"/mock/akinon/organizations/{org}/projects/{project}/settings/webhooks"
    api.call("POST", path, webhook, token, status=201)
    fired = api.call(
        "POST",
        "/mock/akinon/events",
        {"event": "deployment.build.created", "organization_id": org, "project_id": project},
    )
    assert [d["status_code"] for d in fired["deliveries"]] == [200]
    [capture] = api.captured(target["id"])
    assert_detected_valid(capture, "akinon", "deployment.build.created")
    assert ["X-Api-Key", "k-1"] in capture["headers"]
    # Akinon documents no signature: the bin has nothing to check
    assert capture["signature"]["status"] == "not_configured"


@pytest.mark.parametrize(
    ("order", "encoding"), [("url+body", "base64"), ("body+url", "hex"), ("body", "base64")]
)
def test_apitree_deliveries_arrive_in_a_bin_detected_valid_and_verified(
    api: Api, order: str, encoding: str
) -> None:
    token = api.call("POST", "/mock/apitree/tokens", {"user": "10123"}, status=201)["token"]
    recipe = {"signature_order": order, "signature_encoding": encoding}
    api.call("PATCH", "/mock/apitree/settings", recipe, token)
    target = api.bin()
    webhook = api.call(
        "POST",
        "/mock/apitree/webhooks",
        {"url": target["ingest_url"], "events": [{"name": "release.released"}]},
        token,
        status=201,
    )
    api.call(
        "PATCH",
        f"/api/bins/{target['id']}",
        {"signature": {"scheme": "apitree", "secret": webhook["secret"]}},
    )
    api.call("POST", "/mock/apitree/events", {"event": "release.released", "user_id": "10123"})
    [capture] = api.captured(target["id"])
    assert_detected_valid(capture, "apitree", "release.released")
    assert capture["signature"]["status"] == "verified", capture["signature"]
    last = api.call("GET", f"/mock/apitree/webhooks/{webhook['id']}", token=token)["lastDelivery"]
    assert last["success"] is True and last["statusCode"] == 200
    assert json.loads(last["response"]) == {"ok": True, "request_id": str(capture["id"])}


@pytest.mark.parametrize("header", ["both", "Qovery-Signature", "Qovery-Secret"])
def test_qovery_deliveries_arrive_in_a_bin_detected_valid_and_verified(
    api: Api, header: str
) -> None:
    token = api.call("POST", "/mock/qovery/tokens", {"organization": QOVERY_ORG}, status=201)[
        "token"
    ]
    api.call("PATCH", "/mock/qovery/settings", {"secret_header": header}, token)
    target = api.bin(signature={"scheme": "qovery", "secret": "s3cret-of-the-webhook"})
    webhook = {
        "kind": "STANDARD",
        "target_url": target["ingest_url"],
        "target_secret": "s3cret-of-the-webhook",
        "events": ["DEPLOYMENT_SUCCESSFUL"],
        "project_names_filter": ["shop*"],
    }
    api.call("POST", f"/mock/qovery/organization/{QOVERY_ORG}/webhook", webhook, token, status=201)
    trigger = {
        "event": "DEPLOYMENT_SUCCESSFUL",
        "organization_id": QOVERY_ORG,
        "project_name": "shop-api",
    }
    api.call("POST", "/mock/qovery/events", trigger)
    [capture] = api.captured(target["id"])
    assert_detected_valid(capture, "qovery", "DEPLOYMENT_SUCCESSFUL")
    assert capture["signature"]["status"] == "verified", capture["signature"]


def test_thirty_webhooks_per_user_when_many_requests_create_at_once(
    api: Api, live_server: str
) -> None:
    token = api.call("POST", "/mock/apitree/tokens", {"user": "racer"}, status=201)["token"]
    statuses: list[int] = []
    start = threading.Barrier(8)

    def create_five() -> None:
        with httpx.Client(base_url=live_server, timeout=60, trust_env=False) as http:
            start.wait(timeout=30)
            for _ in range(5):
                answer = http.post(
                    "/mock/apitree/webhooks",
                    json={"url": "http://127.0.0.1:9/x"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                statuses.append(answer.status_code)

    threads = [threading.Thread(target=create_five) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(statuses) == [201] * 30 + [400] * 10
    assert len(api.call("GET", "/mock/apitree/webhooks", token=token)) == 30
