"""Captured requests: list, read, raw bytes, delete; HAR and recordings."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import abort
from flask import current_app
from flask import jsonify
from flask import request

from receiver.bins import retention
from receiver.bins.responses import kept_answer
from receiver.capture import listing
from receiver.capture.bodies import HEAD_BYTES
from receiver.delivery import recordings
from receiver.exports.har import RecordedResponse
from receiver.exports.har import har_json
from receiver.storage.db import db
from receiver.web.access import load_bin
from receiver.web.api.common import ApiError
from receiver.web.api.common import bp
from receiver.web.api.common import load_request
from receiver.web.shapes import BODY_MODES
from receiver.web.shapes import request_json
from receiver.web.urls import ingest_url


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
    deleted = retention.clear_requests(db.session, bin_id)
    db.session.commit()
    return jsonify({"deleted": deleted})


@bp.get("/bins/<bin_id>/requests/<int:request_id>")
def request_show(bin_id: str, request_id: int) -> Response:
    """One request, with its body as text (when UTF-8) and base64: all of it (``body=full``,
    the default), its first 256 KiB (``body=head``) or none of it (``body=none``)."""
    mode = request.args.get("body", "full")
    if mode not in BODY_MODES:
        raise ApiError(400, "invalid_parameter", f"body is one of {', '.join(BODY_MODES)}")
    load_bin(bin_id)
    loaded = listing.get_request_head(
        db.session, bin_id, request_id, HEAD_BYTES if mode != "full" else None
    )
    if loaded is None:
        abort(404, description="no such request in this bin")
    captured, head = loaded
    return jsonify(request_json(captured, with_body=True, body=mode, head=head))


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
    if not retention.delete_request(db.session, bin_id, request_id):
        abort(404, description="no such request in this bin")
    db.session.commit()
    return "", 204


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


def recorded_answers(requests: Any) -> dict[int, RecordedResponse]:
    """What the bin answered each request, as kept with the capture (none for captures older
    than the record of answers)."""
    answers = {}
    for captured in requests:
        kept = kept_answer(captured.response, captured.id)
        if kept is not None:
            answers[captured.id] = RecordedResponse(
                status=kept["status"],
                headers=kept["headers"],
                body=(kept.get("body") or "").encode("utf-8"),
                size=kept.get("body_size"),
                delay_ms=kept.get("delay_ms") or 0,
            )
    return answers


def har_response(requests: Any, bin_id: str, filename: str) -> Response:
    document = har_json(requests, ingest_url(bin_id), responses=recorded_answers(requests))
    response = Response(document, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/bins/<bin_id>/requests/<int:request_id>/recording")
def request_recording(bin_id: str, request_id: int) -> Response:
    """The request as a recording file for ``receiver send --fixture`` and the pytest plugin."""
    captured = load_request(bin_id, request_id)
    name = request.args.get("name") or f"{bin_id}-{request_id}".lstrip("-_")
    try:
        document = recordings.to_document(captured, name, {"bin": bin_id, "request": request_id})
    except recordings.RecordingError as error:
        raise ApiError(400, "invalid_name", str(error)) from None
    response = jsonify(document)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.json"'
    return response
