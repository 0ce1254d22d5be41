"""ApiTree's Event-API webhook operations under ``/mock/apitree``: ApiTree names the operations,
not their paths, so ``/webhooks`` and ``/webhooks/{webhookId}`` are the simulator's."""

from __future__ import annotations

from flask import jsonify
from flask import request
from flask.typing import ResponseReturnValue
from sqlalchemy import ColumnElement

from receiver.simulators import state
from receiver.simulators.apitree import LIMIT_MESSAGE
from receiver.simulators.apitree import MAX_WEBHOOKS
from receiver.simulators.model import MockError
from receiver.simulators.registry import APITREE
from receiver.storage.db import db
from receiver.storage.models import MockWebhook
from receiver.storage.models import utcnow
from receiver.web.api.common import json_object
from receiver.web.mocks.common import catalog_events
from receiver.web.mocks.common import mock_blueprint
from receiver.web.mocks.common import require_tenant
from receiver.web.team import outside_team_gate

SIMULATOR = APITREE
bp = mock_blueprint(SIMULATOR)
# the list's filters and their longest values (as the document says)
FILTERS = {"apiId": 64, "userId": 64, "eventName": 128}


def list_filters() -> list[ColumnElement[bool]]:
    """The database conditions of the list's filters (``eventName`` is applied after).

    :raise MockError: 400 for a filter value that is too long.
    """
    conditions: list[ColumnElement[bool]] = []
    for name, longest in FILTERS.items():
        value = request.args.get(name)
        if value is not None and len(value) > longest:
            raise MockError(400, "invalid_request", f"{name} has at most {longest} characters")
    if (api_id := request.args.get("apiId")) is not None:
        conditions.append(MockWebhook.api_id == api_id.lower())
    if (user_id := request.args.get("userId")) is not None:
        conditions.append(MockWebhook.user_id == user_id)
    return conditions


def load_webhook(webhook_id: str, *, write: bool = False) -> MockWebhook:
    """A webhook of the token's user (to change it, with ``write``).

    :raise MockError: 401 without a token, 403 for a read-only token that would write, 400 for a
        malformed id, 404 for a webhook the user does not have (another user's included).
    """
    tenant = require_tenant(SIMULATOR)
    if write:
        SIMULATOR.require_write(tenant)
    return state.get_webhook(db.session, SIMULATOR.id, tenant.id, SIMULATOR.webhook_id(webhook_id))


@bp.get("/webhooks")
@outside_team_gate
def webhook_list() -> ResponseReturnValue:
    """Gets all webhooks of the authenticated user (filters: apiId, userId, eventName)."""
    tenant = require_tenant(SIMULATOR)
    rows = state.list_webhooks(db.session, SIMULATOR.id, tenant.id, *list_filters())
    event_name = request.args.get("eventName")
    if event_name is not None:
        rows = [row for row in rows if event_name in row.events]
    return jsonify([SIMULATOR.webhook_json(row) for row in rows])


@bp.post("/webhooks")
@outside_team_gate
def webhook_create() -> ResponseReturnValue:
    """Creates a webhook (at most 30 per user); its secret is generated."""
    tenant = require_tenant(SIMULATOR)
    SIMULATOR.require_write(tenant)
    now = utcnow()
    columns = SIMULATOR.new_columns(
        json_object(), owner=tenant.id, events=catalog_events(SIMULATOR), now=now
    )
    row = state.add_webhook(
        db.session,
        SIMULATOR.id,
        tenant.id,
        columns,
        now=now,
        limit=MAX_WEBHOOKS,
        limit_message=LIMIT_MESSAGE,
    )
    db.session.commit()
    return jsonify(SIMULATOR.webhook_json(row)), 201


@bp.get("/webhooks/<webhook_id>")
@outside_team_gate
def webhook_show(webhook_id: str) -> ResponseReturnValue:
    """Gets a webhook."""
    return jsonify(SIMULATOR.webhook_json(load_webhook(webhook_id)))


@bp.route("/webhooks/<webhook_id>", methods=["PUT", "PATCH"])
@outside_team_gate
def webhook_update(webhook_id: str) -> ResponseReturnValue:
    """Updates a webhook: PUT sets every writable field as given, PATCH the fields given."""
    row = load_webhook(webhook_id, write=True)
    change = SIMULATOR.replace if request.method == "PUT" else SIMULATOR.update
    change(row, json_object(), catalog_events(SIMULATOR), utcnow())
    db.session.commit()
    return jsonify(SIMULATOR.webhook_json(row))


@bp.delete("/webhooks/<webhook_id>")
@outside_team_gate
def webhook_delete(webhook_id: str) -> ResponseReturnValue:
    """Deletes a webhook."""
    db.session.delete(load_webhook(webhook_id, write=True))
    db.session.commit()
    return "", 204
