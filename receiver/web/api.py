"""The JSON API under /api: stable shapes, errors always ``{"error": {"code", "message"}}``."""

from __future__ import annotations

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
from ..db import db
from ..models import utcnow
from ..tokens import bin_token
from .access import load_bin
from .errors import json_error
from .shapes import bin_json
from .shapes import request_json

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
    return jsonify(bin_json(found))


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
