"""The htmx inspector: pages that include their partials, and the endpoints that render them.

Filters live in the page URL (``/bins/<id>?method=POST&q=…``): the list partial answers with
``HX-Push-Url`` set to that URL, rows and the poller carry the filters on, and a page loaded from
such a URL renders the filtered list. The inspector drops empty filter values ("any") before they
reach the parser, which refuses them (the API answers 400 to ``validation=``).
"""

from __future__ import annotations

import http
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue

from receiver.bins import lifecycle
from receiver.bins import retention
from receiver.bins.responses import kept_answer
from receiver.bins.tokens import bin_token
from receiver.bins.tokens import check_bin_token
from receiver.bins.tokens import read_token
from receiver.capture import listing
from receiver.capture.bodies import FORM
from receiver.capture.bodies import HEAD_BYTES
from receiver.capture.bodies import JsonLine
from receiver.capture.bodies import as_text
from receiver.capture.bodies import decode_body
from receiver.capture.bodies import media_type
from receiver.capture.bodies import says_xml
from receiver.capture.bodies import view_body
from receiver.capture.request import header_value
from receiver.delivery.attempts import CaptureGone
from receiver.delivery.attempts import history
from receiver.delivery.attempts import replay_request
from receiver.delivery.forwarding import queue_state
from receiver.delivery.http import OutgoingError
from receiver.exports.curl import curl_needs_body_file
from receiver.exports.curl import render_curl
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest
from receiver.storage.models import utcnow
from receiver.web.access import can_access
from receiver.web.access import load_bin
from receiver.web.access import owns
from receiver.web.access import recent_bins
from receiver.web.access import remember_bin
from receiver.web.access import require_owner_to_resign
from receiver.web.access import share_path
from receiver.web.api.bins import apply_checked_settings
from receiver.web.converters import ID_MAX
from receiver.web.htmx import fragment
from receiver.web.htmx import is_fragment_request
from receiver.web.htmx import varies
from receiver.web.services import services
from receiver.web.state import current_catalog
from receiver.web.urls import ingest_url
from receiver.web.urls import public_base

bp = Blueprint("inspector", __name__)
PAGE_SIZE = 50
STOP_POLLING = 286  # htmx stops a poller that gets this status
POLL_BATCH = 100
EDITABLE_BODY_MAX = 64 * 1024
# the most of a body one page renders ("Show all"); past it, the head of that size and the download
SHOW_ALL_MAX = 1024 * 1024
MAX_TOKEN_FORM = 4096
FILTER_NAMES = ("method", "event", "validation", "q")


@bp.errorhandler(listing.FilterError)
def handle_filter_error(error: listing.FilterError) -> tuple[str, int]:
    """A filter that cannot be used: say so where the list would be."""
    return render_template("partials/_filter_error.html", message=str(error)), 400


# display helpers the templates share ----------------------------------------------------------


@bp.app_template_filter("ago")
def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """A moment relative to now, as a person says it ("12 s ago", "3 h ago"); the page's script
    keeps it current from the element's ``datetime``."""
    if moment is None:
        return "never"
    seconds = int(((now or utcnow()) - moment).total_seconds())
    if seconds < 5:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


@bp.app_template_filter("reason")
def reason(status: int | None) -> str:
    """The reason phrase of an HTTP status ("" when the status has none)."""
    try:
        return http.HTTPStatus(status or 0).phrase
    except ValueError:
        return ""


@bp.app_template_filter("body_kind")
def body_kind(content_type: str | None) -> str:
    """A short name for what a body is, from its content type (for the list's rows)."""
    media = media_type(content_type)
    if media == FORM:
        return "form"
    if media.startswith("multipart/"):
        return "multipart"
    if says_xml(media):
        return "xml"
    if media.startswith("text/"):
        return media.removeprefix("text/")[:12] or "text"
    if not media:
        return "no type"
    return media.rsplit("/", 1)[-1].removeprefix("x-")[:16]


