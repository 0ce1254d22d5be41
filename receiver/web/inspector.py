"""The htmx inspector: pages that include their partials, and the endpoints that render them."""

from __future__ import annotations

from typing import Any

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
from receiver.bins.tokens import bin_token
from receiver.bins.tokens import dump_recent_bins
from receiver.capture import listing
from receiver.capture.bodies import as_text
from receiver.capture.bodies import decode_body
from receiver.capture.bodies import hex_dump
from receiver.capture.bodies import pretty_json
from receiver.capture.bodies import pretty_json_lines
from receiver.capture.request import header_value
from receiver.catalog.validation import parse_json
from receiver.delivery.attempts import history
from receiver.delivery.attempts import replay_request
from receiver.delivery.http import OutgoingError
from receiver.exports.har import curl_needs_body_file
from receiver.exports.har import render_curl
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest
from receiver.storage.models import utcnow
from receiver.web.access import RECENT_BINS_COOKIE
from receiver.web.access import can_access
from receiver.web.access import load_bin
from receiver.web.access import recent_bins
from receiver.web.htmx import fragment
from receiver.web.htmx import is_fragment_request
from receiver.web.htmx import varies
from receiver.web.state import current_catalog
from receiver.web.urls import ingest_url

bp = Blueprint("inspector", __name__)
PAGE_SIZE = 50
STOP_POLLING = 286  # htmx stops a poller that gets this status
POLL_BATCH = 100
EDITABLE_BODY_MAX = 64 * 1024


@bp.errorhandler(listing.FilterError)
def handle_filter_error(error: listing.FilterError) -> tuple[str, int]:
    """A filter that cannot be used: say so where the list would be."""
    return render_template("partials/_filter_error.html", message=str(error)), 400


def limits() -> dict[str, Any]:
    """The settings a person should see next to a bin."""
    config = current_app.config
    return {
        "body_limit": config["RECEIVER_BODY_LIMIT"],
        "keep": config["RECEIVER_MAX_REQUESTS_PER_BIN"],
        "ttl_days": config["RECEIVER_BIN_TTL_DAYS"],
        "poll_seconds": config["RECEIVER_POLL_SECONDS"],
        "max_delay_ms": config["RECEIVER_MAX_RESPONSE_DELAY_MS"],
    }


@bp.get("/")
def home() -> str:
    """Create a bin; the browser's recent bins."""
    return render_template("pages/home.html", recent=visible_recent_bins(), error=None, form={})


def visible_recent_bins() -> list[Bin]:
    """The recent bins that still exist, newest first."""
    ids = [bin_id for bin_id, _ in recent_bins()]
    if not ids:
        return []
    now = utcnow()
    found = {b.id: b for b in db.session.scalars(db.select(Bin).where(Bin.id.in_(ids)))}
    return [found[i] for i in ids if i in found and found[i].expires_at > now]


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
    secret = current_app.config["SECRET_KEY"]
    token = bin_token(secret, created.id) if created.private else ""
    remembered = [(created.id, token)] + [p for p in recent_bins() if p[0] != created.id]
    response = redirect(url_for("inspector.bin_show", bin_id=created.id), code=303)
    response.set_cookie(
        RECENT_BINS_COOKIE,
        dump_recent_bins(secret, remembered),
        max_age=60 * 60 * 24 * 365,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )
    return response


def list_context(found: Bin, *, before: int | None = None) -> dict[str, Any]:
    """What the request list needs: a page of rows, the poller cursor and the filters."""
    filters = listing.parse_filter(
        request.args.get("method"),
        request.args.get("event"),
        request.args.get("validation"),
        request.args.get("q"),
    )
    # the poller brings what is numbered above the cursor; the page shows what is at or below it
    cursor = listing.latest_seq(db.session, found.id) if before is None else None
    page = listing.list_requests(
        db.session, found.id, limit=PAGE_SIZE, before=before, filters=filters, up_to_seq=cursor
    )
    return {
        "bin": found,
        "page": page,
        "filters": filters,
        "cursor": cursor,
        "filter_args": filter_args(filters),
    }


