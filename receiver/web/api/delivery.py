"""Re-sending: replays and their history, forwarding catch-up and queue."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC
from datetime import datetime
from typing import Any

from flask import Response
from flask import current_app
from flask import jsonify

from receiver.delivery.attempts import history
from receiver.delivery.attempts import replay_request
from receiver.delivery.forwarding import catch_up
from receiver.delivery.http import OutgoingError
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import ForwardJob
from receiver.storage.models import utcnow
from receiver.web.access import load_bin
from receiver.web.access import require_owner_to_resign
from receiver.web.api.common import ApiError
from receiver.web.api.common import bp
from receiver.web.api.common import json_body
from receiver.web.api.common import load_request
from receiver.web.errors import json_error
from receiver.web.services import services
from receiver.web.shapes import iso
from receiver.web.shapes import replay_json


@bp.errorhandler(OutgoingError)
def handle_replay_error(error: OutgoingError) -> Response:
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
    if not isinstance(resign, bool):
        raise ApiError(400, "invalid_request", "resign is true or false")
    if resign:
        require_owner_to_resign(found)
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
        policy=services().outgoing,
        **options,
    )
    db.session.commit()
    return jsonify(replay_json(record)), 201


@bp.get("/bins/<bin_id>/requests/<int:request_id>/replays")
def replay_list(bin_id: str, request_id: int) -> Response:
    """Replays and forwards of a request, newest first."""
    load_request(bin_id, request_id)
    return jsonify({"replays": [replay_json(r) for r in history(db.session, request_id)]})


@bp.post("/bins/<bin_id>/forward")
def bin_forward_catch_up(bin_id: str) -> tuple[Response, int]:
    """Queue the bin's requests since a time (all when omitted) for its forward URL, in order."""
    found = load_bin(bin_id)
    body = json_body(required=False)
    url = body.get("url")
    if url is not None and not isinstance(url, str):
        raise ApiError(400, "invalid_request", "url is an http(s) URL, or null for the forward_url")
    url = url or found.forward_url
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
