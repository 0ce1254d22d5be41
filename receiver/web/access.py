"""Who may see a bin, and who may change it.

A public bin is anyone's who knows its id: they may do everything. A private bin opens only with
one of its tokens, and without one answers 404, exactly as a bin that does not exist. It has two:

- the owner's token (``owner``): everything, settings, deletion and token regeneration included.
  The browser that created the bin holds it in its signed recent-bins cookie; the API answers
  it to whoever creates the bin or makes it private.
- the read-only token (``read``) of its share link: see the captures, replay them to a URL of
  one's own (not re-signed with the bin's secret), follow them with ``receiver listen``. Opening
  the share link puts it in that browser's cookie.

A token comes as ``Authorization: Bearer <token>`` (scripts) or from the cookie. What a holder
of the read-only token may not do is refused with 403 ``owner_only`` before the view runs
(`refuse_read_only_writes`): every route below a bin that is not a read needs the owner, except
the few in ``READ_HOLDER_WRITES``.
"""

from __future__ import annotations

from flask import Flask
from flask import abort
from flask import current_app
from flask import request
from flask import url_for
from werkzeug.wrappers import Response

from receiver.bins import lifecycle
from receiver.bins.tokens import OWNER
from receiver.bins.tokens import READ
from receiver.bins.tokens import Role
from receiver.bins.tokens import dump_recent_bins
from receiver.bins.tokens import load_recent_bins
from receiver.bins.tokens import read_token
from receiver.bins.tokens import token_role
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import utcnow
from receiver.web.errors import json_error
from receiver.web.security import SAFE_METHODS

RECENT_BINS_COOKIE = "receiver_recent"
RECENT_BINS_MAX_AGE = 60 * 60 * 24 * 365
# the routes below a bin that change something and that a read-only holder may still use:
# replaying (one capture, or a scenario of several) and what `receiver listen` reports
READ_HOLDER_WRITES = frozenset(
    {
        "api.replay_create",
        "api.scenario_create",
        "api.scenario_cancel",
        "api.listener_open",
        "api.listener_report",
        "api.listener_delete",
        "inspector.request_replay",
        "inspector.bin_owner_claim",
        "toolkit.scenario_start",
        "toolkit.scenario_cancel",
    }
)
# routes that only read, but show the owner's controls
OWNER_READS = frozenset({"toolkit.script_show", "catalog_tools.use_as_example_form"})
READ_ONLY_MESSAGE = (
    "this bin was opened with its read-only share link: seeing captures and replaying them is "
    "allowed; settings, deleting, clearing, sending into the bin and its token need the owner's "
    "token"
)
RESIGN_MESSAGE = (
    "re-signing uses the bin's signing secret, which only the bin's owner may use "
    "(this bin was opened with its read-only share link)"
)


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


def share_path(found: Bin) -> str:
    """The path of a private bin's share link, which carries its read-only token."""
    token = read_token(current_app.config["SECRET_KEY"], found.id, found.token_version)
    return url_for("inspector.bin_share", bin_id=found.id, token=token)


def bin_role(found: Bin, extra_token: str | None = None) -> Role | None:
    """What this request may do with ``found``: ``owner`` for a public bin, or for a private one
    the most its presented tokens (and ``extra_token``, from a share link) allow; None when
    it may not even see it."""
    if not found.private:
        return OWNER
    secret = current_app.config["SECRET_KEY"]
    tokens = presented_tokens(found.id) + ([extra_token] if extra_token else [])
    roles = {token_role(secret, found.id, token, found.token_version) for token in tokens}
    if OWNER in roles:
        return OWNER
    return READ if READ in roles else None


def can_access(found: Bin, extra_token: str | None = None) -> bool:
    """True for public bins, and for private bins when a valid token of either kind is
    presented (or given: ``extra_token``, from a share link)."""
    return bin_role(found, extra_token) is not None


def owns(found: Bin) -> bool:
    """Whether this request holds the owner's rights over ``found`` (the pages show the owner's
    controls only then)."""
    return bin_role(found) == OWNER


def needs_owner(endpoint: str | None, method: str) -> bool:
    """Whether a route below a bin needs the owner: every one that is not a read, except the
    few a read-only holder may use."""
    if endpoint in OWNER_READS:
        return True
    return method not in SAFE_METHODS and endpoint not in READ_HOLDER_WRITES


def refuse_read_only_writes() -> Response | None:
    """403 ``owner_only`` for a read-only holder on a route that needs the owner (a
    ``before_request`` of every blueprint but ingest). Unknown and invisible bins are left to
    the view, which answers 404."""
    bin_id = (request.view_args or {}).get("bin_id")
    if not isinstance(bin_id, str) or not needs_owner(request.endpoint, request.method):
        return None
    found = lifecycle.get_active_bin(db.session, bin_id, utcnow())
    if found is None or bin_role(found) != READ:
        return None
    return read_only_refusal(READ_ONLY_MESSAGE)


def read_only_refusal(message: str) -> Response:
    """The 403 a read-only holder gets: JSON under ``/api``, a short page elsewhere."""
    if request.path.startswith("/api/"):
        return json_error(403, "owner_only", message)
    return Response(message, status=403, mimetype="text/plain")


def require_owner_to_resign(found: Bin) -> None:
    """Re-signing uses the bin's secret: only its owner may ask for it.

    :raise 403: a read-only holder asked.
    """
    if not owns(found):
        abort(read_only_refusal(RESIGN_MESSAGE))


def init_app(app: Flask) -> None:
    """Check owner-only routes in every blueprint registered so far, except ingest (whose
    senders need no token, and whose path stays as lean as it is)."""
    for name in app.blueprints:
        if name != "ingest":
            app.before_request_funcs.setdefault(name, []).append(refuse_read_only_writes)


def holds_bin_token(found: Bin) -> bool:
    """True when the caller presents the private bin's owner token: not a share link's
    read-only one, and not merely passing as anyone may for a public bin or with a team
    deployment's access token (who may then be handed the bin's signing secret)."""
    return found.private and owns(found)


def load_bin(bin_id: str) -> Bin:
    """The active bin the caller may see.

    :raise 404: unknown, expired, or private without its token.
    """
    found = lifecycle.get_active_bin(db.session, bin_id, utcnow())
    if found is None or not can_access(found):
        abort(404, description="no such bin, or it has expired")
    return found
