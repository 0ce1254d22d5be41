"""Akinon ABP's project webhooks, as its API reference documents them.

Organizations, projects and webhooks are entity ids (``^[0-9a-fA-F]{24}$``, MongoDB-style
ObjectIds). A webhook has a ``name``, a ``url``, ``events`` (all three required on create),
``headers`` and ``active`` (default true). Deliveries are POSTs carrying the webhook's headers:
Akinon documents no secret or signature, and not the body.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement

from receiver.simulators import documents
from receiver.simulators.model import Attribute
from receiver.simulators.model import Simulator
from receiver.simulators.model import Target
from receiver.simulators.model import Trigger
from receiver.simulators.model import bad_request
from receiver.simulators.model import iso_millis
from receiver.storage.models import MockWebhook

ENTITY_ID = re.compile(r"[0-9a-fA-F]{24}")


def object_id(now: datetime) -> str:
    """A new entity id: four bytes of the time in seconds, then eight random bytes (the shape of
    a MongoDB ObjectId), lower-case hex."""
    return f"{int(now.timestamp()) & 0xFFFFFFFF:08x}" + secrets.token_hex(8)


class Akinon(Simulator):
    """Akinon ABP: project webhooks of an organization."""

    id = "akinon"
    name = "Akinon ABP"
    tenant_kind = "organization"
    list_path = "/organizations/{tenant}/projects/63ea10b94a472e0033052300/settings/webhooks"
    webhook_id_pattern = ENTITY_ID
    attributes = (
        Attribute(
            "organization_id",
            "Organization id",
            "The organization the project belongs to (24 hex digits).",
            required=True,
        ),
        Attribute(
            "project_id",
            "Project id",
            "The project the event happened in: its webhooks receive it (24 hex digits).",
            required=True,
        ),
    )
    documented = (
        "List, create, get, update (PATCH) and delete a project's webhooks under "
        "/organizations/{organizationId}/projects/{projectId}/settings/webhooks, with Bearer "
        "tokens.",
        "Organization, project and webhook ids match ^[0-9a-fA-F]{24}$.",
        "name, url and events are required on create; headers is optional; active is optional "
        "and defaults to true.",
        "The webhook object is {_id, name, url, headers, active, events, createdAt, updatedAt}.",
        "Statuses: 200 (list, get, update), 201 (create), 204 with no content (delete), 400, "
        "401, 403 and 404.",
        "Deliveries are HTTP POST; the webhook's headers are their only documented authentication.",
    )
    undocumented = (
        "The body of a delivery: the simulator sends the catalog's illustrative {} unless a "
        "trigger's set says otherwise.",
        "A secret or a signature: none is sent.",
        "Which event names exist: only deployment.build.created is confirmed, so events takes "
        "any names, and triggers fire the events of receiver's catalog.",
        'Error bodies: the simulator answers receiver\'s {"error": {"code", "message"}}.',
        "The create and update answers: the reference shows a project object there (it looks "
        "like a copy of another page); the simulator answers the webhook.",
        "Which status a malformed id or another organization's path gets: 400 and 403 here.",
        "Retries and timeouts: settings (none and 10 s by default).",
    )

    def check_tenant(self, value: str) -> str:
        return self.entity_id(value, "organization id")

    def new_tenant(self) -> str:
        return secrets.token_hex(12)

    def entity_id(self, value: str, what: str) -> str:
        """An entity id in lower case (ids are compared without regard to case).

        :raise MockError: 400 when it does not match ``^[0-9a-fA-F]{24}$``.
        """
        if not ENTITY_ID.fullmatch(value):
            raise bad_request(f"the {what} {value[:80]!r} does not match ^[0-9a-fA-F]{{24}}$")
        return value.lower()

    def webhook_json(self, row: MockWebhook) -> dict[str, Any]:
        return {
            "_id": row.id,
            "name": row.fields.get("name", ""),
            "url": row.url,
            "headers": dict(row.headers or {}),
            "active": row.active,
            "events": list(row.events),
            "createdAt": iso_millis(row.created_at),
            "updatedAt": iso_millis(row.updated_at),
        }

    def new_columns(self, body: Any, *, project_id: str, now: datetime) -> dict[str, Any]:
        """The stored columns of a webhook created with ``body``.

        :raise MockError: 400 for a body that breaks the documented fields.
        """
        documents.check_body(self, (), "WebhookCreate", body)
        return {
            "id": object_id(now),
            "project_id": project_id,
            "active": body.get("active", True),
            "events": list(body["events"]),
            "url": body["url"],
            "headers": dict(body.get("headers") or {}),
            "fields": {"name": body["name"]},
        }

    def update(self, row: MockWebhook, body: Any, now: datetime) -> None:
        """Change the fields ``body`` gives (PATCH).

        :raise MockError: 400 for a body that breaks the documented fields.
        """
        documents.check_body(self, (), "WebhookUpdate", body)
        if "name" in body:
            row.fields = {**row.fields, "name": body["name"]}
        if "url" in body:
            row.url = body["url"]
        if "headers" in body:
            row.headers = dict(body["headers"])
        if "active" in body:
            row.active = body["active"]
        if "events" in body:
            row.events = list(body["events"])
        row.updated_at = now

    def candidates(self, trigger: Trigger) -> list[ColumnElement[bool]]:
        return [
            MockWebhook.tenant == trigger.attributes.get("organization_id", "").lower(),
            MockWebhook.project_id == trigger.attributes.get("project_id", "").lower(),
        ]

    def matches(self, row: MockWebhook, trigger: Trigger) -> bool:
        attributes = trigger.attributes
        return (
            row.active
            and trigger.event in row.events
            and row.tenant == attributes.get("organization_id", "").lower()
            and row.project_id == attributes.get("project_id", "").lower()
        )

    def custom_headers(self, target: Target) -> list[tuple[str, str]]:
        return list(target.headers.items())
