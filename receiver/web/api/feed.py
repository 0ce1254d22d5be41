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
import math
import time
from typing import Any

from flask import Response
from flask import abort
from flask import jsonify
from flask import request
from sqlalchemy.exc import IntegrityError

from receiver.capture import feed
from receiver.capture import listeners
from receiver.httpspec import url_problem
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import Listener
from receiver.storage.models import utcnow
from receiver.storage.writelock import WriteLock
from receiver.web import serving
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
# fruitless reads after which a poll's pause between reads is the longest (see idle_gap)
PACE_KEPT = 1 + math.ceil(math.log2(feed.MAX_IDLE_GAP / feed.FIRST_IDLE_GAP))
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
    found = load_bin(bin_id)
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
    runs = feed.runs_key(bin_id, found.created_at, filters)
    # the filter left out what came before the cursor too (this listener's last poll was woken
    # for nothing): this poll goes on at that one's pace, not from the shortest pause again
    kept = bool(runs) and services().feed_unmatched.reaches(runs, after)
    page = _read(bin_id, after, limit, filters)
    if name is not None:
        # polling from ``after`` says everything up to it was dealt with
        with _write_lock().held():
            feed.touch_listener(
                db.session, bin_id, name, position=min(after, page["latest"]), now=utcnow()
            )
            db.session.commit()
    held: bool | None = False
    client_left = serving.client_left(request.environ)
    fruitless = PACE_KEPT if kept else 0
    read_at = time.monotonic()
    while (
        not page["requests"] and not page["removed"] and (left := deadline - time.monotonic()) > 0
    ):
        # hold no connection and no snapshot while waiting
        db.session.remove()
        held = services().feed.wait(
            bin_id,
            page["latest"],
            left,
            not_before=read_at + idle_gap(fruitless),
            client_left=client_left,
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
            page = feed.read_feed(
                db.session,
                bin_id,
                after=after,
                limit=limit,
                filters=filters,
                unmatched=services().feed_unmatched,
            )
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
    position = body.get("position")
    if position is not None:
        position = int(position)  # JSON does not tell 5 from 5.0
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
            from_start=body.get("from") == "start",
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
    report = parse_report(json_body("invalid_report"))
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


def parse_report(body: dict[str, Any]) -> feed.DeliveryReport:
    """Turn a delivery report, checked against the API document's ``DeliveryReport`` schema,
    into the feed's record of it.

    :raise ApiError: 400 ``invalid_report`` for what a schema cannot say: a URL that cannot be
        used, header pairs over ``REPORT_HEADER_BYTES`` characters in all.
    """
    problem = url_problem(body["url"])
    if problem is not None:
        raise ApiError(400, "invalid_report", f"url {problem}")
    status = body.get("status_code")
    return feed.DeliveryReport(
        request_id=int(body["request_id"]),
        seq=int(body["seq"]),
        delivered=body["delivered"],
        url=body["url"],
        method=body["method"],
        request_headers=_pairs(body, "request_headers"),
        status_code=None if status is None else int(status),
        response_headers=_pairs(body, "response_headers"),
        response_body=base64.b64decode(body.get("response_body_base64", "")),
        elapsed_ms=float(body.get("elapsed_ms", 0)),
        error=body.get("error"),
    )


def _pairs(body: dict[str, Any], name: str) -> list[tuple[str, str]]:
    """Header pairs of a report, bounded in characters in all.

    :raise ApiError: more than ``REPORT_HEADER_BYTES`` characters.
    """
    pairs = [(pair_name, value) for pair_name, value in body.get(name, [])]
    if sum(len(n) + len(v) for n, v in pairs) > feed.REPORT_HEADER_BYTES:
        raise ApiError(
            400, "invalid_report", f"{name} hold at most {feed.REPORT_HEADER_BYTES} characters"
        )
    return pairs
