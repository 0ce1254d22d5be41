"""What the three mock APIs share: the provider's error shape, bearer tokens, the JSON shapes of
deliveries and triggers, and the simulator's own routes (tokens, events, settings, reset,
deliveries, the OpenAPI document), added to each provider's blueprint.

Under ``/mock/apitree`` errors are ApiTree's documented ``{code, message}``
(``Simulator.code_message_errors``); under the other mocks they are receiver's
``{"error": {"code", "message"}}`` (their providers document none).
"""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request
from flask.typing import ResponseReturnValue

from receiver.capture.bodies import as_text
from receiver.simulators import documents
from receiver.simulators import state
from receiver.simulators.model import MockError
from receiver.simulators.model import Simulator
from receiver.simulators.model import Tenant
from receiver.simulators.registry import SIMULATORS
from receiver.simulators.triggering import Fired
from receiver.simulators.triggering import fire
from receiver.simulators.triggering import parse_trigger
from receiver.storage.db import db
from receiver.storage.models import MockDelivery
from receiver.storage.models import utcnow
from receiver.web.api.common import ApiError
from receiver.web.api.common import json_object
from receiver.web.errors import json_error
from receiver.web.services import services
from receiver.web.shapes import iso
from receiver.web.state import current_catalog
from receiver.web.team import bearer_token
from receiver.web.team import outside_team_gate
from receiver.web.urls import public_base

MOCK_PREFIX = "/mock/"
ACCESS_DENIED = "Access denied"


def mock_error(status: int, code: str, message: str) -> Response:
    """An error in the shape of the mock the request went to (a 401 says how to authenticate)."""
    simulator = SIMULATORS.get(request.path.removeprefix(MOCK_PREFIX).split("/", 1)[0])
    if simulator is not None and simulator.code_message_errors:
        response = jsonify({"code": status, "message": message})
        response.status_code = status
    else:
        response = json_error(status, code, message)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="receiver simulator"'
    return response


def handle_mock_error(error: MockError) -> Response:
    return mock_error(error.status, error.code, error.message)


def handle_api_error(error: ApiError) -> Response:
    """A body that is not a JSON object (or not sent as JSON), in the mock's shape."""
    return mock_error(error.status, error.code, error.message)


def require_tenant(simulator: Simulator) -> Tenant:
    """The tenant of the request's bearer token.

    :raise MockError: 401 without a token this mock issued.
    """
    found = state.authenticate(db.session, simulator.id, bearer_token())
    if found is None:
        raise MockError(401, "unauthorized", ACCESS_DENIED)
    return found


def catalog_events(simulator: Simulator) -> tuple[str, ...]:
    """The provider's events in the current catalog (shipped and user schemas)."""
    provider = current_catalog().provider(simulator.id)
    return tuple(provider.events) if provider is not None else ()


def mock_base(simulator: Simulator) -> str:
    """The mock's base URL: what a client puts where the provider's API address goes."""
    return f"{public_base()}{MOCK_PREFIX}{simulator.id}"


def delivery_json(row: MockDelivery) -> dict[str, Any]:
    """One delivery attempt as the API shows it."""
    return {
        "id": row.id,
        "webhook_id": row.webhook_id,
        "trigger_id": row.trigger_id,
        "event": row.event,
        "attributes": dict(row.attributes or {}),
        "attempt": row.attempt,
        "url": row.url,
        "method": row.method,
        "request_headers": [list(pair) for pair in row.request_headers or []],
        "request_body": as_text(row.request_body or b""),
        "request_body_base64": base64.b64encode(row.request_body or b"").decode("ascii"),
        "status_code": row.status_code,
        "response_headers": [list(pair) for pair in row.response_headers or []],
        "response_body": as_text(row.response_body or b""),
        "response_body_base64": base64.b64encode(row.response_body or b"").decode("ascii"),
        "elapsed_ms": row.elapsed_ms,
        "error": row.error,
        "created_at": iso(row.created_at),
    }


def fired_json(fired: Fired) -> dict[str, Any]:
    """What a trigger answers: how many webhooks matched and every delivery made."""
    return {
        "trigger_id": fired.trigger_id,
        "event": fired.trigger.event,
        "attributes": dict(fired.trigger.attributes),
        "matched": fired.matched,
        "skipped": fired.skipped,
        "deliveries": [delivery_json(row) for row in fired.deliveries],
    }


def fire_described(simulator: Simulator, body: Any) -> Fired:
    """Fire the trigger ``body`` describes (the page's, the API's and ``receiver simulate``'s),
    within the app's deadline and outgoing-address policy; its deliveries are not committed.

    :raise MockError: 400 for a body that names no known event or breaks the document.
    """
    trigger = parse_trigger(simulator, catalog_events(simulator), body)
    return fire(
        db.session,
        current_catalog(),
        simulator,
        trigger,
        deadline=current_app.config["RECEIVER_SIMULATOR_DEADLINE"],
        policy=services().outgoing,
    )


