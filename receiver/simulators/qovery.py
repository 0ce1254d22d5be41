"""Qovery's organization webhooks, as its API reference and OpenAPI description document them.

A webhook has a ``kind`` (STANDARD or SLACK), a ``target_url`` that starts with ``http://`` or
``https://``, ``events`` (the four deployment events), an optional ``target_secret`` that is
written and never read back, a ``description``, ``enabled``, and two filters: project names
(case-insensitive, ``*`` as a wildcard) and environment types.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement

from receiver.catalog.pointers import MISSING
from receiver.catalog.pointers import resolve_pointer
from receiver.signatures import shared_secret
from receiver.simulators import documents
from receiver.simulators.model import RETRIES
from receiver.simulators.model import TIMEOUT
from receiver.simulators.model import UUID
from receiver.simulators.model import Attribute
from receiver.simulators.model import Simulator
from receiver.simulators.model import SimulatorSetting
from receiver.simulators.model import Target
from receiver.simulators.model import Trigger
from receiver.simulators.model import bad_request
from receiver.simulators.model import iso_seconds
from receiver.storage.models import MockWebhook

ENVIRONMENT_TYPES = ("DEVELOPMENT", "PREVIEW", "PRODUCTION", "STAGING")
SLACK = "SLACK"
BOTH = "both"

SECRET_HEADER = SimulatorSetting(
    "secret_header",
    BOTH,
    "Which header carries the webhook's target_secret (the secret itself, not an HMAC): "
    "Qovery-Signature, Qovery-Secret, or both.",
    "Qovery's OpenAPI description names the header Qovery-Signature, its documentation page "
    "Qovery-Secret; neither is confirmed by a real delivery.",
    choices=(BOTH, *shared_secret.HEADERS),
)


def name_matches(pattern: str, name: str) -> bool:
    """Whether ``name`` matches a project name filter: case-insensitive, ``*`` matching any run
    of characters. Linear in practice (a greedy match that backs up to the last ``*``), so no
    pattern can make it slow."""
    pattern, name = pattern.casefold(), name.casefold()
    p = n = 0
    star, resume = -1, 0
    while n < len(name):
        if p < len(pattern) and pattern[p] == "*":
            star, resume = p, n
            p += 1
        elif p < len(pattern) and pattern[p] == name[n]:
            p += 1
            n += 1
        elif star >= 0:
            p, resume = star + 1, resume + 1
            n = resume
        else:
            return False
    return all(char == "*" for char in pattern[p:])


class Qovery(Simulator):
    """Qovery: organization webhooks for deployment events."""

    id = "qovery"
    name = "Qovery"
    tenant_kind = "organization"
    list_path = "/organization/{tenant}/webhook"
    webhook_id_pattern = UUID
    settings = (RETRIES, TIMEOUT, SECRET_HEADER)
    attributes = (
        Attribute(
            "organization_id",
            "Organization id",
            "The organization the deployment belongs to (a UUID): its webhooks receive it.",
            required=True,
        ),
        Attribute(
            "project_name",
            "Project name",
            "What each webhook's project_names_filter is matched against.",
        ),
        Attribute(
            "environment_type",
            "Environment type",
            "What each webhook's environment_types_filter is matched against.",
            choices=ENVIRONMENT_TYPES,
        ),
    )
    documented = (
        "List ({results: [...]}), create (201), get, edit (PUT, the create body) and delete "
        "(204) under /organization/{organizationId}/webhook[/{webhookId}], with uuid ids and "
        "Bearer tokens.",
        "kind (STANDARD or SLACK), target_url (starting with http:// or https://) and events "
        "(DEPLOYMENT_STARTED, DEPLOYMENT_CANCELLED, DEPLOYMENT_FAILURE, DEPLOYMENT_SUCCESSFUL) "
        "are required; target_secret is written, never read back (target_secret_set); "
        "description; enabled.",
        "project_names_filter: case-insensitive, * as a wildcard (product*); "
        "environment_types_filter: PRODUCTION, DEVELOPMENT, STAGING, PREVIEW.",
        "Statuses: 200, 201, 204, 400, 401, 403, 404.",
        "STANDARD deliveries POST {created_at, event_type, payload_type, payload_id, payload}; "
        "the target_secret itself travels in a header.",
    )
    undocumented = (
        "The header carrying the secret: Qovery-Signature (its OpenAPI description) or "
        "Qovery-Secret (its documentation page); the secret_header setting sends both by "
        "default.",
        "What is inside payload's organization, project and environment, and the status values: "
        "the simulator fills payload.organization.id from the trigger and leaves the rest to a "
        "trigger's set.",
        "The Slack message of SLACK webhooks: they get no delivery (listed with the reason).",
        "The default of enabled (true here), and whether a PUT without target_secret keeps it "
        '(it does here; null or "" removes it).',
        'Error bodies: the simulator answers receiver\'s {"error": {"code", "message"}}; '
        "a malformed id is a 400, another organization's path a 403.",
        "Retries and timeouts: settings (none and 10 s by default).",
    )

    def check_tenant(self, value: str) -> str:
        return self.uuid(value, "organization id")

    def new_tenant(self) -> str:
        return str(uuid.uuid4())

    def uuid(self, value: str, what: str) -> str:
        """A UUID in lower case.

        :raise MockError: 400 when it is not a UUID.
        """
        if not UUID.fullmatch(value):
            raise bad_request(f"the {what} {value[:80]!r} is not a UUID")
        return value.lower()

    def webhook_json(self, row: MockWebhook) -> dict[str, Any]:
        fields = row.fields
        return {
            "id": row.id,
            "created_at": iso_seconds(row.created_at),
            "updated_at": iso_seconds(row.updated_at),
            "kind": fields["kind"],
            "target_url": row.url,
            "target_secret_set": bool(row.secret),
            "description": fields.get("description"),
            "enabled": row.active,
            "events": list(row.events),
            "project_names_filter": list(fields.get("project_names_filter", [])),
            "environment_types_filter": list(fields.get("environment_types_filter", [])),
        }

    def new_columns(self, body: Any) -> dict[str, Any]:
        """The stored columns of a webhook created with ``body``.

        :raise MockError: 400 for a body that breaks the documented fields.
        """
        documents.check_body(self, (), "WebhookRequest", body)
        return {
            "id": str(uuid.uuid4()),
            "secret": body.get("target_secret") or None,
            **self._writable(body),
        }

    def replace(self, row: MockWebhook, body: Any, now: datetime) -> None:
        """PUT: every field as given; a ``target_secret`` left out stays, null or "" removes it.

        :raise MockError: 400 for a body that breaks the documented fields.
        """
        documents.check_body(self, (), "WebhookRequest", body)
        for name, value in self._writable(body).items():
            setattr(row, name, value)
        if "target_secret" in body:
            row.secret = body["target_secret"] or None
        row.updated_at = now

    def _writable(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": body["target_url"],
            "events": list(body["events"]),
            "active": body.get("enabled", True),
            "fields": {
                "kind": body["kind"],
                "description": body.get("description"),
                "project_names_filter": list(body.get("project_names_filter") or []),
                "environment_types_filter": list(body.get("environment_types_filter") or []),
            },
        }

    def candidates(self, trigger: Trigger) -> list[ColumnElement[bool]]:
        return [MockWebhook.tenant == trigger.attributes.get("organization_id", "").lower()]

    def matches(self, row: MockWebhook, trigger: Trigger) -> bool:
        attributes = trigger.attributes
        if not (
            row.active
            and trigger.event in row.events
            and row.tenant == attributes.get("organization_id", "").lower()
        ):
            return False
        projects = row.fields.get("project_names_filter") or []
        project = attributes.get("project_name")
        if projects and (project is None or not any(name_matches(p, project) for p in projects)):
            return False
        environments = row.fields.get("environment_types_filter") or []
        return not environments or attributes.get("environment_type") in environments

    def overrides(self, trigger: Trigger, example: Any, now: datetime) -> dict[str, Any]:
        deployment = str(uuid.uuid4())
        filled = {
            "/created_at": iso_seconds(now),
            "/payload_id": deployment,
            "/payload/id": deployment,
            "/payload/organization/id": trigger.attributes["organization_id"].lower(),
        }
        return {
            pointer: value
            for pointer, value in filled.items()
            if resolve_pointer(example, pointer) is not MISSING
        }

    def not_sent(self, target: Target) -> str | None:
        if target.fields.get("kind") == SLACK:
            return "not sent: a SLACK webhook gets a Slack message, which Qovery does not document"
        return None

    def signature(
        self, target: Target, url: str, body: bytes, settings: dict[str, Any]
    ) -> list[tuple[str, str]]:
        if not target.secret:
            return []
        chosen = settings[SECRET_HEADER.name]
        return shared_secret.sign(target.secret, header=None if chosen == BOTH else chosen)
