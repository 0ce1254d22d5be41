"""The change feed and the listeners that follow it (``receiver listen``).

- ``GET /api/bins/<id>/feed?after=<seq>&limit&wait&event&path_prefix&listener``: the captures
  numbered above ``after``, oldest first, bodies included; with ``wait`` the answer is held
  until a capture arrives or the seconds pass (a long poll). The cursor never passes over a
  committed capture (see ``capture.feed``).
- ``/api/bins/<id>/listeners[/<name>]``: named positions kept on the server;
  ``…/<name>/deliveries``, where a listener reports each local answer; ``…/<name>/leave``,
  where a listener that stops cleanly says so (it shows as disconnected at once, where a killed
  one times out). Opening a listener answers the bin's signature settings, with the secret to
  a caller presenting the bin's own token (``receiver listen --resign`` without ``--secret``).

Access is the API's own (``web.access``): a private bin needs its token
(``Authorization: Bearer``), and a missing bin and a private one without its token answer the
same 404. In a team deployment the bin's token also passes the team gate for the bin's own
routes (``web.team``), so one token serves a listener: the bin's for a private bin, the
deployment's access token for a public one.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from flask import Response
from flask import abort
from flask import jsonify
from flask import request
from sqlalchemy.exc import IntegrityError

from receiver.capture import feed
from receiver.capture import listeners
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import Listener
from receiver.storage.models import utcnow
from receiver.storage.writelock import WriteLock
from receiver.web.access import holds_bin_token
from receiver.web.access import load_bin
from receiver.web.api.common import ApiError
from receiver.web.api.common import bp
from receiver.web.api.common import json_body
from receiver.web.errors import json_error
from receiver.web.services import services
from receiver.web.shapes import iso
from receiver.web.shapes import request_json

# how long a client should wait before polling again when its poll could not be held
RETRY_AFTER_SECONDS = 1
Page = dict[str, Any]


@bp.errorhandler(feed.FeedError)
def handle_feed_error(error: feed.FeedError) -> Response:
    return json_error(400, "invalid_request", str(error))


def _write_lock() -> WriteLock:
    return services().write_lock


# -- the feed -----------------------------------------------------------------------------------


@bp.get("/bins/<bin_id>/feed")
def feed_read(bin_id: str) -> Response:
    """Captures numbered above ``after``, oldest first; ``wait`` holds the answer (long poll)."""
    load_bin(bin_id)
    args = request.args
    after = feed.parse_number(args.get("after"), "after", default=0, low=0, high=feed.MAX_SEQ)
    limit = feed.parse_number(
        args.get("limit"), "limit", default=feed.DEFAULT_LIMIT, low=1, high=feed.MAX_LIMIT
    )
    wait = feed.parse_number(args.get("wait"), "wait", default=0, low=0, high=listeners.MAX_WAIT)
    filters = feed.parse_filter(args.getlist("event"), args.get("path_prefix"))
    name = args.get("listener")
    if name is not None:
        feed.check_listener_name(name)
    deadline = time.monotonic() + wait
    page = _read(bin_id, after, limit, filters)
    if name is not None:
        # polling from ``after`` says everything up to it was dealt with
        with _write_lock().held():
            feed.touch_listener(
                db.session, bin_id, name, position=min(after, page["latest"]), now=utcnow()
            )
            db.session.commit()
    held: bool | None = False
    fruitless = 0
    read_at = time.monotonic()
    while (
        not page["requests"] and not page["removed"] and (left := deadline - time.monotonic()) > 0
    ):
        # hold no connection and no snapshot while waiting
        db.session.remove()
        held = services().feed.wait(
            bin_id, page["latest"], left, not_before=read_at + idle_gap(fruitless)
        )
        if not held:
            break
        page = _read(bin_id, page["next"], limit, filters)
        read_at = time.monotonic()
        fruitless += 1
    response = jsonify({**page, "retry_after": RETRY_AFTER_SECONDS if held is None else None})
    response.headers["Cache-Control"] = "no-store"
    return response


def idle_gap(fruitless: int) -> float:
    """Seconds a long poll lets pass after a read before it reads again, when its last
    ``fruitless`` reads were woken by captures its filter left out (an unfiltered poll is never
    woken for nothing): none at first, then doubling from ``FIRST_IDLE_GAP`` to ``MAX_IDLE_GAP``.
    """
    if not fruitless:
        return 0.0
    return min(feed.FIRST_IDLE_GAP * 2 ** (fruitless - 1), feed.MAX_IDLE_GAP)


def _read(bin_id: str, after: int, limit: int, filters: feed.FeedFilter) -> Page:
    """The feed's answer after ``after``, shared with the polls asking the same at once.

    :raise 404: the bin was deleted (while the poll waited).
    """

    def compute() -> Page | None:
        try:
            page = feed.read_feed(db.session, bin_id, after=after, limit=limit, filters=filters)
        except feed.FeedGone:
            return None
        return {
            "requests": [request_json(item, with_body=True) for item in page.requests],
            "next": page.next,
            "latest": page.latest,
            "removed": page.removed,
        }

    page = services().feed_reads.read((bin_id, after, limit, filters), compute)
    if page is None:
        abort(404, description="no such bin, or it has expired")
    return page


# -- listeners ----------------------------------------------------------------------------------


def listener_json(listener: Listener, latest: int) -> dict[str, Any]:
    """A listener as the API shows it."""
    return {
        "name": listener.name,
        "position": listener.position,
        "behind": max(0, latest - listener.position),
        "connected": listeners.is_connected(listener, utcnow()),
        "created_at": iso(listener.created_at),
        "last_seen_at": iso(listener.last_seen_at),
        "last_request_id": listener.last_request_id,
        "last_status": listener.last_status,
        "last_error": listener.last_error,
        "last_elapsed_ms": listener.last_elapsed_ms,
    }


def load_listener(bin_id: str, name: str) -> tuple[Bin, Listener]:
    """A visible bin and its listener of that name.

    :raise 404: no such bin (or not visible), or no such listener.
    """
    found = load_bin(bin_id)
    listener = feed.get_listener(db.session, bin_id, name) if _valid_name(name) else None
    if listener is None:
        abort(404, description="no such listener on this bin")
    return found, listener


def _valid_name(name: str) -> bool:
    return listeners.LISTENER_NAME.fullmatch(name) is not None


@bp.get("/bins/<bin_id>/listeners")
def listener_list(bin_id: str) -> Response:
    """The bin's listeners, the most recently seen first."""
    found = load_bin(bin_id)
    listeners = feed.list_listeners(db.session, bin_id)
    return jsonify(
        {
            "listeners": [listener_json(item, found.last_seq) for item in listeners],
            "latest": found.last_seq,
        }
    )