def limits() -> dict[str, Any]:
    """The settings a person should see next to a bin."""
    config = current_app.config
    return {
        "body_limit": config["RECEIVER_BODY_LIMIT"],
        "keep": config["RECEIVER_MAX_REQUESTS_PER_BIN"],
        "ttl_days": config["RECEIVER_BIN_TTL_DAYS"],
        "poll_seconds": config["RECEIVER_POLL_SECONDS"],
        "max_delay_ms": config["RECEIVER_MAX_RESPONSE_DELAY_MS"],
        "head_bytes": HEAD_BYTES,
    }


# home and creating bins ------------------------------------------------------------------------


@bp.get("/")
def home() -> str:
    """Create a bin in one click; the browser's recent bins."""
    return render_template("pages/home.html", recent=visible_recent_bins(), error=None, form={})


def visible_recent_bins() -> list[Bin]:
    """The recent bins that still exist, newest first."""
    ids = [bin_id for bin_id, _ in recent_bins()]
    if not ids:
        return []
    now = utcnow()
    found = {b.id: b for b in db.session.scalars(db.select(Bin).where(Bin.id.in_(ids)))}
    return [found[i] for i in ids if i in found and found[i].expires_at > now]


def secret_key() -> str:
    return str(current_app.config["SECRET_KEY"])


@bp.post("/bins")
def bin_create() -> ResponseReturnValue:
    """Create a bin from the home form and remember it (and its token) in a signed cookie."""
    form = request.form
    try:
        created = lifecycle.create_bin(
            db.session,
            now=utcnow(),
            ttl_days=current_app.config["RECEIVER_BIN_TTL_DAYS"],
            bin_id=form.get("id", "").strip() or None,
            label=form.get("label", "").strip(),
            private=form.get("private") == "on",
        )
    except lifecycle.BinError as error:
        db.session.rollback()
        page = render_template(
            "pages/home.html", recent=visible_recent_bins(), error=error.message, form=form
        )
        return page, 409 if error.code == "id_taken" else 400
    db.session.commit()
    response = redirect(url_for("inspector.bin_show", bin_id=created.id), code=303)
    token = bin_token(secret_key(), created.id, created.token_version) if created.private else ""
    remember_bin(response, created.id, token)
    return response


@bp.get("/bins/<bin_id>/share/<token>")
def bin_share(bin_id: str, token: str) -> ResponseReturnValue:
    """A private bin's share link: opens the bin read-only in any browser and keeps it there
    (the read-only token goes into the signed recent-bins cookie), then leaves the token out of
    the address bar.

    Share links given out before there were read-only tokens carry the owner's token: opened
    now, they give read access too (the cookie gets the read-only token, never the owner's).
    """
    found = lifecycle.get_active_bin(db.session, bin_id, utcnow())
    if found is None or not can_access(found, extra_token=token):
        abort(404, description="no such bin, or it has expired")
    response = redirect(url_for("inspector.bin_show", bin_id=found.id), code=303)
    if found.private and not owns(found):  # the owner's own browser keeps the owner's token
        remember_bin(response, found.id, read_token(secret_key(), found.id, found.token_version))
    elif not found.private:
        remember_bin(response, found.id, "")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.post("/bins/<bin_id>/owner")
def bin_owner_claim(bin_id: str) -> ResponseReturnValue:
    """Open a bin as its owner in this browser, with the owner's token typed in (for a bin
    made through the API, or opened first with its share link)."""
    found = load_bin(bin_id)
    token = request.form.get("token", "").strip()[:MAX_TOKEN_FORM]
    if not check_bin_token(secret_key(), found.id, token, found.token_version):
        page = render_template(
            "partials/_bin_access.html",
            bin=found,
            access=access_context(found),
            changed=None,
            claim_error="That is not this bin's owner token (a share link's token opens it "
            "read-only; regenerating the token revokes the older ones).",
        )
        return page, 400
    response = make_response(go_to(url_for("inspector.bin_show", bin_id=found.id)))
    remember_bin(response, found.id, token)
    return response