def trigger_event(simulator: Simulator, body: Any) -> dict[str, Any]:
    """Fire a trigger described by ``body`` and commit its deliveries; its JSON answer.

    :raise MockError: 400 for a body that names no known event or breaks the document.
    """
    answer = fired_json(fire_described(simulator, body))
    db.session.commit()
    return answer


def token_answer(simulator: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    """Issue a token for the tenant ``body`` names (a new one when it names none) and commit;
    the answer: the token, its tenant and (ApiTree) its scopes.

    :raise MockError: 400 for a body that breaks the document.
    """
    issued = state.issue_token_for(db.session, simulator, catalog_events(simulator), body, utcnow())
    db.session.commit()
    answer: dict[str, Any] = {"token": issued.token, simulator.tenant_kind: issued.tenant}
    if issued.scopes:
        answer["scopes"] = list(issued.scopes)
    return answer


def query_limit(raw: str | None) -> int:
    """The ``limit`` of a delivery list.

    :raise MockError: 400 when it is not a whole number within the bounds.
    """
    if raw is None:
        return documents.DELIVERIES_LIMIT_DEFAULT
    if (
        not raw.isascii()
        or not raw.isdigit()
        or not 1 <= int(raw) <= documents.DELIVERIES_LIMIT_MAX
    ):
        raise MockError(
            400,
            "invalid_request",
            f"limit is a whole number from 1 to {documents.DELIVERIES_LIMIT_MAX}",
        )
    return int(raw)


def add_simulator_routes(bp: Blueprint, simulator: Simulator) -> None:
    """The simulator's own routes on a provider's blueprint, and its error handlers.

    Tokens and triggers are the simulator's controls: in a team deployment they need the
    deployment's token like the rest of receiver. The other routes, like the provider's own,
    authenticate with the mock's tokens and stay outside the team gate.
    """
    bp.register_error_handler(MockError, handle_mock_error)
    bp.register_error_handler(ApiError, handle_api_error)

    @bp.post("/tokens", endpoint="token_create")
    def token_create() -> ResponseReturnValue:
        """Issue a token (the body names its tenant, or a new one is made)."""
        return jsonify(token_answer(simulator, json_object(required=False))), 201

    @bp.post("/events", endpoint="event_trigger")
    def event_trigger() -> ResponseReturnValue:
        """This event happened: deliver it to every matching webhook."""
        return jsonify(trigger_event(simulator, json_object()))

    @bp.get("/settings", endpoint="settings_show")
    @outside_team_gate
    def settings_show() -> ResponseReturnValue:
        """The token's tenant's settings."""
        tenant = require_tenant(simulator)
        return jsonify(state.tenant_settings(db.session, simulator, tenant.id))

    @bp.patch("/settings", endpoint="settings_change")
    @outside_team_gate
    def settings_change() -> ResponseReturnValue:
        """Change the token's tenant's settings."""
        tenant = require_tenant(simulator)
        body = json_object()
        documents.check_body(simulator, catalog_events(simulator), "SettingsChange", body)
        values = state.change_settings(db.session, simulator, tenant.id, body, utcnow())
        db.session.commit()
        return jsonify(values)

    @bp.post("/reset", endpoint="tenant_reset")
    @outside_team_gate
    def tenant_reset() -> ResponseReturnValue:
        """Forget the token's tenant's webhooks, deliveries and settings."""
        tenant = require_tenant(simulator)
        state.reset_tenant(db.session, simulator.id, tenant.id)
        db.session.commit()
        return "", 204

    @bp.get("/deliveries", endpoint="delivery_list")
    @outside_team_gate
    def delivery_list() -> ResponseReturnValue:
        """The token's tenant's deliveries, newest first."""
        tenant = require_tenant(simulator)
        webhook_id = request.args.get("webhook_id")
        if webhook_id is not None and not 1 <= len(webhook_id) <= 36:
            raise MockError(400, "invalid_request", "webhook_id is a webhook id")
        rows = state.list_deliveries(
            db.session,
            simulator.id,
            tenant.id,
            webhook_id=webhook_id,
            limit=query_limit(request.args.get("limit")),
        )
        return jsonify({"deliveries": [delivery_json(row) for row in rows]})

    @bp.get("/deliveries/<int:delivery_id>", endpoint="delivery_show")
    @outside_team_gate
    def delivery_show(delivery_id: int) -> ResponseReturnValue:
        """One of the token's tenant's deliveries."""
        tenant = require_tenant(simulator)
        row = state.get_delivery(db.session, simulator.id, tenant.id, delivery_id)
        return jsonify(delivery_json(row))

    @bp.get("/openapi.json", endpoint="openapi_document")
    @outside_team_gate
    def openapi_document() -> ResponseReturnValue:
        """The mock's OpenAPI 3.1 document."""
        events = catalog_events(simulator)
        return jsonify(documents.build_document(simulator, events, mock_base(simulator)))


def mock_blueprint(simulator: Simulator) -> Blueprint:
    """A provider's blueprint under ``/mock/<provider>``, with the simulator's own routes."""
    bp = Blueprint(f"mock_{simulator.id}", __name__, url_prefix=f"{MOCK_PREFIX}{simulator.id}")
    add_simulator_routes(bp, simulator)
    return bp
