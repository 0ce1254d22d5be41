"""The simulated providers used as a team's test suite would use them: fixtures and public
imports only, and provider clients that nobody here wrote for receiver.

Each client below is what a team writes from its provider's API reference alone (Qovery's
"Organization webhook", ApiTree's Event-API, Akinon ABP's project webhooks), with the standard
library's urllib: a base URL, a Bearer token, the documented paths and fields. The tests point
it at the mock (``*_mock.base_url``), register a webhook at a bin, make an event happen, and
find the delivery in the bin: detected as the right event, valid, and (where the provider signs)
verified with the webhook's secret.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from receiver.testing import ReceiverApiError


class Rest:
    """Just enough of an HTTP client: JSON in and out, a Bearer token."""

    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api_url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read()
        return json.loads(text) if text else None


# --- what the teams wrote, each from its provider's reference ----------------------------------


class QoveryOrganizationWebhooks(Rest):
    """Qovery: GET|POST /organization/{organizationId}/webhook, GET|PUT|DELETE …/{webhookId}."""

    def __init__(self, api_url: str, token: str, organization_id: str) -> None:
        super().__init__(api_url, token)
        self.path = f"/organization/{organization_id}/webhook"

    def subscribe(
        self, target_url: str, secret: str, events: list[str], projects: list[str]
    ) -> str:
        created = self.call(
            "POST",
            self.path,
            {
                "kind": "STANDARD",
                "target_url": target_url,
                "target_secret": secret,
                "events": events,
                "project_names_filter": projects,
            },
        )
        return str(created["id"])

    def all(self) -> list[dict[str, Any]]:
        return list(self.call("GET", self.path)["results"])


class ApiTreeWebhooks(Rest):
    """ApiTree's Event-API: webhooks of the authenticated user, each with its own secret."""

    def subscribe(self, url: str, api_id: str, events: list[str]) -> dict[str, Any]:
        webhook: dict[str, Any] = self.call(
            "POST",
            "/webhooks",
            {"url": url, "apiId": api_id, "events": [{"name": name} for name in events]},
        )
        return webhook

    def for_api(self, api_id: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/webhooks?apiId={api_id}"))


class AkinonProjectWebhooks(Rest):
    """Akinon ABP: /organizations/{organizationId}/projects/{projectId}/settings/webhooks."""

    def __init__(self, api_url: str, token: str, organization_id: str, project_id: str) -> None:
        super().__init__(api_url, token)
        self.path = f"/organizations/{organization_id}/projects/{project_id}/settings/webhooks"

    def subscribe(self, name: str, url: str, api_key: str) -> str:
        created = self.call(
            "POST",
            self.path,
            {
                "name": name,
                "url": url,
                "headers": {"X-Api-Key": api_key},
                "events": ["deployment.build.created"],
            },
        )
        return str(created["_id"])

    def pause(self, webhook_id: str) -> None:
        self.call("PATCH", f"{self.path}/{webhook_id}", {"active": False})


# --- the team's tests ---------------------------------------------------------------------------


def test_our_qovery_client_gets_failed_deployments_into_a_bin(
    qovery_mock: Any, webhook_bin: Any
) -> None:
    webhooks = QoveryOrganizationWebhooks(
        qovery_mock.base_url, qovery_mock.token, qovery_mock.organization_id
    )
    webhook_bin.configure(signature={"scheme": "qovery", "secret": "shared-with-qovery"})
    made = webhooks.subscribe(
        webhook_bin.url, "shared-with-qovery", ["DEPLOYMENT_FAILURE"], ["shop*"]
    )
    assert [w["id"] for w in webhooks.all()] == [made]

    qovery_mock.trigger(
        "DEPLOYMENT_FAILURE", project_name="Shop-API", environment_type="PRODUCTION"
    )
    qovery_mock.trigger("DEPLOYMENT_FAILURE", project_name="billing")  # filtered out

    [delivery] = webhook_bin.wait_for(count=1, event="qovery/DEPLOYMENT_FAILURE")
    assert delivery.json()["payload"]["organization"]["id"] == qovery_mock.organization_id
    webhook_bin.assert_all_valid()
    webhook_bin.assert_all_verified()
    assert [d["webhook_id"] for d in qovery_mock.deliveries()] == [made]


def test_our_apitree_client_gets_releases_of_our_api_into_a_bin(
    apitree_mock: Any, webhook_bin: Any
) -> None:
    api_id = "2f1c7e3a-5b9d-4e8f-a6c4-0d3b7e9f1a25"
    webhooks = ApiTreeWebhooks(apitree_mock.base_url, apitree_mock.token)
    webhook = webhooks.subscribe(
        webhook_bin.url, api_id, ["release.released", "release.deprecated"]
    )
    webhook_bin.configure(signature={"scheme": "apitree", "secret": webhook["secret"]})
    assert [w["id"] for w in webhooks.for_api(api_id)] == [webhook["id"]]

    answer = apitree_mock.trigger("release.released", api_id=api_id)
    assert answer["matched"] == 1 and answer["deliveries"][0]["status_code"] == 200

    [delivery] = webhook_bin.wait_for(count=1, event="release.released")
    assert delivery.json()["name"] == "release.released"
    webhook_bin.assert_all_valid()
    webhook_bin.assert_all_verified()
    assert webhooks.call("GET", f"/webhooks/{webhook['id']}")["lastDelivery"]["success"] is True


def test_our_akinon_client_gets_builds_into_a_bin_with_its_api_key(
    akinon_mock: Any, webhook_bin: Any
) -> None:
    project = "63ea10b94a472e0033052300"
    webhooks = AkinonProjectWebhooks(
        akinon_mock.base_url, akinon_mock.token, akinon_mock.organization_id, project
    )
    made = webhooks.subscribe("builds", webhook_bin.url, api_key="k-123")

    akinon_mock.trigger("deployment.build.created", project_id=project)
    [delivery] = webhook_bin.wait_for(count=1, event="akinon/deployment.build.created")
    assert delivery.header("X-Api-Key") == "k-123"
    webhook_bin.assert_all_valid()

    webhooks.pause(made)
    assert akinon_mock.trigger("deployment.build.created", project_id=project)["matched"] == 0


def test_a_read_only_token_cannot_subscribe(apitree_mock: Any) -> None:
    reader = ApiTreeWebhooks(apitree_mock.base_url, apitree_mock.issue_token(["webhook.readonly"]))
    assert reader.call("GET", "/webhooks") == []
    with pytest.raises(urllib.error.HTTPError) as refused:
        reader.subscribe("http://127.0.0.1:9/", "2f1c7e3a-5b9d-4e8f-a6c4-0d3b7e9f1a25", [])
    assert refused.value.code == 403
    assert json.loads(refused.value.read())["code"] == 403


def test_each_test_gets_a_fresh_organization(qovery_mock: Any, receiver_server: Any) -> None:
    other = receiver_server.mock("qovery")
    assert other.organization_id != qovery_mock.organization_id
    with pytest.raises(ReceiverApiError) as refused:
        other.trigger("DEPLOYMENT_DONE")
    assert refused.value.status == 400
    assert qovery_mock.settings()["secret_header"] == "both"
    assert qovery_mock.settings(retries=1)["retries"] == 1
    other.reset()
