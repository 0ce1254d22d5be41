"""The server boundary: recover the header list that WSGI throws away.

WSGI hands an application one ``HTTP_*`` key per header name: both Werkzeug's dev server and
gunicorn join repeated headers with commas, and both drop names containing an underscore. The
contract needs the ordered list of pairs with duplicates, so each server gives it to us here:

- Werkzeug's dev server: ``RawHeaderRequestHandler`` adds the parsed header list (original case,
  order, duplicates) to the environ as ``receiver.raw_headers``.
- gunicorn: the ``pre_request`` hook (wired in ``gunicorn.conf.py``) keeps the parsed request in a
  thread-local; the request is served by the same thread right after the hook, so the ingest view
  reads it back and checks it is the same request. gunicorn upper-cases names while parsing, so
  under gunicorn names arrive upper-cased; ``header_map = "dangerous"`` keeps underscore names.
- Anything else (the test client, another server): the environ is rebuilt into pairs, marked as
  not exact.
"""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import WSGIRequestHandler

RAW_HEADERS_KEY = "receiver.raw_headers"
_gunicorn_local = threading.local()


class RawHeaderRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, plus the unfolded header list in the environ."""

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ[RAW_HEADERS_KEY] = [(str(k), str(v)) for k, v in self.headers.raw_items()]
        return environ


def pre_request(worker: Any, req: Any) -> None:
    """gunicorn hook: remember the parsed request for the thread that is about to serve it."""
    _gunicorn_local.request = req


def raw_headers(environ: dict[str, Any]) -> tuple[list[tuple[str, str]], bool]:
    """The request's header pairs in arrival order, and whether they are exact."""
    pairs = environ.get(RAW_HEADERS_KEY)
    if pairs is not None:
        return list(pairs), True
    req = getattr(_gunicorn_local, "request", None)
    if (
        req is not None
        and environ.get("SERVER_SOFTWARE", "").startswith("gunicorn")
        and getattr(req, "uri", None) == environ.get("RAW_URI")
        and getattr(req, "method", None) == environ.get("REQUEST_METHOD")
    ):
        _gunicorn_local.request = None
        return [(str(name), str(value)) for name, value in req.headers], True
    return headers_from_environ(environ), False


def headers_from_environ(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """Best effort when the server gave nothing better: rebuild pairs from WSGI keys."""
    pairs: list[tuple[str, str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            name = key.replace("_", "-").title()
        else:
            continue
        pairs.append((name, str(value)))
    return pairs


def raw_query(environ: dict[str, Any]) -> str:
    """The query string as sent, from the raw request target when the server keeps it."""
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if target and "?" in target:
        return target.split("?", 1)[1].split("#", 1)[0]
    return environ.get("QUERY_STRING", "")


def start_background_work(app: Any) -> None:
    """Start the forwarding thread of a serving process, unless the settings turn it off."""
    if app.config["RECEIVER_FORWARD_WORKER"]:
        app.extensions["receiver.forwarder"].start()
