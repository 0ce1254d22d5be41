"""The catalog in the browser: providers, events, schemas and examples, and "send to a bin"."""

from __future__ import annotations

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue

from receiver.capture.bodies import pretty_json
from receiver.catalog.model import Event
from receiver.web.access import load_bin
from receiver.web.inspector import visible_recent_bins
from receiver.web.state import current_catalog
from receiver.web.state import deliver_sample
from receiver.web.state import load_event

bp = Blueprint("catalog_pages", __name__, url_prefix="/catalog")


@bp.get("/")
def catalog_index() -> str:
    """Every provider with its events and how well each is documented."""
    return render_template("pages/catalog.html", catalog=current_catalog())


@bp.get("/<provider>/<event>")
def catalog_event(provider: str, event: str) -> str:
    """One event: schema, example, source, and a form that sends the example into a bin."""
    found = load_event(provider, event)
    catalog = current_catalog()
    return render_template(
        "pages/catalog_event.html",
        event=found,
        provider=catalog.provider(provider),
        schema=pretty_json(found.schema),
        example=pretty_json(found.example) if found.example is not None else None,
        recent=visible_recent_bins(),
        error=None,
    )


@bp.post("/<provider>/<event>/send")
def catalog_event_send(provider: str, event: str) -> ResponseReturnValue:
    """Deliver the example into the chosen bin, then show it there."""
    found = load_event(provider, event)
    bin_id = (request.form.get("bin_id") or "").strip()
    if not bin_id:
        return _send_error(found, "choose a bin to send the example to")
    target_bin = load_bin(bin_id)
    request_id = deliver_sample(found, target_bin.id)
    return redirect(
        url_for("inspector.bin_show", bin_id=target_bin.id, request=request_id), code=303
    )


def _send_error(found: Event, message: str) -> tuple[str, int]:
    catalog = current_catalog()
    page = render_template(
        "pages/catalog_event.html",
        event=found,
        provider=catalog.provider(found.provider_id),
        schema=pretty_json(found.schema),
        example=pretty_json(found.example) if found.example is not None else None,
        recent=visible_recent_bins(),
        error=message,
    )
    return page, 400
