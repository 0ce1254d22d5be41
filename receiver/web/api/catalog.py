"""The catalog, validation of any payload, samples into a bin, and the OpenAPI document.

Shipped schemas are read-only: ``PUT`` on a shipped event stores a user override beside it and
``DELETE`` removes it again. Every route that writes is under ``/api``, so a team deployment's
access gate covers it like every other API route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response
from flask import current_app
from flask import jsonify
from flask import request
from sqlalchemy.orm.exc import ObjectDeletedError
from sqlalchemy.orm.exc import StaleDataError

from receiver.catalog import importing
from receiver.catalog.model import Catalog
from receiver.catalog.model import Event
from receiver.catalog.model import Provider
from receiver.catalog.user_schemas import ReadOnlyError
from receiver.catalog.user_schemas import UserSchemaError
from receiver.catalog.user_schemas import check_ids
from receiver.catalog.user_schemas import delete_user_provider
from receiver.catalog.user_schemas import delete_user_schema
from receiver.catalog.user_schemas import save_user_provider
from receiver.catalog.user_schemas import save_user_schema
from receiver.catalog.validation import validate_body
from receiver.exports.openapi import build_openapi
from receiver.storage.db import db
from receiver.version import package_version
from receiver.web.access import load_bin
from receiver.web.api.common import ApiError
from receiver.web.api.common import bp
from receiver.web.api.common import json_body
from receiver.web.api.common import load_request
from receiver.web.catalog_tools import ToolError
from receiver.web.catalog_tools import bin_drift
from receiver.web.catalog_tools import import_openapi
from receiver.web.catalog_tools import promote_capture
from receiver.web.catalog_tools import revert_example
from receiver.web.errors import json_error
from receiver.web.shapes import request_json
from receiver.web.state import current_catalog
from receiver.web.state import deliver_sample
from receiver.web.state import load_event
from receiver.web.urls import public_base


@bp.errorhandler(UserSchemaError)
def handle_user_schema_error(error: UserSchemaError) -> Response:
    if isinstance(error, ReadOnlyError):
        return json_error(409, "read_only", str(error))
    return json_error(400, "invalid_schema", str(error))


@bp.errorhandler(importing.OpenAPIImportError)
def handle_import_error(error: importing.OpenAPIImportError) -> Response:
    return json_error(400, "invalid_document", str(error))


@bp.errorhandler(ToolError)
def handle_tool_error(error: ToolError) -> Response:
    return json_error(error.status, error.code, str(error))


def event_summary(event: Event) -> dict[str, Any]:
    """One event in the catalog listing."""
    return {
        "id": event.id,
        "description": event.description,
        "documented": event.documented,
        "user_defined": event.user_defined,
        "origin": event.origin,
        "example_origin": event.example_origin,
    }


def provider_json(provider: Provider) -> dict[str, Any]:
    """One provider with its events."""
    return {
        "id": provider.id,
        "name": provider.name,
        "user_defined": provider.user_defined,
        "signature": provider.signature,
        "detection": provider.detection,
        "events": [event_summary(event) for event in provider.events.values()],
    }


def event_json(found: Event) -> dict[str, Any]:
    """One event in full: schema, example, where both come from, and the shipped schema an
    override stands beside."""
    shipped = found.shipped
    return {
        "provider": found.provider_id,
        "event": found.id,
        "description": found.description,
        "documented": found.documented,
        "user_defined": found.user_defined,
        "origin": found.origin,
        "example_origin": found.example_origin,
        "schema": found.schema,
        "example": found.example,
        "headers": [list(pair) for pair in found.headers],
        "source": found.source,
        "shipped": None
        if shipped is None
        else {"schema": shipped.schema, "example": shipped.example, "source": shipped.source},
    }


@bp.get("/catalog")
def catalog_list() -> Response:
    """Providers and their events."""
    catalog = current_catalog()
    return jsonify({"providers": [provider_json(p) for p in catalog.providers.values()]})


@bp.put("/catalog/<provider:provider>")
def catalog_provider_put(provider: str) -> tuple[Response, int]:
    """Add or change a user provider: ``{name?, detection?: {event_header?, headers?,
    event_pointer?}}``."""
    body = json_body("invalid_schema")
    catalog = current_catalog()
    existed = catalog.provider(provider) is not None
    _commit_write(lambda: save_user_provider(db.session, catalog, provider, body))
    found = current_catalog().provider(provider)
    if found is None:
        raise ApiError(409, "conflict", f"{provider} was deleted by another request meanwhile")
    return jsonify(provider_json(found)), 200 if existed else 201


def _commit_write(write: Callable[[], object]) -> None:
    """Run a user-catalog write and commit it; once more when another request deleted the row
    it was changing meanwhile (a PUT creates what is no longer there)."""
    try:
        write()
        db.session.commit()
    except (StaleDataError, ObjectDeletedError):
        db.session.rollback()
        write()
        db.session.commit()


@bp.delete("/catalog/<provider:provider>")
def catalog_provider_delete(provider: str) -> Response:
    """Remove a user provider and all its user schemas; shipped providers are read-only."""
    catalog = current_catalog()
    if catalog.provider(provider) is None:
        raise ApiError(404, "not_found", f"no provider {provider!r} in the catalog")
    delete_user_provider(db.session, catalog, provider)
    db.session.commit()
    return Response(status=204)


@bp.get("/catalog/<provider>/<event>")
def catalog_event_show(provider: str, event: str) -> Response:
    """One event: its schema, its example and where both come from."""
    return jsonify(event_json(load_event(provider, event)))


@bp.put("/catalog/<provider>/<event>")
def catalog_event_put(provider: str, event: str) -> tuple[Response, int]:
    """Add or replace a user schema (a schema, or ``{schema, example?, description?}``); over a
    shipped event it is an override, stored beside the shipped schema."""
    body = json_body("invalid_schema")
    found = current_catalog().get(provider, event)
    existed = found is not None and found.origin != "shipped"
    _commit_write(lambda: save_user_schema(db.session, provider, event, body))
    if current_catalog().get(provider, event) is None:
        raise ApiError(
            409, "conflict", f"{provider}/{event} was deleted by another request meanwhile"
        )
    return catalog_event_show(provider, event), 200 if existed else 201


@bp.delete("/catalog/<provider>/<event>")
def catalog_event_delete(provider: str, event: str) -> Response:
    """Remove a user schema, an override or a user example; a shipped schema returns."""
    check_ids(provider, event)
    if not delete_user_schema(db.session, current_catalog(), provider, event):
        raise ApiError(404, "not_found", f"no user schema for {provider}/{event}")
    db.session.commit()
    return Response(status=204)


@bp.delete("/catalog/<provider>/<event>/example")
def catalog_example_delete(provider: str, event: str) -> Response:
    """Revert a user example (a promoted capture): the schema's own example returns."""
    check_ids(provider, event)
    revert_example(provider, event)
    return catalog_event_show(provider, event)


