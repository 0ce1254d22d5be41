"""Catalog tools beside the inspector: "Use as example" on a capture, a bin's schema drift, and
the OpenAPI import; the JSON API (``api/catalog.py``) and these HTML partials share the helpers.

Partials (one root element with a stable id each, for the inspector to include):
- ``partials/_use_as_example.html`` (``#use-as-example``): the form on a captured request;
- ``partials/_drift.html`` (``#drift``): a bin's drift report for one event;
- ``partials/_event_origin.html``: whose schema and example an event has (shipped, user, override).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import current_app
from flask import request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from receiver.capture.bodies import decode_body
from receiver.capture.request import header_value
from receiver.catalog import importing
from receiver.catalog.drift import drift_report
from receiver.catalog.drift import example_from_body
from receiver.catalog.model import Event
from receiver.catalog.user_schemas import UserSchemaError
from receiver.catalog.user_schemas import save_user_example
from receiver.catalog.user_schemas import store_import
from receiver.storage.db import db
from receiver.storage.models import CapturedRequest
from receiver.storage.models import UserSchema
from receiver.web.access import load_bin
from receiver.web.api.common import load_request
from receiver.web.htmx import fragment
from receiver.web.state import current_catalog

bp = Blueprint("catalog_tools", __name__)

# captures of one event a drift report reads, newest first
DRIFT_CAPTURES = 500
EVENT_SEPARATOR = "|"


class ToolError(Exception):
    """A catalog tool cannot do what was asked; ``status`` and ``code`` for the API."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def import_openapi(provider: str, data: bytes) -> dict[str, Any]:
    """Import an OpenAPI 3.1 document's webhooks as user schemas of ``provider``; commit.

    :raise importing.OpenAPIImportError: the document cannot be imported.
    :raise UserSchemaError: a bad provider id.
    """
    plan = importing.plan_import(importing.parse_document(data))
    report = store_import(db.session, current_catalog(), provider, plan)
    db.session.commit()
    return report


def capture_event(capture: CapturedRequest, provider: str | None, event: str | None) -> Event:
    """The catalog event a capture is, or the one the caller names among its candidates.

    :raise ToolError: 409 when the capture matches several events and none was chosen, 404
        when it matches none.
    """
    catalog = current_catalog()
    detected = capture.validation or {}
    provider = provider or detected.get("provider") or capture.event_provider
    candidates = list(detected.get("candidates") or [])
    if event is None:
        if len(candidates) > 1:
            raise ToolError(
                409,
                "ambiguous_event",
                f"the capture could be any of {', '.join(candidates)}: choose one as event",
            )
        event = detected.get("event") or (candidates[0] if candidates else None)
    found = catalog.get(provider or "", event or "")
    if found is None:
        raise ToolError(
            404,
            "unknown_event",
            "the capture has no catalog event: name {provider, event} to use it for one",
        )
    return found


def promote_capture(
    capture: CapturedRequest, provider: str | None = None, event: str | None = None
) -> Event:
    """Make the capture's body (Content-Encoding undone) the user example of its event; commit.

    :raise ToolError: no event, several candidates, or a body that is not JSON.
    """
    found = capture_event(capture, provider, event)
    decoded = decode_body(capture.body, header_value(capture.headers, "Content-Encoding"))
    try:
        example = example_from_body(decoded.data)
    except ValueError as exc:
        raise ToolError(400, "not_json", f"only a JSON body can be an example: {exc}") from None
    try:
        save_user_example(db.session, current_catalog(), found.provider_id, found.id, example)
    except UserSchemaError as exc:
        raise ToolError(404, "unknown_event", str(exc)) from None
    db.session.commit()
    promoted = current_catalog().get(found.provider_id, found.id)
    assert promoted is not None
    return promoted


def revert_example(provider: str, event: str) -> None:
    """Remove a user example: an example-only row goes, a user schema keeps no example; commit.

    :raise ToolError: 404 when the event has no user example.
    """
    row = db.session.execute(
        select(UserSchema).where(UserSchema.provider == provider, UserSchema.event == event)
    ).scalar_one_or_none()
    if row is None or row.example is None:
        raise ToolError(404, "not_found", f"{provider}/{event} has no user example")
    if row.schema is None:
        db.session.delete(row)
    else:
        row.example = None
    db.session.commit()


