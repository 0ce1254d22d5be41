"""Akinon ABP's project webhook routes under ``/mock/akinon`` (the paths its reference documents
below ``/api/v1``)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from receiver.simulators import state
from receiver.simulators.model import MockError
from receiver.simulators.model import Tenant
from receiver.simulators.registry import AKINON
from receiver.storage.db import db
from receiver.storage.models import MockWebhook
from receiver.storage.models import utcnow
from receiver.web.api.common import json_object
from receiver.web.mocks.common import mock_blueprint
from receiver.web.mocks.common import require_tenant
from receiver.web.team import outside_team_gate

SIMULATOR = AKINON
bp = mock_blueprint(SIMULATOR)
WEBHOOKS = "/organizations/<organization_id>/projects/<project_id>/settings/webhooks"
WEBHOOK = WEBHOOKS + "/<webhook_id>"


def project_scope(organization_id: str, project_id: str) -> tuple[Tenant, str]:
    """The token's tenant and the project, once the path is checked against both.

    :raise MockError: 401 without a token, 400 for a malformed id, 403 for another
        organization's path.
    """
    tenant = require_tenant(SIMULATOR)
    organization = SIMULATOR.entity_id(organization_id, "organization id")
    project = SIMULATOR.entity_id(project_id, "project id")
    if organization != tenant.id:
        raise MockError(403, "forbidden", "the token does not belong to this organization")
    return tenant, project


def load_webhook(organization_id: str, project_id: str, webhook_id: str) -> MockWebhook:
    """A webhook of the path's project.

    :raise MockError: as `project_scope`, and 404 when the project has no such webhook.
    """
    tenant, project = project_scope(organization_id, project_id)
    found = state.get_webhook(
        db.session, SIMULATOR.id, tenant.id, SIMULATOR.entity_id(webhook_id, "webhook id")
    )
    if found.project_id != project:
        raise MockError(404, "not_found", "no such webhook in this project")
    return found


@bp.get(WEBHOOKS)
@outside_team_gate
def webhook_list(organization_id: str, project_id: str) -> ResponseReturnValue:
    """Get organizations project webhooks."""
    tenant, project = project_scope(organization_id, project_id)
    rows = state.list_webhooks(
        db.session, SIMULATOR.id, tenant.id, MockWebhook.project_id == project
    )
    return jsonify([SIMULATOR.webhook_json(row) for row in rows])


@bp.post(WEBHOOKS)
@outside_team_gate
def webhook_create(organization_id: str, project_id: str) -> ResponseReturnValue:
    """Create a organization project webhook."""
    tenant, project = project_scope(organization_id, project_id)
    now = utcnow()
    columns = SIMULATOR.new_columns(json_object(), project_id=project, now=now)
    row = state.add_webhook(db.session, SIMULATOR.id, tenant.id, columns, now=now)
    db.session.commit()
    return jsonify(SIMULATOR.webhook_json(row)), 201


@bp.get(WEBHOOK)
@outside_team_gate
def webhook_show(organization_id: str, project_id: str, webhook_id: str) -> ResponseReturnValue:
    """Get organizations a project webhook."""
    return jsonify(SIMULATOR.webhook_json(load_webhook(organization_id, project_id, webhook_id)))


@bp.patch(WEBHOOK)
@outside_team_gate
def webhook_update(organization_id: str, project_id: str, webhook_id: str) -> ResponseReturnValue:
    """Update a project webhook: the fields given."""
    row = load_webhook(organization_id, project_id, webhook_id)
    SIMULATOR.update(row, json_object(), utcnow())
    db.session.commit()
    return jsonify(SIMULATOR.webhook_json(row))


@bp.delete(WEBHOOK)
@outside_team_gate
def webhook_delete(organization_id: str, project_id: str, webhook_id: str) -> ResponseReturnValue:
    """Delete a project webhook."""
    db.session.delete(load_webhook(organization_id, project_id, webhook_id))
    db.session.commit()
    return "", 204
