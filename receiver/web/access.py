"""Who may see a bin: anyone for a public bin; for a private one, the holder of its token.

A private bin without the token answers 404, exactly as a bin that does not exist. The token comes
as ``Authorization: Bearer <token>`` (scripts), or from the browser's signed recent-bins cookie,
which the browser that created the bin holds, and which a share link fills in any other browser.
"""

from __future__ import annotations

from flask import abort
from flask import current_app
from flask import request
from flask import url_for
from werkzeug.wrappers import Response

from receiver.bins import lifecycle
from receiver.bins.tokens import check_bin_token
from receiver.bins.tokens import dump_recent_bins
from receiver.bins.tokens import load_recent_bins
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import utcnow

RECENT_BINS_COOKIE = "receiver_recent"
RECENT_BINS_MAX_AGE = 60 * 60 * 24 * 365


def presented_tokens(bin_id: str) -> list[str]:
    """Tokens this request carries for ``bin_id``: a bearer header, or the recent-bins cookie."""
    tokens = []
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        tokens.append(authorization[7:].strip())
    for recent_id, token in recent_bins():
        if recent_id == bin_id and token:
            tokens.append(token)
    return tokens


def recent_bins() -> list[tuple[str, str]]:
    """The browser's recent bins from its signed cookie."""
    return load_recent_bins(
        current_app.config["SECRET_KEY"], request.cookies.get(RECENT_BINS_COOKIE)
    )


def remember_bin(response: Response, bin_id: str, token: str) -> None:
    """Put ``bin_id`` (with its token, for a private bin) first in the recent-bins cookie."""
    remembered = [(bin_id, token)] + [pair for pair in recent_bins() if pair[0] != bin_id]
    response.set_cookie(
        RECENT_BINS_COOKIE,
        dump_recent_bins(current_app.config["SECRET_KEY"], remembered),
        max_age=RECENT_BINS_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )


def share_path(bin_id: str, token: str) -> str:
    """The path of a private bin's share link."""
    return url_for("inspector.bin_share", bin_id=bin_id, token=token)


def can_access(found: Bin, extra_token: str | None = None) -> bool:
    """True for public bins, and for private bins when a valid token is presented (or given:
    ``extra_token``, from a share link)."""
    if not found.private:
        return True
    secret = current_app.config["SECRET_KEY"]
    tokens = presented_tokens(found.id) + ([extra_token] if extra_token else [])
    return any(check_bin_token(secret, found.id, token, found.token_version) for token in tokens)


def holds_bin_token(found: Bin) -> bool:
    """True when the caller presents the bin's own token (a private bin's), not merely passes as
    anyone may for a public bin, or with a team deployment's access token."""
    if not found.private:
        return False
    secret = current_app.config["SECRET_KEY"]
    return any(
        check_bin_token(secret, found.id, token, found.token_version)
        for token in presented_tokens(found.id)
    )


def load_bin(bin_id: str) -> Bin:
    """The active bin the caller may see.

    :raise 404: unknown, expired, or private without its token.
    """
    found = lifecycle.get_active_bin(db.session, bin_id, utcnow())
    if found is None or not can_access(found):
        abort(404, description="no such bin, or it has expired")
    return found
