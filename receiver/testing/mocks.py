"""The simulated providers for tests: `MockProvider` is one provider's mock API on the session's
receiver, for a tenant of the test's own (a fresh organization or user, reset afterwards).

Point the provider client under test at ``base_url`` with ``token`` (``headers`` has the
``Authorization`` line); ``trigger(event, ...)`` makes an event happen and answers the
deliveries made; ``deliveries()``, ``settings(...)`` and ``reset()`` do what the mock's routes
of the same names do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from receiver.testing.client import decoded_answer

if TYPE_CHECKING:
    import httpx

ORGANIZATION = "organization"


class MockProvider:
    """A simulated provider's API for one tenant: ``base_url``, ``token``, ``tenant``."""

    def __init__(self, http: httpx.Client, base_url: str, provider: str, issued: dict[str, Any]):
        self.provider = provider
        self.base_url = base_url
        self.token: str = issued["token"]
        self.kind = ORGANIZATION if ORGANIZATION in issued else "user"
        self.tenant: str = issued[self.kind]
        self.scopes: list[str] = list(issued.get("scopes", []))
        self._http = http

    @classmethod
    def issue(
        cls, http: httpx.Client, server_url: str, provider: str, **request: Any
    ) -> MockProvider:
        """A token for the tenant ``request`` names (``organization``, or ``user`` and
        ``scopes``), or for a new one."""
        base_url = f"{server_url}/mock/{provider}"
        issued = decoded_answer(http.post(f"{base_url}/tokens", json=request))
        return cls(http, base_url, provider, issued)

    def __repr__(self) -> str:
        return f"<MockProvider {self.provider} {self.kind} {self.tenant}>"

    @property
    def organization_id(self) -> str:
        """The tenant of an organization-owned provider (Akinon ABP, Qovery)."""
        return self.tenant

    @property
    def user_id(self) -> str:
        """The tenant of a user-owned provider (ApiTree)."""
        return self.tenant

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of this tenant's token."""
        return {"Authorization": f"Bearer {self.token}"}

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        answer = self._http.request(
            method, self.base_url + path, json=body, params=params or None, headers=self.headers
        )
        return decoded_answer(answer)

    def trigger(
        self, event: str, *, set: dict[str, Any] | None = None, **attributes: str
    ) -> dict[str, Any]:
        """Make ``event`` happen: every matching webhook gets a delivery. Returns the mock's
        answer: ``matched``, ``deliveries`` (each with ``status_code`` or ``error``), …

        ``attributes`` are the trigger's (``project_id``, ``project_name``, ``api_id``…); the
        tenant's own ``organization_id`` (or, with neither ``api_id`` nor ``user_id``, its
        ``user_id``) is filled in.
        """
        body: dict[str, Any] = {"event": event, **attributes}
        if self.kind == ORGANIZATION:
            body.setdefault("organization_id", self.tenant)
        elif "api_id" not in body and "user_id" not in body:
            body["user_id"] = self.tenant
        if set:
            body["set"] = set
        return self._call("POST", "/events", body)

    def deliveries(self, webhook_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """This tenant's deliveries, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if webhook_id is not None:
            params["webhook_id"] = webhook_id
        found: list[dict[str, Any]] = self._call("GET", "/deliveries", **params)["deliveries"]
        return found

    def settings(self, **changes: Any) -> dict[str, Any]:
        """The tenant's simulator settings, after applying ``changes`` when given."""
        if changes:
            changed: dict[str, Any] = self._call("PATCH", "/settings", changes)
            return changed
        current: dict[str, Any] = self._call("GET", "/settings")
        return current

    def issue_token(self, scopes: list[str] | None = None) -> str:
        """Another token for the same tenant (ApiTree: with these ``scopes``)."""
        request: dict[str, Any] = {self.kind: self.tenant}
        if scopes is not None:
            request["scopes"] = scopes
        token: str = decoded_answer(self._http.post(f"{self.base_url}/tokens", json=request))[
            "token"
        ]
        return token

    def reset(self) -> None:
        """Forget this tenant's webhooks, deliveries and settings."""
        self._call("POST", "/reset")
