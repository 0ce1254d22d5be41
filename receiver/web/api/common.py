"""What every API module shares: the blueprint, its error shapes and body parsing."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import request

from receiver.bins import lifecycle
from receiver.capture import listing
from receiver.exports.request_bodies import BodyError
from receiver.exports.request_bodies import body_schemas
from receiver.storage.db import db
from receiver.web.access import load_bin
from receiver.web.errors import json_error

bp = Blueprint("api", __name__, url_prefix="/api")
# a Flask rule's variable (``<int:request_id>``), written ``{request_id}`` in the API document
RULE_VARIABLE = re.compile(r"<(?:[a-z_]+(?:\([^)]*\))?:)?(\w+)>")
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


def json_body(code: str = "invalid_request", *, required: bool = True) -> dict[str, Any]:
    """The request's JSON object, checked against the schema the API document gives this
    operation's body (see ``exports.request_bodies``).

    :raise ApiError: as `json_object`, and 400 ``code`` naming the field when the document
        refuses it.
    """
    value = json_object(required=required)
    check_request_body(value, code)
    return value


def json_object(*, required: bool = True) -> dict[str, Any]:
    """The request's JSON object, unchecked (for bodies another document describes: the mock
    APIs check theirs against their own).

    :raise ApiError: 400 ``invalid_json`` when the body is not a JSON object (an empty body
        counts as ``{}`` unless ``required``), 415 when it is sent as something other than JSON.
    """
    # only no bytes at all is no body: white space alone is not JSON (RFC 8259 has a value)
    if not request.get_data(cache=True):
        if required:
            raise ApiError(400, "invalid_json", "the request body must be a JSON object")
        value: Any = {}
    elif request.mimetype and not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    else:
        value = request.get_json(silent=True)
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return value


def check_request_body(body: Any, code: str) -> None:
    """Check ``body`` against the schema of this request's operation in the API document.

    :raise ApiError: 400 ``code`` with the document's words for what is wrong.
    """
    rule = request.url_rule.rule if request.url_rule is not None else ""
    schemas = body_schemas(current_app.config["RECEIVER_MAX_RESPONSE_DELAY_MS"])
    component = schemas.operation_body(request.method, RULE_VARIABLE.sub(r"{\1}", rule))
    if component is None:
        raise LookupError(f"the API document gives {request.method} {rule} no JSON body")
    try:
        schemas.check(component, body)
    except BodyError as error:
        raise ApiError(400, code, error.message) from None


def load_request(bin_id: str, request_id: int) -> Any:
    """A captured request of a visible bin.

    :raise 404: unknown bin, or a request that is not in it.
    """
    load_bin(bin_id)
    found = listing.get_request(db.session, bin_id, request_id)
    if found is None:
        abort(404, description="no such request in this bin")
    return found
