"""Who may see a bin: anyone for a public bin; for a private one, the holder of its token.

A private bin without the token answers 404, exactly as a bin that does not exist.
"""

from __future__ import annotations

from flask import abort
from flask import current_app
from flask import request

from receiver.bins import lifecycle
from receiver.bins.tokens import check_bin_token
from receiver.bins.tokens import load_recent_bins
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import utcnow

RECENT_BINS_COOKIE = "receiver_recent"


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


def can_access(found: Bin) -> bool:
    """True for public bins, and for private bins when a valid token is presented."""
    if not found.private:
        return True
    secret = current_app.config["SECRET_KEY"]
    return any(check_bin_token(secret, found.id, token) for token in presented_tokens(found.id))


def load_bin(bin_id: str) -> Bin:
    """The active bin the caller may see.

    :raise 404: unknown, expired, or private without its token.
    """
    found = lifecycle.get_active_bin(db.session, bin_id, utcnow())
    if found is None or not can_access(found):
        abort(404, description="no such bin, or it has expired")
    return found
