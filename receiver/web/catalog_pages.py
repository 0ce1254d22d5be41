"""The catalog in the browser: providers, events, schemas and examples, and "send to a bin".

The pages are for people who receive webhooks: they cite the provider's own documentation and
say what it leaves out, and leave out where the catalog's facts were gathered (the schemas'
``x-source`` provenance stays in the data and the API).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from markupsafe import escape

from receiver.capture.bodies import pretty_json
from receiver.catalog.model import Event
from receiver.web.access import READ_ONLY_MESSAGE
from receiver.web.access import load_bin
from receiver.web.access import owns
from receiver.web.access import read_only_refusal
from receiver.web.inspector import visible_recent_bins
from receiver.web.state import current_catalog
from receiver.web.state import deliver_sample
from receiver.web.state import load_event

bp = Blueprint("catalog_pages", __name__, url_prefix="/catalog")

# in catalog prose: `code` spans, and https links to the providers' documentation
PROSE = re.compile(r"`([^`]{1,200})`|(https://[A-Za-z0-9.\-]+(?:/[A-Za-z0-9._~/%\-]*)?)")
# where a long event id may wrap: after its separators, never inside a word
EVENT_BREAK = re.compile(r"([._/-])")


@bp.app_template_filter("catalog_prose")
def catalog_prose(text: str | None) -> Markup:
    """Catalog text (descriptions, notes, sources) with `code` spans and links as markup.

    The text is escaped first; only the two patterns become elements, and a link's address is
    limited to characters that cannot leave the attribute.
    """
    parts: list[str] = []
    at = 0
    source = text or ""
    for match in PROSE.finditer(source):
        parts.append(str(escape(source[at : match.start()])))
        code, link = match.groups()
        if code is not None:
            parts.append(f"<code>{escape(code)}</code>")
        else:
            parts.append(f'<a href="{link}" rel="noopener noreferrer">{escape(link)}</a>')
        at = match.end()
    parts.append(str(escape(source[at:])))
    return Markup("".join(parts))


@bp.app_template_filter("event_name")
def event_name(name: str) -> Markup:
    """An event id that may wrap only after ``.``, ``_``, ``/`` or ``-`` (``<wbr>``), so that
    ``PROJECT_BUILD_ANDROID_SUCCESS`` never breaks inside a word."""
    return Markup(EVENT_BREAK.sub(r"\1<wbr>", str(escape(name))))


@bp.app_template_filter("first_sentence")
def first_sentence(text: str | None) -> str:
    """The first sentence of a description, for the catalog's event table."""
    head, sep, _ = (text or "").partition(". ")
    return head + "." if sep else head


def shown_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as the page shows it: without ``x-source``, the catalog's own provenance."""
    return {key: value for key, value in schema.items() if key != "x-source"}


def documented_section(event: Event) -> str:
    """The section of the provider's documentation an event's schema follows, when known."""
    source = event.schema.get("x-source")
    return str(source.get("section", "")) if isinstance(source, dict) else ""


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
        schema=pretty_json(shown_schema(found.schema)),
        section=documented_section(found),
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
    if not owns(target_bin):  # a sample is signed with the bin's secret: the owner's to use
        return read_only_refusal(READ_ONLY_MESSAGE)
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
        schema=pretty_json(shown_schema(found.schema)),
        section=documented_section(found),
        example=pretty_json(found.example) if found.example is not None else None,
        recent=visible_recent_bins(),
        error=message,
    )
    return page, 400
