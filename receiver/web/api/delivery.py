"""Re-sending: replays and their history, forwarding catch-up and queue."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from flask import Response
from flask import abort
from flask import current_app
from flask import jsonify

from receiver.delivery.attempts import CaptureGone
from receiver.delivery.attempts import history
from receiver.delivery.attempts import replay_request
from receiver.delivery.forwarding import catch_up
from receiver.delivery.http import OutgoingError
from receiver.httpspec import url_problem
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
    """Turn a replay body, checked against the API document's ``ReplayCreate`` schema, into
    ``replay_request`` arguments.

    :raise ApiError: 400 ``no_secret`` when re-signing is asked of a bin without a scheme and
        a secret (the target URL is checked when the request is prepared).
    """
    options: dict[str, Any] = {"url": body["url"], "append_path": body.get("append_path", True)}
    if body.get("method") is not None:
        options["method"] = body["method"]
    headers = body.get("headers")
    if headers is not None:
        pairs = headers.items() if isinstance(headers, dict) else headers
        options["headers"] = [(name, value) for name, value in pairs]
    if body.get("body") is not None:
        options["body"] = body["body"].encode("utf-8")
    elif body.get("body_base64") is not None:
        options["body"] = base64.b64decode(body["body_base64"])
    if body.get("resign", False):
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
    try:
        record = replay_request(
            db.session,
            captured,
            now=utcnow(),
            timeout=float(current_app.config["RECEIVER_REPLAY_TIMEOUT"]),
            policy=services().outgoing,
            **options,
        )
    except CaptureGone as gone:
        abort(404, description=str(gone))
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
    url = body.get("url") or found.forward_url
    if not url:
        raise ApiError(400, "invalid_request", "catch-up needs a url, or the bin's forward_url")
    problem = url_problem(url)
    if problem is not None:
        raise ApiError(400, "invalid_request", f"url {problem}")
    since = body.get("since")
    since_at = None if since is None else _moment(since)
    queued = catch_up(db.session, bin_id, url, since=since_at, now=utcnow())
    db.session.commit()
    return jsonify({"queued": queued, "url": url}), 202


def _moment(text: str) -> datetime:
    """An RFC 3339 date-time (the document's ``format``, already checked) as a datetime.

    :raise ApiError: one Python cannot represent (a leap second).
    """
    try:
        return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            400, "invalid_request", f"since {text[:40]!r} is not a usable time"
        ) from None


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
