"""The inspector's side of ``receiver listen``: the bin's listeners and a command line to copy.

``partials/_listeners.html`` is one include in the bin page: without its context it loads
itself from `listener_panel`, whose list then refreshes every ``RECEIVER_POLL_SECONDS`` (the
command line outside the refreshed part, so a selection in it survives).
"""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import redirect
from flask import url_for
from flask.typing import ResponseReturnValue

from receiver.bins import lifecycle
from receiver.bins.tokens import token_role
from receiver.capture import feed
from receiver.capture.listeners import is_connected
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import utcnow
from receiver.web.access import can_access
from receiver.web.access import presented_tokens
from receiver.web.htmx import fragment
from receiver.web.htmx import is_fragment_request
from receiver.web.htmx import varies
from receiver.web.urls import inspect_url

bp = Blueprint("relay_pages", __name__)
STOP_POLLING = 286  # htmx stops a poller that gets this status
EXAMPLE_TARGET = "http://localhost:8000/webhooks"


@bp.get("/bins/<bin_id>/listeners")
def listener_panel(bin_id: str) -> ResponseReturnValue:
    """The listeners panel (partial); the bin page when loaded directly; 286 for a gone bin."""
    found = lifecycle.get_active_bin(db.session, bin_id, utcnow())
    if found is None:
        return "", STOP_POLLING
    if not can_access(found):
        abort(404, description="no such bin, or it has expired")
    if not is_fragment_request():
        return varies(redirect(url_for("inspector.bin_show", bin_id=found.id)))
    response: Response = fragment("partials/_listeners.html", **listeners_context(found))
    response.headers["Cache-Control"] = "no-store"
    return response


def listeners_context(found: Bin) -> dict[str, Any]:
    """What the panel shows: each listener with its state, and the command line."""
    now = utcnow()
    latest = found.last_seq or 0
    listeners = [
        {
            "name": item.name,
            "position": item.position,
            "behind": max(0, latest - item.position),
            "connected": is_connected(item, now),
            "last_seen": item.last_seen_at,
            "last_seen_ago": ago(item.last_seen_at, now),
            "last_request_id": item.last_request_id,
            "last_status": item.last_status,
            "last_error": item.last_error,
            "last_elapsed_ms": item.last_elapsed_ms,
        }
        for item in feed.list_listeners(db.session, found.id)
    ]
    return {
        "bin": found,
        "listeners": listeners,
        "latest": latest,
        "listen_command": listen_command(found),
    }


def listen_command(found: Bin) -> str:
    """``receiver listen`` for this bin, ready to run.

    A private bin's token is included (the one this browser presented); it also passes a team
    deployment's gate for the bin's routes. A public bin of a team deployment needs the access
    token, which the page never shows: the line names it as a shell variable.
    """
    words = ["receiver", "listen", inspect_url(found.id), "--to", EXAMPLE_TARGET]
    command = " ".join(shlex.quote(word) for word in words)
    if found.private:
        secret = current_app.config["SECRET_KEY"]
        valid = [
            token
            for token in presented_tokens(found.id)
            if token_role(secret, found.id, token, found.token_version)
        ]
        command += " --token " + shlex.quote(valid[0] if valid else "BIN_TOKEN")
    elif current_app.config.get("RECEIVER_ACCESS_TOKEN"):
        command += ' --token "$RECEIVER_ACCESS_TOKEN"'
    return command


def ago(moment: datetime | None, now: datetime) -> str:
    """``12 s ago``, ``3 min ago``, ``5 h ago``, ``2 d ago``; empty for never."""
    if moment is None:
        return ""
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"