def bin_drift(bin_id: str, provider: str | None, event: str | None) -> dict[str, Any]:
    """The drift of one event over the bin's captures; without an event, the bin's events.

    :raise ToolError: 404 for an event the catalog does not have.
    """
    seen = _events_seen(bin_id)
    if not provider or not event:
        return {"events": [{"provider": p, "event": e, "captures": n} for (p, e), n in seen]}
    found = current_catalog().get(provider, event)
    if found is None:
        raise ToolError(404, "unknown_event", f"no event {event!r} for provider {provider!r}")
    bodies = (
        decode_body(body, header_value(headers, "Content-Encoding")).data
        for body, headers in _bodies_of(bin_id, provider, event)
    )
    budget = current_app.config["RECEIVER_VALIDATION_BUDGET_MS"]
    report = drift_report(found.schema, bodies, budget_ms=budget)
    return {"provider": provider, "event": event, "origin": found.origin, **report.to_dict()}


def _events_seen(bin_id: str) -> list[tuple[tuple[str, str], int]]:
    """(provider, event) pairs among the bin's recent captures, most captured first."""
    rows = db.session.execute(
        select(CapturedRequest.event_provider, CapturedRequest.event_id)
        .where(CapturedRequest.bin_id == bin_id, CapturedRequest.event_id.is_not(None))
        .order_by(CapturedRequest.id.desc())
        .limit(DRIFT_CAPTURES * 4)
    ).all()
    counts: dict[tuple[str, str], int] = {}
    for provider, events in rows:
        for name in str(events).split(EVENT_SEPARATOR):
            key = (provider or "", name)
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _bodies_of(bin_id: str, provider: str, event: str) -> list[tuple[bytes, list[list[str]]]]:
    rows = db.session.execute(
        select(CapturedRequest.body, CapturedRequest.headers, CapturedRequest.event_id)
        .where(
            CapturedRequest.bin_id == bin_id,
            CapturedRequest.event_provider == provider,
            CapturedRequest.event_id.contains(event),
        )
        .order_by(CapturedRequest.id.desc())
        .limit(DRIFT_CAPTURES)
    ).all()
    return [
        (body, headers)
        for body, headers, events in rows
        if event in str(events).split(EVENT_SEPARATOR)
    ]


# --------------------------------------------------------------------------- HTML partials


@bp.get("/bins/<bin_id>/requests/<int:request_id>/use-as-example")
def use_as_example_form(bin_id: str, request_id: int) -> ResponseReturnValue:
    """The "Use as example" form of a captured request."""
    capture = load_request(bin_id, request_id)
    return fragment("partials/_use_as_example.html", **_example_context(capture))


@bp.post("/bins/<bin_id>/requests/<int:request_id>/use-as-example")
def use_as_example(bin_id: str, request_id: int) -> ResponseReturnValue:
    """Promote the capture's body to its event's example; answer the form with the outcome."""
    capture = load_request(bin_id, request_id)
    chosen = (request.form.get("event") or "").strip()
    provider, _, event = chosen.partition("/")
    context = _example_context(capture)
    try:
        context["promoted"] = promote_capture(capture, provider or None, event or None)
    except ToolError as error:
        context["error"] = str(error)
    return fragment("partials/_use_as_example.html", **context)


def _example_context(capture: CapturedRequest) -> dict[str, Any]:
    catalog = current_catalog()
    detected = capture.validation or {}
    provider = detected.get("provider") or capture.event_provider or ""
    names = list(detected.get("candidates") or []) or (
        [detected["event"]] if detected.get("event") else []
    )
    choices = [catalog.get(provider, name) for name in names]
    return {
        "capture": capture,
        "choices": [event for event in choices if event is not None],
        "promoted": None,
        "error": None,
    }


@bp.get("/bins/<bin_id>/drift")
def drift_panel(bin_id: str) -> ResponseReturnValue:
    """The drift report of one event over the bin's captures (``?event=provider/event``)."""
    found = load_bin(bin_id)
    chosen = (request.args.get("event") or "").strip()
    provider, _, event = chosen.partition("/")
    seen = bin_drift(found.id, None, None)["events"]
    if not chosen and seen:
        provider, event = seen[0]["provider"], seen[0]["event"]
    report = None
    error = None
    if provider and event:
        try:
            report = bin_drift(found.id, provider, event)
        except ToolError as exc:
            error = str(exc)
    return fragment("partials/_drift.html", bin=found, seen=seen, report=report, error=error)
