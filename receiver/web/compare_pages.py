"""Compare two captures in the inspector: pick two requests of a bin, see what differs (the same
comparison as ``GET /api/bins/<id>/compare``). The pickers and the address carry ``a`` and
``b``; the comparison partial answers htmx, the page includes it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import abort
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from receiver.capture import listing
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest
from receiver.web.access import load_bin
from receiver.web.api.compare import REQUEST_ID
from receiver.web.api.compare import compare_captures
from receiver.web.converters import ID_MAX
from receiver.web.htmx import fragment
from receiver.web.htmx import is_fragment_request
from receiver.web.htmx import varies

bp = Blueprint("compare", __name__)
CHOICES = 100  # the newest captures the pickers offer (and the two being compared)


def chosen_id(name: str) -> int | None:
    """``a`` or ``b`` from the address, None when not given.

    :raise 400: not a request id.
    """
    value = request.args.get(name, "")
    if not value:
        return None
    if not REQUEST_ID.fullmatch(value) or int(value) > ID_MAX:
        abort(400, description=f"{name} is the id of a request of this bin")
    return int(value)


def neighbour(bin_id: str, request_id: int | None, *, older: bool) -> int | None:
    """The capture just before (``older``) or after ``request_id`` in the bin (the newest when
    ``request_id`` is None); ids grow in capture order within a bin."""
    query = select(CapturedRequest.id).where(CapturedRequest.bin_id == bin_id)
    if request_id is not None:
        query = query.where(
            CapturedRequest.id < request_id if older else CapturedRequest.id > request_id
        )
    order = CapturedRequest.id.desc() if older or request_id is None else CapturedRequest.id
    return db.session.scalar(query.order_by(order).limit(1))


def pair(bin_id: str) -> tuple[int | None, int | None]:
    """The two captures to compare: as given, else a capture and the one before it (the newest
    and the one before, when neither is given)."""
    first, second = chosen_id("a"), chosen_id("b")
    if second is None:
        second = neighbour(bin_id, first, older=False) if first is not None else None
        if second is None:
            second = neighbour(bin_id, None, older=True)
    if first is None and second is not None:
        first = neighbour(bin_id, second, older=True)
    return first, second


def choices(found: Bin, *chosen: int | None) -> list[CapturedRequest]:
    """What the pickers offer: the newest captures, and the chosen ones if they are older."""
    offered = list(listing.list_requests(db.session, found.id, limit=CHOICES).requests)
    known = {item.id for item in offered}
    for request_id in chosen:
        if request_id is not None and request_id not in known:
            extra = listing.get_request_head(db.session, found.id, request_id, 0)
            if extra is not None:
                offered.append(extra[0])
                known.add(request_id)
    return offered


@bp.get("/bins/<bin_id>/compare")
def compare_show(bin_id: str) -> ResponseReturnValue:
    """The comparison page (or, for htmx, the comparison of the two picked)."""
    found = load_bin(bin_id)
    first_id, second_id = pair(found.id)
    context: dict[str, Any] = {"bin": found, "first": None, "second": None, "result": None}
    if first_id is not None and second_id is not None:
        first, second, result = compare_captures(found.id, first_id, second_id)
        context.update(first=first, second=second, result=result)
    if is_fragment_request():
        response = fragment("partials/_comparison.html", **context)
        response.headers["HX-Push-Url"] = url_for(
            "compare.compare_show", bin_id=found.id, a=first_id, b=second_id
        )
        return response
    return varies(
        render_template(
            "pages/compare.html",
            **context,
            choices=choices(found, first_id, second_id),
            first_id=first_id,
            second_id=second_id,
        )
    )
