"""The catalog in the browser: providers, events, schemas and examples, and "send to a bin"."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import abort
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from ..bodies import pretty_json
from ..capture_store import BinGone
from ..catalog import Event
from ..models import utcnow
from ..samples import sample_request
from .access import load_bin
from .ingest import record
from .inspector import visible_recent_bins
from .state import capture_store
from .state import current_catalog
from .state import load_event
from .urls import ingest_url

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
def catalog_event_send(provider: str, event: str) -> Response | tuple[str, int]:
    """Deliver the example into the chosen bin, then show it there."""
    found = load_event(provider, event)
    bin_id = (request.form.get("bin_id") or "").strip()
    if not bin_id:
        return _send_error(found, "choose a bin to send the example to")
    target_bin = load_bin(bin_id)
    now = utcnow()
    target = capture_store().lookup(target_bin.id, now)
    if target is None:
        abort(404, description="no such bin, or it has expired")
    raw = sample_request(
        current_catalog(),
        found,
        now=now,
        host=request.host,
        scheme=target.signature_scheme,
        secret=target.signature_secret,
        header=target.signature_header,
        url=ingest_url(target.id),
    )
    try:
        request_id, _ = record(target, raw, now)
    except BinGone:
        abort(404, description="no such bin, or it has expired")
    return redirect(url_for("inspector.bin_show", bin_id=target.id, request=request_id), code=303)


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
