"""The JSON API under /api: stable shapes, errors always ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import jsonify
from flask import request
from flask import url_for

from .. import bins
from .. import listing
from .. import recordings
from ..capture_store import BinGone
from ..catalog import Event
from ..db import db
from ..exports import har_json
from ..forwarding import catch_up
from ..models import Bin
from ..models import ForwardJob
from ..models import utcnow
from ..openapi import build_openapi
from ..replay import ReplayError
from ..replays import history
from ..replays import replay_request
from ..samples import sample_request
from ..tokens import bin_token
from ..user_schemas import UserSchemaError
from ..user_schemas import save_user_schema
from ..validation import validate_body
from .access import load_bin
from .errors import json_error
from .ingest import record
from .shapes import bin_json
from .shapes import iso
from .shapes import replay_json
from .shapes import request_json
from .state import capture_store
from .state import current_catalog
from .state import load_event
from .urls import ingest_url
from .urls import public_base

bp = Blueprint("api", __name__, url_prefix="/api")


class ApiError(Exception):
    """An error the API reports as JSON with its own code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@bp.errorhandler(ApiError)
def handle_api_error(error: ApiError) -> Response:
    return json_error(error.status, error.code, error.message)


@bp.errorhandler(bins.BinError)
def handle_bin_error(error: bins.BinError) -> Response:
    status = 409 if error.code == "id_taken" else 400
    return json_error(status, error.code, error.message)


@bp.errorhandler(listing.FilterError)
def handle_filter_error(error: listing.FilterError) -> Response:
    return json_error(400, "invalid_filter", str(error))


