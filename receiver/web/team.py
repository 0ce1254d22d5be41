"""Team access: one shared token (``RECEIVER_ACCESS_TOKEN``) in front of every page and API route.

When the setting is empty (the default) nothing here applies. When it is set:

- The API (``/api/…``) needs ``Authorization: Bearer <access token>``, or the browser's login
  cookie; without either it answers 401 JSON with ``WWW-Authenticate: Bearer``. A private bin's
  own token (``Authorization: Bearer <bin token>``) also opens that bin's routes
  (``/api/bins/<id>…``): it was handed out by an authenticated user when the bin was created, and
  it lets one token serve a client such as ``receiver listen`` for a private bin.
- Pages redirect to ``/login`` (an htmx request gets ``HX-Redirect`` with a 200, never a 303: the
  browser would follow a 303 itself and htmx would swap the login page into the target). The
  login page takes the token in a form field ``token``, compares it in constant time, and sets
  a signed, ``HttpOnly``, ``SameSite=Lax`` cookie (``Secure`` when the request came over HTTPS
  or the public URL is https). ``POST /logout`` removes it.
- Ingest (``/b/…``), static files and the health endpoint (``GET /healthz``) stay open: a provider
  cannot log in, and a load balancer must see the process alive. So do the simulated providers'
  APIs (``/mock/<provider>/…``, marked with `outside_team_gate`), which authenticate with the
  tokens they issue; issuing those tokens and triggering events stay behind the gate.

Private bins keep needing their own token as well: the team token opens the deployment, not the
bins whose creators made them private. The access token itself is never stored in the cookie:
the cookie holds an HMAC of it under the secret key, so changing the token logs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any
from typing import TypeVar
from urllib.parse import urlsplit

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import text

from receiver.bins.tokens import token_role
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.web.errors import error_for_path

bp = Blueprint("team", __name__)
ACCESS_COOKIE = "receiver_access"
ACCESS_SALT = "receiver.team-access"
ACCESS_MAX_AGE = 30 * 24 * 60 * 60  # a login lasts 30 days
# what stays open when the token is set: ingest, static files, login/logout and the health check
OPEN_PREFIXES = ("/b/", "/static/")
OPEN_ENDPOINTS = frozenset({"static", "team.login", "team.logout", "team.health"})
MAX_TOKEN_FORM = 4096
# the attribute `outside_team_gate` sets on a view
OUTSIDE_GATE = "receiver_outside_team_gate"
View = TypeVar("View", bound=Callable[..., Any])


def access_token() -> str:
    """The configured team token; empty when the deployment is open."""
    return current_app.config.get("RECEIVER_ACCESS_TOKEN") or ""


def _fingerprint(token: str) -> str:
    """An HMAC of the access token under the secret key: what the cookie proves knowledge of."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=ACCESS_SALT)


def token_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison of a presented token with the configured one."""
    return hmac.compare_digest(presented.encode(), expected.encode())


def has_login_cookie(expected: str) -> bool:
    """True when the request carries a valid, unexpired login cookie for the current token."""
    value = request.cookies.get(ACCESS_COOKIE)
    if not value:
        return False
    try:
        proven = _serializer().loads(value, max_age=ACCESS_MAX_AGE)
    except BadSignature:  # includes an expired signature
        return False
    return isinstance(proven, str) and hmac.compare_digest(proven, _fingerprint(expected))


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any."""
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def _bin_of_path(path: str) -> str | None:
    """The bin id of an API path below ``/api/bins/<id>``, else None."""
    parts = path.split("/")
    if len(parts) >= 4 and parts[1] == "api" and parts[2] == "bins" and parts[3]:
        return parts[3]
    return None


def is_authorized(expected: str) -> bool:
    """Whether this request may pass the gate (token, cookie, or a bin token for its own bin)."""
    presented = bearer_token()
    if presented is not None:
        if token_matches(presented, expected):
            return True
        bin_id = _bin_of_path(request.path)
        if bin_id and _opens_private_bin(bin_id, presented):
            return True
    return has_login_cookie(expected)


