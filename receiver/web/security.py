"""Security headers on every response: a CSP without inline script, nosniff, no framing."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from flask import Response
from flask import request

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)


def add_security_headers(response: Response) -> Response:
    """Set the headers unless a view chose its own (a bin's custom response keeps its own)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def refuse_cross_site_writes() -> Response | None:
    """Refuse state-changing requests that a browser sent from another site.

    Ingest (``/b/``) takes anything from anywhere. Elsewhere a cross-site form could, for
    instance, create a bin and overwrite the visitor's recent-bins cookie (and with it the tokens
    of their private bins). Browsers say where a request comes from (``Sec-Fetch-Site``, or
    ``Origin``); clients that send neither (curl, scripts) are not browsers and are let through.
    """
    if request.method in SAFE_METHODS or request.path.startswith("/b/"):
        return None
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        allowed = site in ("same-origin", "none")
    else:
        origin = request.headers.get("Origin")
        allowed = origin is None or urlsplit(origin).netloc == request.host
    if allowed:
        return None
    from receiver.web.errors import error_for_path

    if request.path.startswith(("/api/", "/mock/")):
        return error_for_path(403, "cross_site_request", "cross-site requests cannot change data")
    return Response("cross-site requests cannot change data", status=403, mimetype="text/plain")


def init_app(app: Flask) -> None:
    """Install the cross-site check and the security headers."""
    app.before_request(refuse_cross_site_writes)
    app.after_request(add_security_headers)