def json_body(*, required: bool = True) -> dict[str, Any]:
    """The request's JSON object.

    :raise ApiError: 400 when the body is not a JSON object (an empty body counts as ``{}``
        unless ``required``), 415 when it is sent as something other than JSON.
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise ApiError(400, "invalid_json", "the request body must be a JSON object")
        return {}
    if request.mimetype and not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    value = request.get_json(silent=True)
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return value


@bp.post("/bins")
def bin_create() -> tuple[Response, int, dict[str, str]]:
    """Create a bin: ``{id?, label?, private?, provider?, event?}``."""
    body = json_body(required=False)
    unknown = set(body) - {"id", "label", "private", "provider", "event"}
    if unknown:
        raise ApiError(400, "invalid_settings", f"unknown field(s): {', '.join(sorted(unknown))}")
    if "private" in body and not isinstance(body["private"], bool):
        raise ApiError(400, "invalid_settings", "private is true or false")
    for key in ("provider", "event"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise ApiError(400, "invalid_settings", f"{key} is a catalog id")
    created = bins.create_bin(
        db.session,
        now=utcnow(),
        ttl_days=current_app.config["RECEIVER_BIN_TTL_DAYS"],
        bin_id=body.get("id"),
        label=body.get("label") or "",
        private=bool(body.get("private", False)),
        provider=body.get("provider"),
        event=body.get("event"),
    )
    db.session.commit()
    shape = bin_json(created)
    if created.private:
        shape["token"] = bin_token(current_app.config["SECRET_KEY"], created.id)
    location = url_for("api.bin_show", bin_id=created.id)
    return jsonify(shape), 201, {"Location": location}


@bp.get("/bins/<bin_id>")
def bin_show(bin_id: str) -> Response:
    """One bin with its settings."""
    return jsonify(bin_json(load_bin(bin_id)))


@bp.patch("/bins/<bin_id>")
def bin_update(bin_id: str) -> Response:
    """Change any subset of the settings."""
    found = load_bin(bin_id)
    bins.apply_settings(
        found, json_body(), max_delay_ms=current_app.config["RECEIVER_MAX_RESPONSE_DELAY_MS"]
    )
    db.session.commit()
    shape = bin_json(found)
    if found.private:  # whoever made it private must be able to open it again
        shape["token"] = bin_token(current_app.config["SECRET_KEY"], found.id)
    return jsonify(shape)


@bp.delete("/bins/<bin_id>")
def bin_delete(bin_id: str) -> tuple[str, int]:
    """Delete a bin with all its requests."""
    found = load_bin(bin_id)
    db.session.delete(found)
    db.session.commit()
    return "", 204


@bp.get("/bins/<bin_id>/requests")
def request_list(bin_id: str) -> Response:
    """Newest first, keyset paged: pass ``next`` back as ``before``."""
    load_bin(bin_id)
    args = request.args
    page = listing.list_requests(
        db.session,
        bin_id,
        limit=listing.parse_limit(args.get("limit")),
        before=listing.parse_cursor(args.get("before"), "before"),
        after=listing.parse_cursor(args.get("after"), "after"),
        filters=listing.parse_filter(
            args.get("method"), args.get("event"), args.get("validation"), args.get("q")
        ),
    )
    return jsonify(
        {
            "requests": [request_json(item, with_body=False) for item in page.requests],
            "next": page.next,
        }
    )


@bp.delete("/bins/<bin_id>/requests")
def request_clear(bin_id: str) -> Response:
    """Delete every request of the bin."""
    load_bin(bin_id)
    deleted = bins.clear_requests(db.session, bin_id)
    db.session.commit()
    return jsonify({"deleted": deleted})


def load_request(bin_id: str, request_id: int) -> Any:
    """A captured request of a visible bin.

    :raise 404: unknown bin, or a request that is not in it.
    """
    load_bin(bin_id)
    found = listing.get_request(db.session, bin_id, request_id)
    if found is None:
        abort(404, description="no such request in this bin")
    return found


@bp.get("/bins/<bin_id>/requests/<int:request_id>")
def request_show(bin_id: str, request_id: int) -> Response:
    """One request, with its body as text (when UTF-8) and base64."""
    return jsonify(request_json(load_request(bin_id, request_id), with_body=True))


@bp.get("/bins/<bin_id>/requests/<int:request_id>/raw")
def request_raw(bin_id: str, request_id: int) -> Response:
    """The exact bytes, with the original content type, as a download."""
    found = load_request(bin_id, request_id)
    response = Response(found.body, mimetype=None)
    response.headers["Content-Type"] = found.content_type or "application/octet-stream"
    response.headers["Content-Disposition"] = f'attachment; filename="request-{found.id}.body"'
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@bp.delete("/bins/<bin_id>/requests/<int:request_id>")
def request_delete(bin_id: str, request_id: int) -> tuple[str, int]:
    """Delete one request."""
    load_bin(bin_id)
    if not bins.delete_request(db.session, bin_id, request_id):
        abort(404, description="no such request in this bin")
    db.session.commit()
    return "", 204


# -- catalog, validation, sending -------------------------------------------------------------


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
    found = load_event(provider, event)
    now = utcnow()
    target = capture_store().lookup(bin_id, now)
    if target is None:
        abort(404, description="no such bin, or it has expired")
    url = ingest_url(bin_id)
    raw = sample_request(
        current_catalog(),
        found,
        now=now,
        host=request.host,
        scheme=target.signature_scheme,
        secret=target.signature_secret,
        header=target.signature_header,
        url=url,
    )
    try:
        request_id, _ = record(target, raw, now)
    except BinGone:
        abort(404, description="no such bin, or it has expired")
    captured = listing.get_request(db.session, bin_id, request_id)
    return jsonify(request_json(captured, with_body=True)), 201


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """OpenAPI 3.1 of this API, with a ``webhooks`` entry per catalog event."""
    return jsonify(build_openapi(current_catalog(), server_url=public_base()))


# -- replay, forwarding, exports ----------------------------------------------------------------


@bp.errorhandler(ReplayError)
def handle_replay_error(error: ReplayError) -> Response:
    return json_error(400, error.code, error.message)


def replay_options(body: dict[str, Any], found: Bin) -> dict[str, Any]:
    """Check a replay request body and turn it into ``replay_request`` arguments.

    :raise ApiError: a field of the wrong type, or re-signing asked of a bin without a secret.
    """
    url = body.get("url")
    if not isinstance(url, str) or not url:
        raise ApiError(400, "invalid_request", "replay needs a target url")
    options: dict[str, Any] = {"url": url, "append_path": body.get("append_path", True)}
    if not isinstance(options["append_path"], bool):
        raise ApiError(400, "invalid_request", "append_path is true or false")
    if body.get("method") is not None:
        if not isinstance(body["method"], str):
            raise ApiError(400, "invalid_request", "method is a string")
        options["method"] = body["method"]
    if body.get("headers") is not None:
        headers = body["headers"]
        if isinstance(headers, dict):
            headers = list(headers.items())
        if not isinstance(headers, list) or not all(
            isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(x, str) for x in p)
            for p in headers
        ):
            raise ApiError(400, "invalid_request", "headers is a list of [name, value] pairs")
        options["headers"] = [(name, value) for name, value in headers]
    if body.get("body") is not None and body.get("body_base64") is not None:
        raise ApiError(400, "invalid_request", "give body or body_base64, not both")
    if body.get("body") is not None:
        if not isinstance(body["body"], str):
            raise ApiError(400, "invalid_request", "body is text (use body_base64 for bytes)")
        options["body"] = body["body"].encode("utf-8")
    if body.get("body_base64") is not None:
        try:
            options["body"] = base64.b64decode(body["body_base64"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise ApiError(400, "invalid_request", "body_base64 is not base64") from None
    resign = body.get("resign", False)
    if resign:
        if not (found.signature_scheme and found.signature_secret):
            raise ApiError(400, "no_secret", "re-signing needs the bin's signing scheme and secret")
        options["resign"] = {
            "scheme": found.signature_scheme,
            "secret": found.signature_secret,
            "header": found.signature_header,
        }
    return options


@bp.post("/bins/<bin_id>/requests/<int:request_id>/replay")
def replay_create(bin_id: str, request_id: int) -> tuple[Response, int]:
    """Re-send a captured request; a failed target is still a 201 record with ``error``."""
    found = load_bin(bin_id)
    captured = load_request(bin_id, request_id)
    options = replay_options(json_body(), found)
    record = replay_request(
        db.session,
        captured,
        now=utcnow(),
        timeout=float(current_app.config["RECEIVER_REPLAY_TIMEOUT"]),
        **options,
    )
    db.session.commit()
    return jsonify(replay_json(record)), 201


@bp.get("/bins/<bin_id>/requests/<int:request_id>/replays")
def replay_list(bin_id: str, request_id: int) -> Response:
    """Replays and forwards of a request, newest first."""
    load_request(bin_id, request_id)
    return jsonify({"replays": [replay_json(r) for r in history(db.session, request_id)]})


@bp.get("/bins/<bin_id>/export.har")
def bin_export_har(bin_id: str) -> Response:
    """HAR 1.2 of the bin's requests (oldest first); each entry carries its curl command."""
    found = load_bin(bin_id)
    keep = current_app.config["RECEIVER_MAX_REQUESTS_PER_BIN"]
    page = listing.list_requests(db.session, bin_id, limit=keep, with_body=True)
    return har_response(page.requests, found.id, f"{found.id}.har")