@bp.post("/catalog/import")
def catalog_import() -> tuple[Response, int]:
    """Import every ``webhooks`` entry of an OpenAPI 3.1 document (JSON or YAML) as user
    schemas of ``?provider=``."""
    provider = request.args.get("provider", "")
    if not provider:
        raise ApiError(400, "invalid_request", "name the provider: ?provider=<id>")
    report = import_openapi(provider, request.get_data(cache=False))
    return jsonify(report), 201


@bp.post("/bins/<bin_id>/requests/<int:request_id>/promote")
def request_promote(bin_id: str, request_id: int) -> Response:
    """Use a captured body as the example of its detected event (``{provider?, event?}`` choose
    when the capture names several candidates or none)."""
    body = json_body(required=False)
    provider, event = body.get("provider"), body.get("event")
    promoted = promote_capture(load_request(bin_id, request_id), provider, event)
    return jsonify(event_json(promoted))


@bp.get("/bins/<bin_id>/drift")
def bin_drift_show(bin_id: str) -> Response:
    """Schema drift of one event across the bin's captures (``?provider=&event=``; without them,
    the events the bin has captured)."""
    load_bin(bin_id)
    report = bin_drift(bin_id, request.args.get("provider"), request.args.get("event"))
    return jsonify(report)


@bp.post("/validate")
def payload_validate() -> Response:
    """Validate any body against the catalog; stateless, 200 whatever the verdict."""
    provider = request.args.get("provider") or None
    event = request.args.get("event") or None
    catalog: Catalog = current_catalog()
    if event and provider and catalog.get(provider, event) is None:
        raise ApiError(404, "unknown_event", f"no event {event!r} for provider {provider!r}")
    result = validate_body(
        catalog,
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
    request_id = deliver_sample(load_event(body["provider"], body["event"]), bin_id)
    return jsonify(request_json(load_request(bin_id, request_id), with_body=True)), 201


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """OpenAPI 3.1 of this API, with a ``webhooks`` entry per catalog event."""
    document = build_openapi(
        current_catalog(),
        max_delay_ms=current_app.config["RECEIVER_MAX_RESPONSE_DELAY_MS"],
        server_url=public_base(),
        version=package_version(),
    )
    return jsonify(document)