def _opens_private_bin(bin_id: str, token: str) -> bool:
    """True when ``token`` is a current token of the private bin ``bin_id``: the owner's, or
    the read-only one of its share link (whose holder then only reads: see ``web.access``)."""
    found = db.session.get(Bin, bin_id)
    secret = current_app.config["SECRET_KEY"]
    return (
        found is not None
        and found.private
        and token_role(secret, bin_id, token, found.token_version) is not None
    )


def outside_team_gate(view: View) -> View:
    """Mark a view that authenticates its own callers (the simulated providers' APIs, with the
    tokens they issue): the team token does not apply to it."""
    setattr(view, OUTSIDE_GATE, True)
    return view


def is_open_path() -> bool:
    """Ingest, static files, login, logout, the health check and the views that authenticate
    their own callers never need the token."""
    if request.endpoint in OPEN_ENDPOINTS or request.path.startswith(OPEN_PREFIXES):
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, OUTSIDE_GATE, False) is True


def require_team_access() -> ResponseReturnValue | None:
    """The gate (a ``before_request``): pass, or answer 401 JSON / redirect to the login page."""
    expected = access_token()
    if not expected or is_open_path() or is_authorized(expected):
        return None
    if request.path.startswith(("/api/", "/mock/")) or request.path == "/api":
        response = error_for_path(
            401,
            "unauthorized",
            "this receiver needs its access token: send Authorization: Bearer <token>",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="receiver"'
        return response
    if request.headers.get("HX-Request") == "true":
        # htmx must navigate the whole page; a 303 would be followed and swapped into a target
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        back = current.path + ("?" + current.query if current.query else "")
        response = Response(status=200)
        response.headers["HX-Redirect"] = url_for("team.login", next=_local_target(back))
        return response
    return redirect(url_for("team.login", next=_local_target(request.full_path)), code=303)


def _local_target(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``/`` (no open redirect)."""
    if not target:
        return "/"
    target = target.removesuffix("?")
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(ord(char) < 0x20 for char in target)
    ):
        return "/"
    return target


def _secure_cookie() -> bool:
    """Send the cookie over HTTPS only when the site is reached over HTTPS."""
    public = current_app.config.get("RECEIVER_PUBLIC_URL") or ""
    return request.is_secure or public.startswith("https://")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form; a right token sets the signed cookie and goes where the person was going."""
    expected = access_token()
    target = _local_target(request.values.get("next"))
    if not expected:
        return redirect(target, code=303)
    if request.method == "GET":
        return render_template(
            "pages/login.html", next=target, error=None, signed_in=has_login_cookie(expected)
        )
    presented = request.form.get("token", "")[:MAX_TOKEN_FORM]
    if not token_matches(presented, expected):
        page = render_template(
            "pages/login.html",
            next=target,
            error="That is not this receiver's access token.",
            signed_in=False,
        )
        return page, 403
    response = redirect(target, code=303)
    response.set_cookie(
        ACCESS_COOKIE,
        _serializer().dumps(_fingerprint(expected)),
        max_age=ACCESS_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=_secure_cookie(),
    )
    return response


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Forget the login cookie, then show the login page."""
    response = redirect(url_for("team.login"), code=303)
    response.delete_cookie(ACCESS_COOKIE, httponly=True, samesite="Lax", secure=_secure_cookie())
    return response


@bp.get("/healthz")
def health() -> ResponseReturnValue:
    """Open health check for load balancers: 200 when the database answers, else 503."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database means unhealthy
        db.session.rollback()
        response = jsonify({"status": "unavailable", "database": "unreachable"})
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response
    return jsonify({"status": "ok", "database": "ok"})


def team_context() -> dict[str, bool]:
    """For the page header: whether to offer "Log out" (a team deployment, logged in)."""
    expected = access_token()
    return {"team_signed_in": bool(expected) and has_login_cookie(expected)}


def init_app(app: Flask) -> None:
    """Register the login routes and the gate (before every other ``before_request``)."""
    app.register_blueprint(bp)
    app.context_processor(team_context)
    app.before_request_funcs.setdefault(None, []).insert(0, require_team_access)