@bp.get("/bins/<bin_id>/requests/<int:request_id>/export.har")
def request_export_har(bin_id: str, request_id: int) -> Response:
    """HAR 1.2 of one request."""
    captured = load_request(bin_id, request_id)
    return har_response([captured], bin_id, f"{bin_id}-{request_id}.har")


def har_response(requests: Any, bin_id: str, filename: str) -> Response:
    response = Response(har_json(requests, ingest_url(bin_id)), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/bins/<bin_id>/requests/<int:request_id>/recording")
def request_recording(bin_id: str, request_id: int) -> Response:
    """The request as a recording file for ``flask send --fixture`` and the pytest plugin."""
    captured = load_request(bin_id, request_id)
    name = request.args.get("name") or f"{bin_id}-{request_id}".lstrip("-_")
    try:
        document = recordings.to_document(captured, name, {"bin": bin_id, "request": request_id})
    except recordings.RecordingError as error:
        raise ApiError(400, "invalid_name", str(error)) from None
    response = jsonify(document)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.json"'
    return response


@bp.post("/bins/<bin_id>/forward")
def bin_forward_catch_up(bin_id: str) -> tuple[Response, int]:
    """Queue the bin's requests since a time (all when omitted) for its forward URL, in order."""
    found = load_bin(bin_id)
    body = json_body(required=False)
    url = body.get("url") or found.forward_url
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ApiError(400, "invalid_request", "catch-up needs an http(s) url or a forward_url")
    since = body.get("since")
    since_at = None
    if since is not None:
        try:
            since_at = datetime.fromisoformat(str(since).replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(400, "invalid_request", "since is an ISO 8601 time") from None
        if since_at.tzinfo is None:
            since_at = since_at.replace(tzinfo=UTC)
    queued = catch_up(db.session, bin_id, url, since=since_at, now=utcnow())
    db.session.commit()
    return jsonify({"queued": queued, "url": url}), 202


@bp.get("/bins/<bin_id>/forwards")
def forward_list(bin_id: str) -> Response:
    """The bin's forwarding queue, newest first."""
    load_bin(bin_id)
    jobs = db.session.execute(
        db.select(ForwardJob)
        .where(ForwardJob.bin_id == bin_id)
        .order_by(ForwardJob.id.desc())
        .limit(200)
    ).scalars()
    return jsonify(
        {
            "forwards": [
                {
                    "id": job.id,
                    "request_id": job.request_id,
                    "url": job.url,
                    "status": job.status,
                    "attempts": job.attempts,
                    "next_attempt_at": iso(job.next_attempt_at),
                    "last_error": job.last_error,
                    "finished_at": iso(job.finished_at),
                }
                for job in jobs
            ]
        }
    )