# the bin page and its list ---------------------------------------------------------------------


def filter_values() -> dict[str, Any]:
    """The filters of this request's URL, empty ones ("any") left out."""
    return {name: request.args[name] for name in FILTER_NAMES if request.args.get(name, "").strip()}


def current_filter() -> listing.RequestFilter:
    """The filters of this request's URL, checked.

    :raise listing.FilterError: a value that cannot be used.
    """
    values = filter_values()
    return listing.parse_filter(*(values.get(name) for name in FILTER_NAMES))


def filter_args(filters: listing.RequestFilter) -> dict[str, Any]:
    """The active filters as query arguments, to carry on poller, paging and row URLs."""
    values = {
        "method": filters.method,
        "event": filters.event,
        "validation": filters.validation,
        "q": filters.q,
    }
    return {key: value for key, value in values.items() if value}


def list_context(found: Bin, *, before: int | None = None) -> dict[str, Any]:
    """What the request list needs: a page of rows, the poller cursor and the filters."""
    filters = current_filter()
    # the poller brings what is numbered above the cursor; the page shows what is at or below it.
    # Those are left out here rather than in SQL: a range on the number beside the order by id
    # makes the database sort the whole bin (250 ms at 100,000 requests on SQLite).
    cursor = listing.latest_seq(db.session, found.id) if before is None else None
    page = listing.list_requests(
        db.session, found.id, limit=PAGE_SIZE, before=before, filters=filters
    )
    if cursor is not None:
        shown = [row for row in page.requests if row.seq <= cursor]
        page = listing.Page(shown, page.next)
    return {
        "bin": found,
        "page": page,
        "filters": filters,
        "cursor": cursor,
        "filter_args": filter_args(filters),
        "short_search": bool(filters.q) and len(filters.q or "") < listing.SEARCH_INDEX_MIN,
        "short_window": listing.SHORT_SEARCH_WINDOW,
        "now": utcnow(),
    }


@bp.get("/bins/<bin_id>")
def bin_show(bin_id: str) -> str:
    """The bin page: ingest URL, live list, filters, and the selected request's detail."""
    found = load_bin(bin_id)
    context = list_context(found)
    access = access_context(found)
    selected = request.args.get("request", type=int)
    detail = None
    if selected is not None and 0 <= selected <= ID_MAX:  # a larger id cannot exist
        detail = detail_context(found, selected, context["filter_args"])
    return render_template(
        "pages/bin.html",
        **context,
        detail=detail,
        limits=limits(),
        ingest_url=ingest_url(found.id),
        catalog=current_catalog(),
        access=access,
        # the settings drawer's forward queue, which only the owner sees
        queue=queue_state(db.session, found.id) if access["owner"] else None,
    )


@bp.get("/bins/<bin_id>/requests")
def request_list(bin_id: str) -> Response:
    """The filtered list (partial for htmx, the page otherwise); the address bar follows."""
    found = load_bin(bin_id)
    if not is_fragment_request():
        return varies(bin_show(bin_id))
    context = list_context(found)
    response = fragment("partials/_request_list.html", **context)
    response.headers["HX-Push-Url"] = url_for(
        "inspector.bin_show", bin_id=found.id, **context["filter_args"]
    )
    return response


