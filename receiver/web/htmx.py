"""One place that decides page or fragment, following htmx's caching and history advice."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import make_response
from flask import render_template
from flask import request


def is_fragment_request() -> bool:
    """An htmx request that wants a partial: not boosted navigation, not a history restore."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render_page_or_partial(page_template: str, partial_template: str, **context: Any) -> Response:
    """The partial for htmx, the whole page otherwise; ``Vary`` keeps caches honest."""
    template = partial_template if is_fragment_request() else page_template
    response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response