def filter_args(filters: listing.RequestFilter) -> dict[str, str]:
    """The active filters as query arguments, to carry on poller and paging URLs."""
    values = {
        "method": filters.method,
        "event": filters.event,
        "validation": filters.validation,
        "q": filters.q,
    }
    return {key: value for key, value in values.items() if value}


def detail_context(found: Bin, captured: CapturedRequest) -> dict[str, Any]:
    """Everything the detail pane shows, derived from the stored bytes."""
    decoded = decode_body(captured.body, header_value(captured.headers, "Content-Encoding"))
    payload, problem = parse_json(decoded.data)
    is_json = problem is None
    text = as_text(decoded.data)
    raw_text = as_text(captured.body)
    validation = captured.validation or {}
    return {
        "bin": found,
        "req": captured,
        "decoded": decoded,
        "pretty": pretty_json(payload) if is_json else None,
        "pretty_lines": marked_lines(payload, validation) if is_json else None,
        "issue_lines": issue_lines(payload, validation) if is_json else {},
        "text": text,
        "hex": hex_dump(decoded.data) if text is None else None,
        "query_pairs": query_pairs(captured.query_string),
        "full_url": full_url(found, captured),
        "curl": render_curl(captured, ingest_url(found.id)),
        "curl_needs_file": curl_needs_body_file(captured),
        "validation": validation,
        "signature": captured.signature or {},
        "replays": history(db.session, captured.id),
        # edits start from the bytes as captured (still encoded), so an unchanged edit is exact
        "editable_body": raw_text if len(captured.body) <= EDITABLE_BODY_MAX else None,
    }


def marked_lines(payload: Any, validation: dict[str, Any]) -> list[tuple[int, str, str]] | None:
    """Pretty JSON lines numbered from 1, each marked "error", "warning" or "" by its path."""
    lines = pretty_json_lines(payload)
    if lines is None:
        return None
    marks = {issue["path"]: "warning" for issue in validation.get("warnings", [])}
    marks.update({issue["path"]: "error" for issue in validation.get("errors", [])})
    seen: set[str] = set()
    numbered = []
    for number, (pointer, line) in enumerate(lines, start=1):
        # mark a container on its opening line only
        mark = marks.get(pointer, "") if pointer not in seen else ""
        seen.add(pointer)
        numbered.append((number, line, mark))
    return numbered


def issue_lines(payload: Any, validation: dict[str, Any]) -> dict[str, int]:
    """For each path named by an error or warning, the line where the pretty body shows it."""
    lines = pretty_json_lines(payload) or []
    first: dict[str, int] = {}
    for number, (pointer, _) in enumerate(lines, start=1):
        first.setdefault(pointer, number)
    return first


def query_pairs(query_string: str) -> list[tuple[str, str]]:
    """Decoded query parameters in order, repeated keys kept."""
    from urllib.parse import parse_qsl

    return parse_qsl(query_string, keep_blank_values=True)


def full_url(found: Bin, captured: CapturedRequest) -> str:
    """The URL the request was sent to."""
    url = ingest_url(found.id) + (captured.path if captured.path != "/" else "")
    return url + ("?" + captured.query_string if captured.query_string else "")


@bp.get("/bins/<bin_id>")
def bin_show(bin_id: str) -> str:
    """The bin page: ingest URL, live list, filters, and the selected request's detail."""
    found = load_bin(bin_id)
    context = list_context(found)
    selected = request.args.get("request", type=int)
    detail = None
    if selected is not None:
        captured = listing.get_request(db.session, found.id, selected)
        if captured is not None:
            detail = detail_context(found, captured)
    return render_template(
        "pages/bin.html",
        **context,
        detail=detail,
        limits=limits(),
        ingest_url=ingest_url(found.id),
        catalog=current_catalog(),
    )


@bp.get("/bins/<bin_id>/requests")
def request_list(bin_id: str) -> Response:
    """The filtered list (partial for htmx, the page otherwise)."""
    found = load_bin(bin_id)
    if not is_fragment_request():
        return varies(bin_show(bin_id))
    return fragment("partials/_request_list.html", **list_context(found))


