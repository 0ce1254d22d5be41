"""Qovery's organization webhook routes under ``/mock/qovery`` (the paths of its API)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from receiver.simulators import state
from receiver.simulators.model import MockError
from receiver.simulators.model import Tenant
from receiver.simulators.registry import QOVERY
from receiver.storage.db import db
from receiver.storage.models import MockWebhook
from receiver.storage.models import utcnow
from receiver.web.api.common import json_object
from receiver.web.mocks.common import mock_blueprint
from receiver.web.mocks.common import require_tenant
from receiver.web.team import outside_team_gate

SIMULATOR = QOVERY
bp = mock_blueprint(SIMULATOR)
WEBHOOKS = "/organization/<organization_id>/webhook"
WEBHOOK = WEBHOOKS + "/<webhook_id>"


def organization_scope(organization_id: str) -> Tenant:
    """The token's tenant, once the path's organization is checked against it.

    :raise MockError: 401 without a token, 400 for a malformed id, 403 for another
        organization's path.
    """
    tenant = require_tenant(SIMULATOR)
    if SIMULATOR.uuid(organization_id, "organization id") != tenant.id:
        raise MockError(403, "forbidden", "the token does not belong to this organization")
    return tenant


def load_webhook(organization_id: str, webhook_id: str) -> MockWebhook:
    """A webhook of the path's organization.

    :raise MockError: as `organization_scope`, and 404 when it has no such webhook.
    """
    tenant = organization_scope(organization_id)
    return state.get_webhook(db.session, SIMULATOR.id, tenant.id, SIMULATOR.webhook_id(webhook_id))


@bp.get(WEBHOOKS)
@outside_team_gate
def webhook_list(organization_id: str) -> ResponseReturnValue:
    """List organization webhooks."""
    tenant = organization_scope(organization_id)
    rows = state.list_webhooks(db.session, SIMULATOR.id, tenant.id)
    return jsonify({"results": [SIMULATOR.webhook_json(row) for row in rows]})


@bp.post(WEBHOOKS)
@outside_team_gate
def webhook_create(organization_id: str) -> ResponseReturnValue:
    """Create an organization webhook."""
    tenant = organization_scope(organization_id)
    now = utcnow()
    columns = SIMULATOR.new_columns(json_object())
    row = state.add_webhook(db.session, SIMULATOR.id, tenant.id, columns, now=now)
    db.session.commit()
    return jsonify(SIMULATOR.webhook_json(row)), 201


@bp.get(WEBHOOK)
@outside_team_gate
def webhook_show(organization_id: str, webhook_id: str) -> ResponseReturnValue:
    """Get an Organization webhook."""
    return jsonify(SIMULATOR.webhook_json(load_webhook(organization_id, webhook_id)))


@bp.put(WEBHOOK)
@outside_team_gate
def webhook_edit(organization_id: str, webhook_id: str) -> ResponseReturnValue:
    """Edit an organization webhook (the create body, every field as given)."""
    row = load_webhook(organization_id, webhook_id)
    SIMULATOR.replace(row, json_object(), utcnow())
    db.session.commit()
    return jsonify(SIMULATOR.webhook_json(row))


@bp.delete(WEBHOOK)
@outside_team_gate
def webhook_delete(organization_id: str, webhook_id: str) -> ResponseReturnValue:
    """Delete organization webhook."""
    db.session.delete(load_webhook(organization_id, webhook_id))
    db.session.commit()
    return "", 204