@bp.get("/bins/<bin_id>/requests/poll")
def request_poll(bin_id: str) -> Response | tuple[str, int]:
    """New rows since the cursor plus a fresh poller; 286 stops polling for a gone bin."""
    found = lifecycle.get_active_bin(db.session, bin_id, utcnow())
    if found is None:
        return "", STOP_POLLING
    if not can_access(found):
        abort(404, description="no such bin, or it has expired")
    filters = current_filter()
    result = listing.poll(
        db.session,
        found.id,
        after=listing.parse_cursor(request.args.get("after"), "after") or 0,
        filters=filters,
        limit=POLL_BATCH,
    )
    response = make_response(
        render_template(
            "partials/_request_poll.html",
            bin=found,
            rows=result.requests,
            cursor=result.after,
            filter_args=filter_args(filters),
            more=result.more,
            now=utcnow(),
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/bins/<bin_id>/requests/older")
def request_older(bin_id: str) -> str:
    """The next page of older rows and a new "load older" control."""
    found = load_bin(bin_id)
    before = listing.parse_cursor(request.args.get("before"), "before")
    context = list_context(found, before=before)
    return render_template("partials/_request_rows.html", **context)


# the detail pane -------------------------------------------------------------------------------


class HeadView:
    """A captured request whose ``body`` is the part of it that was loaded (for the curl line,
    which reads a body longer than it inlines from a file, whatever its length)."""

    def __init__(self, captured: CapturedRequest, body: bytes) -> None:
        self._captured = captured
        self.body = body

    def __getattr__(self, name: str) -> Any:
        return getattr(self._captured, name)


@dataclass(frozen=True)
class LineNote:
    """A validation issue said beside the line of the body it is about."""

    kind: str  # "error" or "warning"
    message: str
    keyword: str


@dataclass(frozen=True)
class MarkedLine:
    """A line of pretty JSON as the detail shows it: number, tokens, "error", "warning" or ""
    from the validation issues at its path, and those issues in words."""

    number: int
    tokens: tuple[tuple[str, str], ...]
    mark: str
    notes: tuple[LineNote, ...] = ()


def detail_context(
    found: Bin, request_id: int, carried: dict[str, Any], *, full: bool = False
) -> dict[str, Any] | None:
    """Everything the detail pane shows, derived from the stored bytes; None when the request
    is not in this bin.

    Only the head of the body is loaded and shown (``HEAD_BYTES``), or with ``full`` up to
    ``SHOW_ALL_MAX``: a body of many MiB would otherwise become an HTML page of several times as
    many (a 5.6 MiB JSON body made a 27 MB page). An encoded body is loaded whole (it is smaller
    than what it decodes to) and decoded up to the same bound.
    """
    shown_max = SHOW_ALL_MAX if full else HEAD_BYTES
    loaded = listing.get_request_head(db.session, found.id, request_id, shown_max)
    if loaded is None:
        return None
    captured, head = loaded
    encoding = header_value(captured.headers, "Content-Encoding")
    if encoding and len(head) < captured.size:
        captured, head = listing.get_request_head(db.session, found.id, request_id, None) or loaded
    decoded = decode_body(head, encoding, limit=shown_max)
    complete = len(head) >= captured.size and not decoded.truncated
    view = view_body(decoded.data, captured.content_type, complete=complete)
    validation = captured.validation or {}
    lines = marked_lines(view.json, validation)
    as_stored = HeadView(captured, head)
    return {
        "bin": found,
        "req": captured,
        "decoded": decoded,
        "view": view,
        "shown_bytes": len(decoded.data),
        "lines": lines,
        "issue_lines": issue_lines(view.json),
        "query_pairs": parse_qsl(captured.query_string, keep_blank_values=True),
        "full_url": full_url(found, captured),
        "curl": render_curl(as_stored, ingest_url(found.id)),
        "curl_needs_file": curl_needs_body_file(as_stored),
        "validation": validation,
        "schema_applies": schema_applies(validation),
        "signature": captured.signature or {},
        "answer": kept_answer(captured.response, captured.id),
        "replays": history(db.session, captured.id),
        # edits start from the bytes as captured (still encoded), so an unchanged edit is exact
        "editable_body": as_text(head) if captured.size <= EDITABLE_BODY_MAX else None,
        "header_text": header_text(captured.headers),
        "filter_args": carried,
        "back_url": url_for("inspector.bin_show", bin_id=found.id, **carried),
        "full": full,
        "show_all_max": SHOW_ALL_MAX,
        # the exact text again under "Raw" only while it is small: the download has it all
        "raw_inline": len(decoded.data) <= HEAD_BYTES,
        "show_all_url": url_for(
            "inspector.request_show", bin_id=found.id, request_id=captured.id, body="full"
        ),
    }


def schema_applies(validation: dict[str, Any]) -> bool:
    """Whether the schema check has something to say: a body that is not JSON, where nothing
    expected JSON, is shown as what it is and not as a schema problem."""
    status = validation.get("status")
    if status in ("not_json", "no_body"):
        return bool(validation.get("errors"))
    return bool(validation)


def marked_lines(lines: list[JsonLine] | None, validation: dict[str, Any]) -> list[MarkedLine]:
    """Pretty JSON lines numbered from 1, each marked "error", "warning" or "" by its path,
    with the issues at that path beside it (errors first)."""
    if not lines:
        return []
    notes: dict[str, list[LineNote]] = {}
    for kind, key in (("error", "errors"), ("warning", "warnings")):
        for issue in validation.get(key) or []:
            note = LineNote(kind, str(issue.get("message", "")), str(issue.get("keyword", "")))
            notes.setdefault(str(issue.get("path", "")), []).append(note)
    seen: set[str] = set()
    numbered = []
    for number, line in enumerate(lines, start=1):
        # mark a container on its opening line only
        here = notes.get(line.pointer, []) if line.pointer not in seen else []
        seen.add(line.pointer)
        mark = here[0].kind if here else ""
        numbered.append(MarkedLine(number, line.tokens, mark, tuple(here)))
    return numbered


def issue_lines(lines: list[JsonLine] | None) -> dict[str, int]:
    """For each JSON Pointer, the first line where the pretty body shows it."""
    first: dict[str, int] = {}
    for number, line in enumerate(lines or [], start=1):
        first.setdefault(line.pointer, number)
    return first


def header_text(headers: list[list[str]]) -> str:
    """Header pairs as the edit box shows them: one ``Name: value`` per line."""
    return "".join(f"{name}: {value}\n" for name, value in headers)


def full_url(found: Bin, captured: CapturedRequest) -> str:
    """The URL the request was sent to."""
    url = ingest_url(found.id) + (captured.path if captured.path != "/" else "")
    return url + ("?" + captured.query_string if captured.query_string else "")


@bp.get("/bins/<bin_id>/requests/<int:request_id>")
def request_show(bin_id: str, request_id: int) -> ResponseReturnValue:
    """The detail pane (partial) or the bin page with this request selected; ``body=full``
    renders the whole body instead of its head."""
    found = load_bin(bin_id)
    carried = filter_args(current_filter())
    if not is_fragment_request():
        target = url_for("inspector.bin_show", bin_id=bin_id, request=request_id, **carried)
        return varies(redirect(target))
    detail = detail_context(found, request_id, carried, full=request.args.get("body") == "full")
    if detail is None:
        abort(404, description="no such request in this bin")
    return fragment("partials/_request_detail.html", detail=detail)


@bp.delete("/bins/<bin_id>/requests/<int:request_id>")
def request_delete(bin_id: str, request_id: int) -> str:
    """Delete one request: an empty detail pane, and the row removed out of band."""
    found = load_bin(bin_id)
    if not retention.delete_request(db.session, found.id, request_id):
        abort(404, description="no such request in this bin")
    db.session.commit()
    return render_template("partials/_request_deleted.html", bin=found, request_id=request_id)


# bin actions -----------------------------------------------------------------------------------


def go_to(location: str) -> ResponseReturnValue:
    """Send the browser to ``location``: htmx gets ``HX-Redirect`` on a 200 (a 303 would be
    followed by the browser itself and its page swapped into the target), a plain form a 303."""
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 200)
        response.headers["HX-Redirect"] = location
        return response
    return redirect(location, code=303)


@bp.post("/bins/<bin_id>/clear")
def bin_clear(bin_id: str) -> ResponseReturnValue:
    """Delete every request and show the empty list (or go back to the page without htmx)."""
    found = load_bin(bin_id)
    retention.clear_requests(db.session, found.id)
    db.session.commit()
    if not is_fragment_request():
        return redirect(url_for("inspector.bin_show", bin_id=found.id), code=303)
    return render_template("partials/_request_list.html", **list_context(found))


@bp.post("/bins/<bin_id>/delete")
def bin_delete(bin_id: str) -> ResponseReturnValue:
    """Delete the bin and go home."""
    found = load_bin(bin_id)
    db.session.delete(found)
    db.session.commit()
    return go_to(url_for("inspector.home"))


# settings --------------------------------------------------------------------------------------


@bp.post("/bins/<bin_id>/settings")
def bin_settings_update(bin_id: str) -> tuple[str, int] | str:
    """Change the custom response, the expected event and the signature check from the form."""
    found = load_bin(bin_id)
    try:
        apply_checked_settings(found, settings_from_form(request.form))
    except ValueError as error:  # the form's, the document's (BodyError) or a BinError
        db.session.rollback()
        return settings_partial(load_bin(bin_id), str(error)), 400
    db.session.commit()
    return settings_partial(found, None, saved=True)


def settings_from_form(form: Any) -> dict[str, Any]:
    """The PATCH-shaped settings from the settings form.

    :raise ValueError: a field that is not a number, or a header line without a colon.
    """
    try:
        status = int(form.get("status", "200"))
        delay = int(form.get("delay_ms", "0") or 0)
    except ValueError:
        raise ValueError("status and delay are whole numbers") from None
    headers = [list(pair) for pair in header_lines(form.get("headers", ""))]
    body = form.get("body", "")
    expected = form.get("expected", "")
    provider, _, event = expected.partition("/")
    scheme = form.get("signature_scheme") or None
    secret = form.get("signature_secret") or None
    signature: dict[str, Any] | None = None
    if scheme:
        signature = {"scheme": scheme, "header": form.get("signature_header") or None}
        if secret:  # an empty secret field keeps the stored secret
            signature["secret"] = secret
    return {
        "response": {
            "status": status,
            "headers": headers,
            "body": body if body != "" else None,
            "delay_ms": delay,
        },
        "provider": provider or None,
        "event": event or None,
        "strict_validation": form.get("strict_validation") == "on",
        "signature": signature,
    } | ({"forward_url": form["forward_url"].strip() or None} if "forward_url" in form else {})


def settings_partial(found: Bin, error: str | None, saved: bool = False) -> str:
    """The settings form, with an error or a saved notice."""
    return render_template(
        "partials/_bin_settings.html",
        bin=found,
        error=error,
        saved=saved,
        limits=limits(),
        catalog=current_catalog(),
        queue=queue_state(db.session, found.id),
    )


@bp.get("/bins/<bin_id>/forward-queue")
def bin_forward_queue(bin_id: str) -> Response:
    """Where the bin's forwarding stands (the settings drawer shows it beside the forward URL)."""
    found = load_bin(bin_id)
    response = fragment(
        "partials/_forward_queue.html", bin=found, queue=queue_state(db.session, found.id)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def access_context(found: Bin, *, owner: bool | None = None) -> dict[str, Any]:
    """Who can open the bin, and what this browser may do: for a private one, its read-only
    share link, and the owner's token (to its owner) or the read-only one (to a share link's
    holder), with an API example. ``owner`` says who this is when the presented tokens cannot
    (they were just revoked, or the bin was public a moment ago)."""
    if not found.private:
        return {"private": False, "owner": True}
    owner = owns(found) if owner is None else owner
    make = bin_token if owner else read_token
    token = make(secret_key(), found.id, found.token_version)
    return {
        "private": True,
        "owner": owner,
        "token": token,
        "share_url": public_base() + share_path(found),
        "api_url": public_base() + url_for("api.bin_show", bin_id=found.id),
    }


@bp.post("/bins/<bin_id>/access")
def bin_access_update(bin_id: str) -> Response:
    """Make the bin private or public, or regenerate its token (which revokes every token and
    share link given out so far); this browser keeps access through its cookie."""
    found = load_bin(bin_id)
    action = request.form.get("action", "")
    if action == "regenerate":
        # in SQL, so that two regenerations at once both revoke what came before
        db.session.execute(
            db.update(Bin).where(Bin.id == found.id).values(token_version=Bin.token_version + 1)
        )
    elif action in ("private", "public"):
        lifecycle.apply_settings(found, {"private": action == "private"})
    else:
        abort(400, description="action is private, public or regenerate")
    db.session.commit()
    db.session.refresh(found)
    access = access_context(found, owner=True)  # only the owner gets here
    response = make_response(
        render_template("partials/_bin_access.html", bin=found, access=access, changed=action)
    )
    remember_bin(response, found.id, access.get("token", ""))
    return response


# replay ----------------------------------------------------------------------------------------


@bp.post("/bins/<bin_id>/requests/<int:request_id>/replay")
def request_replay(bin_id: str, request_id: int) -> tuple[str, int] | str:
    """Replay from the detail pane: what the form holds is what is sent; answers the refreshed
    replay panel, which keeps the form as it was sent."""
    found = load_bin(bin_id)
    captured = listing.get_request(db.session, found.id, request_id)
    if captured is None:
        abort(404, description="no such request in this bin")
    form = request.form
    options: dict[str, Any] = {
        "url": form.get("url", "").strip(),
        "append_path": form.get("append_path") == "on",
        "method": form.get("method") or None,
    }
    if form.get("resign") == "on":
        require_owner_to_resign(found)
    if form.get("resign") == "on" and found.signature_scheme and found.signature_secret:
        options["resign"] = {
            "scheme": found.signature_scheme,
            "secret": found.signature_secret,
            "header": found.signature_header,
        }
    error = None
    try:
        if "headers" in form:
            options["headers"] = edited_headers(form["headers"], captured.headers)
        if "body" in form:
            options["body"] = edited_body(form["body"], captured.body)
        replay_request(
            db.session,
            captured,
            now=utcnow(),
            timeout=float(current_app.config["RECEIVER_REPLAY_TIMEOUT"]),
            policy=services().outgoing,
            **options,
        )
        db.session.commit()
    except CaptureGone as gone:
        abort(404, description=str(gone))
    except (OutgoingError, ValueError) as failure:
        db.session.rollback()
        error = failure.message if isinstance(failure, OutgoingError) else str(failure)
    # the form comes back as it was sent (textarea line breaks as the page shows them)
    sent = {name: value.replace("\r\n", "\n") for name, value in form.items()}
    panel = render_template(
        "partials/_replay_panel.html",
        detail=detail_context(found, captured.id, {}),
        replay_error=error,
        sent=sent,
    )
    return (panel, 400) if error else panel


def edited_headers(typed: str, captured: list[list[str]]) -> list[tuple[str, str]]:
    """The headers typed in the edit box; the captured pairs exactly when left unchanged
    (line parsing trims spaces that a capture may have had).

    :raise ValueError: a line without a colon.
    """
    if typed.replace("\r\n", "\n").strip("\n") == header_text(captured).strip("\n"):
        return [(name, value) for name, value in captured]
    return header_lines(typed)


def edited_body(typed: str, captured: bytes) -> bytes:
    """The body typed in the edit box, with the captured line endings.

    Browsers send textarea text with CRLF line breaks whatever was shown: an unchanged edit
    gives back the captured bytes, and a changed one keeps CRLF only if the capture used it.
    """
    text = typed.replace("\r\n", "\n")
    original = as_text(captured)
    if original is not None and text == original.replace("\r\n", "\n"):
        return captured
    if b"\r\n" in captured:
        text = text.replace("\n", "\r\n")
    return text.encode("utf-8")


def header_lines(text: str) -> list[tuple[str, str]]:
    """``Name: value`` lines into pairs.

    :raise ValueError: a line without a colon.
    """
    pairs = []
    for line in text.splitlines():
        if line.strip():
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"a header line needs a colon: {line[:80]}")
            pairs.append((name.strip(), value.strip()))
    return pairs
