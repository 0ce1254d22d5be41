"""One place that decides page or fragment, following htmx's caching and history advice."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import make_response
from flask import render_template
from flask import request
from flask.typing import ResponseReturnValue


def is_fragment_request() -> bool:
    """An htmx request that wants a partial: not boosted navigation, not a history restore."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def fragment(template: str, **context: Any) -> Response:
    """A partial for htmx; ``Vary`` keeps caches from serving it as the page, or the reverse."""
    return varies(render_template(template, **context))


def varies(page: ResponseReturnValue) -> Response:
    """A response whose content depends on ``HX-Request`` (a page where a fragment could be)."""
    response = make_response(page)
    response.vary.add("HX-Request")
    return response