@bp.get("/bins/<bin_id>/requests/poll")
def request_poll(bin_id: str) -> Response | tuple[str, int]:
    """New rows since the cursor plus a fresh poller; 286 stops polling for a gone bin."""
    found = lifecycle.get_active_bin(db.session, bin_id, utcnow())
    if found is None:
        return "", STOP_POLLING
    if not can_access(found):
        abort(404, description="no such bin, or it has expired")
    filters = listing.parse_filter(
        request.args.get("method"),
        request.args.get("event"),
        request.args.get("validation"),
        request.args.get("q"),
    )
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


@bp.get("/bins/<bin_id>/requests/<int:request_id>")
def request_show(bin_id: str, request_id: int) -> ResponseReturnValue:
    """The detail pane (partial) or the bin page with this request selected."""
    found = load_bin(bin_id)
    captured = listing.get_request(db.session, found.id, request_id)
    if captured is None:
        abort(404, description="no such request in this bin")
    if not is_fragment_request():
        return varies(redirect(url_for("inspector.bin_show", bin_id=bin_id, request=request_id)))
    return fragment("partials/_request_detail.html", detail=detail_context(found, captured))


@bp.delete("/bins/<bin_id>/requests/<int:request_id>")
def request_delete(bin_id: str, request_id: int) -> str:
    """Delete one request: an empty detail pane, and the row removed out of band."""
    found = load_bin(bin_id)
    if not retention.delete_request(db.session, found.id, request_id):
        abort(404, description="no such request in this bin")
    db.session.commit()
    return render_template("partials/_request_deleted.html", bin=found, request_id=request_id)


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
    response = redirect(url_for("inspector.home"), code=303)
    response.headers["HX-Redirect"] = url_for("inspector.home")
    return response


@bp.post("/bins/<bin_id>/settings")
def bin_settings_update(bin_id: str) -> tuple[str, int] | str:
    """Change the custom response, the expected event and the signature check from the form."""
    found = load_bin(bin_id)
    try:
        changes = settings_from_form(request.form)
        lifecycle.apply_settings(
            found, changes, max_delay_ms=current_app.config["RECEIVER_MAX_RESPONSE_DELAY_MS"]
        )
    except (lifecycle.BinError, ValueError) as error:
        db.session.rollback()
        message = error.message if isinstance(error, lifecycle.BinError) else str(error)
        return settings_partial(load_bin(bin_id), message), 400
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
    headers = []
    for line in form.get("headers", "").splitlines():
        if line.strip():
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"a header line needs a colon: {line[:80]}")
            headers.append([name.strip(), value.strip()])
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
    }


def settings_partial(found: Bin, error: str | None, saved: bool = False) -> str:
    """The custom-response form, with an error or a saved notice."""
    return render_template(
        "partials/_bin_settings.html",
        bin=found,
        error=error,
        saved=saved,
        limits=limits(),
        catalog=current_catalog(),
    )


@bp.post("/bins/<bin_id>/requests/<int:request_id>/replay")
def request_replay(bin_id: str, request_id: int) -> tuple[str, int] | str:
    """Replay from the detail pane; answers the refreshed replay panel."""
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
    if form.get("resign") == "on" and found.signature_scheme and found.signature_secret:
        options["resign"] = {
            "scheme": found.signature_scheme,
            "secret": found.signature_secret,
            "header": found.signature_header,
        }
    error = None
    try:
        if form.get("edit") == "on":
            options["headers"] = header_lines(form.get("headers", ""))
            if "body" in form:
                options["body"] = edited_body(form["body"], captured.body)
        replay_request(
            db.session,
            captured,
            now=utcnow(),
            timeout=float(current_app.config["RECEIVER_REPLAY_TIMEOUT"]),
            **options,
        )
        db.session.commit()
    except (OutgoingError, ValueError) as failure:
        db.session.rollback()
        error = failure.message if isinstance(failure, OutgoingError) else str(failure)
    panel = replay_panel(found, captured, error=error, url=options["url"])
    return (panel, 400) if error else panel


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


def replay_panel(found: Bin, captured: CapturedRequest, *, error: str | None, url: str) -> str:
    """The replay form with the request's history."""
    return render_template(
        "partials/_replay_panel.html",
        detail=detail_context(found, captured),
        replay_error=error,
        replay_url=url,
    )