@bp.put("/bins/<bin_id>/listeners/<name>")
def listener_open(bin_id: str, name: str) -> tuple[Response, int]:
    """Create a listener, or find it to resume: 201 when created, 200 when it existed.

    Body (optional): ``{"from": "now" | "start"}`` or ``{"position": <seq>}``, used only when
    the listener is new; an existing listener keeps its position.
    """
    found = load_bin(bin_id)
    feed.check_listener_name(name)
    body = json_body(required=False)
    unknown = set(body) - {"from", "position"}
    if unknown:
        raise ApiError(400, "invalid_request", f"unknown field {sorted(unknown)[0]!r}")
    start = body.get("from", "now")
    if start not in ("now", "start"):
        raise ApiError(400, "invalid_request", "from is 'now' or 'start'")
    position = body.get("position")
    if isinstance(position, float) and position.is_integer():
        position = int(position)  # JSON does not tell 5 from 5.0
    if "position" in body and (type(position) is not int or not 0 <= position <= feed.MAX_SEQ):
        raise ApiError(400, "invalid_request", "position is a capture number (0 or more)")
    if position is not None and "from" in body:
        raise ApiError(400, "invalid_request", "give from or position, not both")
    signature = {"scheme": found.signature_scheme, "header": found.signature_header}
    if found.signature_secret and holds_bin_token(found):
        # the bin's owner may read it anyway; a re-signing listener needs it (listen --resign)
        signature["secret"] = found.signature_secret
    with _write_lock().held():
        listener, created = feed.open_listener(
            db.session,
            bin_id,
            name,
            now=utcnow(),
            from_start=start == "start",
            position=position,
        )
        db.session.commit()
    latest = feed.latest_number(db.session, bin_id) or 0
    shown = {**listener_json(listener, latest), "signature": signature}
    return jsonify(shown), 201 if created else 200


@bp.get("/bins/<bin_id>/listeners/<name>")
def listener_show(bin_id: str, name: str) -> Response:
    """One listener: its position, when it was last seen, its last answer."""
    found, listener = load_listener(bin_id, name)
    return jsonify(listener_json(listener, found.last_seq))


@bp.delete("/bins/<bin_id>/listeners/<name>")
def listener_delete(bin_id: str, name: str) -> tuple[str, int]:
    """Forget a listener and its position (what it delivered stays in the history)."""
    load_listener(bin_id, name)
    with _write_lock().held():
        feed.delete_listener(db.session, bin_id, name)
        db.session.commit()
    return "", 204


@bp.post("/bins/<bin_id>/listeners/<name>/leave")
def listener_leave(bin_id: str, name: str) -> Response:
    """A listener stopping cleanly (``receiver listen``, Ctrl-C): disconnected from now on, until
    it polls again; its position stays."""
    found, listener = load_listener(bin_id, name)
    with _write_lock().held():
        listeners.leave(listener, utcnow())
        db.session.commit()
    return jsonify(listener_json(listener, found.last_seq))


