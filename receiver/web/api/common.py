"""What every API module shares: the blueprint, its error shapes and body parsing."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import request

from receiver.bins import lifecycle
from receiver.capture import listing
from receiver.storage.db import db
from receiver.web.access import load_bin
from receiver.web.errors import json_error

bp = Blueprint("api", __name__, url_prefix="/api")
# the filters of the two lists, each read once (the feed's event may repeat: one per event)
FILTERS_READ_ONCE = {
    "api.request_list": frozenset(
        {"method", "event", "validation", "q", "before", "after", "limit"}
    ),
    "api.feed_read": frozenset({"after", "limit", "wait", "path_prefix", "listener"}),
    "api.request_compare": frozenset({"a", "b"}),
}


@bp.before_request
def refuse_repeated_filters() -> Response | None:
    """400 for a filter given twice (it would otherwise silently use the first value)."""
    once = FILTERS_READ_ONCE.get(request.endpoint or "")
    if once:
        for name, values in request.args.lists():
            if len(values) > 1 and name in once:
                return json_error(400, "invalid_filter", f"{name} may be given only once")
    return None


class ApiError(Exception):
    """An error the API reports as JSON with its own code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@bp.errorhandler(ApiError)
def handle_api_error(error: ApiError) -> Response:
    return json_error(error.status, error.code, error.message)


@bp.errorhandler(lifecycle.BinError)
def handle_bin_error(error: lifecycle.BinError) -> Response:
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
    if _holds_nul(value):
        # PostgreSQL's text cannot hold it, so it is refused on every database alike
        raise ApiError(
            400, "invalid_json", "text values cannot contain a NUL character (send bytes as base64)"
        )
    return value


def _holds_nul(value: Any) -> bool:
    """Whether a NUL character is in any key or string of a parsed JSON value."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def load_request(bin_id: str, request_id: int) -> Any:
    """A captured request of a visible bin.

    :raise 404: unknown bin, or a request that is not in it.
    """
    load_bin(bin_id)
    found = listing.get_request(db.session, bin_id, request_id)
    if found is None:
        abort(404, description="no such request in this bin")
    return found
