"""The catalog, validation of any payload, samples into a bin, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import current_app
from flask import jsonify
from flask import request

from receiver.catalog.model import Event
from receiver.catalog.user_schemas import UserSchemaError
from receiver.catalog.user_schemas import save_user_schema
from receiver.catalog.validation import validate_body
from receiver.exports.openapi import build_openapi
from receiver.storage.db import db
from receiver.web.access import load_bin
from receiver.web.api.common import ApiError
from receiver.web.api.common import bp
from receiver.web.api.common import json_body
from receiver.web.api.common import load_request
from receiver.web.errors import json_error
from receiver.web.shapes import request_json
from receiver.web.state import current_catalog
from receiver.web.state import deliver_sample
from receiver.web.state import load_event
from receiver.web.urls import public_base


@bp.errorhandler(UserSchemaError)
def handle_user_schema_error(error: UserSchemaError) -> Response:
    return json_error(400, "invalid_schema", str(error))


def event_summary(event: Event) -> dict[str, Any]:
    """One event in the catalog listing."""
    return {
        "id": event.id,
        "description": event.description,
        "documented": event.documented,
        "user_defined": event.user_defined,
    }


@bp.get("/catalog")
def catalog_list() -> Response:
    """Providers and their events."""
    catalog = current_catalog()
    return jsonify(
        {
            "providers": [
                {
                    "id": provider.id,
                    "name": provider.name,
                    "user_defined": provider.user_defined,
                    "signature": provider.signature,
                    "events": [event_summary(event) for event in provider.events.values()],
                }
                for provider in catalog.providers.values()
            ]
        }
    )


@bp.get("/catalog/<provider>/<event>")
def catalog_event_show(provider: str, event: str) -> Response:
    """One event: its schema, its example and where both come from."""
    found = load_event(provider, event)
    return jsonify(
        {
            "provider": found.provider_id,
            "event": found.id,
            "description": found.description,
            "documented": found.documented,
            "user_defined": found.user_defined,
            "schema": found.schema,
            "example": found.example,
            "source": found.source,
        }
    )


@bp.put("/catalog/<provider>/<event>")
def catalog_event_put(provider: str, event: str) -> tuple[Response, int]:
    """Add or replace a user schema (a schema, or ``{schema, example?, description?}``)."""
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    existed = current_catalog().get(provider, event) is not None
    save_user_schema(db.session, provider, event, body)
    db.session.commit()
    return catalog_event_show(provider, event), 200 if existed else 201


@bp.post("/validate")
def payload_validate() -> Response:
    """Validate any body against the catalog; stateless, 200 whatever the verdict."""
    provider = request.args.get("provider") or None
    event = request.args.get("event") or None
    if event and provider and current_catalog().get(provider, event) is None:
        raise ApiError(404, "unknown_event", f"no event {event!r} for provider {provider!r}")
    result = validate_body(
        current_catalog(),
        request.get_data(cache=False),
        provider=provider,
        event=event,
        headers=list(request.headers.items()),
    )
    return jsonify(result.to_dict())


@bp.post("/bins/<bin_id>/send")
def bin_send(bin_id: str) -> tuple[Response, int]:
    """Deliver a catalog example into the bin as the provider would (signed if configured)."""
    load_bin(bin_id)
    body = json_body()
    provider, event = body.get("provider"), body.get("event")
    if not isinstance(provider, str) or not isinstance(event, str):
        raise ApiError(400, "invalid_request", "send needs {provider, event} as strings")
    request_id = deliver_sample(load_event(provider, event), bin_id)
    return jsonify(request_json(load_request(bin_id, request_id), with_body=True)), 201


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """OpenAPI 3.1 of this API, with a ``webhooks`` entry per catalog event."""
    document = build_openapi(
        current_catalog(),
        max_delay_ms=current_app.config["RECEIVER_MAX_RESPONSE_DELAY_MS"],
        server_url=public_base(),
    )
    return jsonify(document)