@bp.post("/bins/<bin_id>/listeners/<name>/deliveries")
def listener_report(bin_id: str, name: str) -> Response:
    """A listener's report of one local delivery (or a failed attempt)."""
    found, listener = load_listener(bin_id, name)
    report = parse_report(json_body())
    latest = found.last_seq
    with _write_lock().held():
        attempt = feed.record_delivery(db.session, listener, report, latest=latest, now=utcnow())
        try:
            db.session.flush()
        except IntegrityError:  # the capture was deleted meanwhile: the listener's row says enough
            db.session.rollback()
            attempt = feed.record_delivery(
                db.session, listener, report, latest=latest, now=utcnow()
            )
        # read before the commit: once it is made, the bin may go at any moment
        shown = {
            "listener": listener_json(listener, latest),
            "replay_id": attempt.id if attempt is not None else None,
        }
        db.session.commit()
    return jsonify(shown)


REPORT_FIELDS = {
    "request_id",
    "seq",
    "delivered",
    "url",
    "method",
    "request_headers",
    "status_code",
    "response_headers",
    "response_body_base64",
    "elapsed_ms",
    "error",
}


def parse_report(body: dict[str, Any]) -> feed.DeliveryReport:
    """Check a delivery report; every size is bounded.

    :raise ApiError: a missing or unknown field, a wrong type, a value out of bounds.
    """
    unknown = set(body) - REPORT_FIELDS
    if unknown:
        raise ApiError(400, "invalid_report", f"unknown field {sorted(unknown)[0]!r}")
    for required in ("request_id", "seq", "delivered", "url", "method"):
        if required not in body:
            raise ApiError(400, "invalid_report", f"{required} is required")
    request_id = _integer(body, "request_id", 1, feed.MAX_SEQ)
    seq = _integer(body, "seq", 1, feed.MAX_SEQ)
    delivered = body["delivered"]
    if not isinstance(delivered, bool):
        raise ApiError(400, "invalid_report", "delivered is true or false")
    url = _text(body, "url", feed.REPORT_URL_MAX)
    method = _text(body, "method", 16)
    status = body.get("status_code")
    if status is not None:
        status = _integer(body, "status_code", 100, 599)
    error = body.get("error")
    if error is not None:
        error = _text(body, "error", feed.REPORT_ERROR_MAX)
    if status is None and error is None:
        raise ApiError(400, "invalid_report", "a report has a status_code, an error or both")
    elapsed = body.get("elapsed_ms", 0)
    if isinstance(elapsed, bool) or not isinstance(elapsed, int | float):
        raise ApiError(400, "invalid_report", "elapsed_ms is a number")
    if not 0 <= elapsed <= 86_400_000:
        raise ApiError(400, "invalid_report", "elapsed_ms is from 0 to 86400000")
    encoded = body.get("response_body_base64", "")
    if not isinstance(encoded, str) or len(encoded) > (feed.REPORT_BODY_MAX + 2) // 3 * 4:
        raise ApiError(
            400, "invalid_report", f"response_body_base64 is at most {feed.REPORT_BODY_MAX} bytes"
        )
    try:
        response_body = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid_report", "response_body_base64 is not base64") from None
    return feed.DeliveryReport(
        request_id=request_id,
        seq=seq,
        delivered=delivered,
        url=url,
        method=method,
        request_headers=_pairs(body, "request_headers"),
        status_code=status,
        response_headers=_pairs(body, "response_headers"),
        response_body=response_body,
        elapsed_ms=float(elapsed),
        error=error,
    )


def _integer(body: dict[str, Any], name: str, low: int, high: int) -> int:
    value = body.get(name)
    if type(value) is not int or not low <= value <= high:
        raise ApiError(400, "invalid_report", f"{name} is an integer from {low} to {high}")
    return value


def _text(body: dict[str, Any], name: str, longest: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > longest:
        raise ApiError(400, "invalid_report", f"{name} is text of 1 to {longest} characters")
    return value


def _pairs(body: dict[str, Any], name: str) -> list[tuple[str, str]]:
    value = body.get(name, [])
    if (
        not isinstance(value, list)
        or len(value) > feed.REPORT_HEADERS_MAX
        or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
            for pair in value
        )
    ):
        raise ApiError(
            400,
            "invalid_report",
            f"{name} is a list of at most {feed.REPORT_HEADERS_MAX} [name, value] pairs",
        )
    if sum(len(n) + len(v) for n, v in value) > feed.REPORT_HEADER_BYTES:
        raise ApiError(
            400, "invalid_report", f"{name} hold at most {feed.REPORT_HEADER_BYTES} characters"
        )
    return [(n, v) for n, v in value]
