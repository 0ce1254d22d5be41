"""All bins: in a team deployment (``RECEIVER_ACCESS_TOKEN`` set), a page that lists every bin of
the deployment with its request count and last activity, searched by label, in keyset pages.

Without a team token the page does not exist (404): an open deployment never lists bins that
this browser did not create or hold a token for (a bin's unguessable id is its privacy). Private
bins are listed only to a browser holding one of their tokens, as everywhere else.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import abort
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue

from receiver.bins import directory
from receiver.storage.db import db
from receiver.storage.models import utcnow
from receiver.web.access import can_access
from receiver.web.access import recent_bins
from receiver.web.htmx import fragment
from receiver.web.htmx import is_fragment_request
from receiver.web.htmx import varies
from receiver.web.team import access_token

bp = Blueprint("directory", __name__)


def held_private_ids() -> list[str]:
    """The bins this browser holds a token for (its recent-bins cookie), which may be private."""
    return [bin_id for bin_id, token in recent_bins() if token]


@bp.get("/bins")
def bin_directory() -> ResponseReturnValue:
    """The page (or, for htmx, the list after a search, or the rows of the next page)."""
    if not access_token():
        abort(404, description="this receiver lists only the bins this browser knows")
    words = directory.search_words(request.args.get("q"))
    before = None
    if request.args.get("before"):
        try:
            before = directory.Cursor.parse(request.args["before"])
        except directory.CursorError as error:
            abort(400, description=str(error))
    page = directory.list_bins(
        db.session,
        now=utcnow(),
        also_private=held_private_ids(),
        label=words,
        before=before,
        limit=directory.PAGE_SIZE,
    )
    # a held token may be stale (regenerated since): a private bin shows only if it still opens
    shown = [found for found in page.bins if not found.private or can_access(found)]
    searched: dict[str, Any] = {"q": words} if words else {}
    more = page.next and url_for("directory.bin_directory", before=str(page.next), **searched)
    context = {"bins": shown, "next_url": more or None, "q": words or ""}
    if not is_fragment_request():
        return varies(render_template("pages/bins.html", **context))
    if before is not None:
        return fragment("partials/_bin_directory_rows.html", **context)
    response = fragment("partials/_bin_directory.html", **context)
    response.headers["HX-Push-Url"] = url_for("directory.bin_directory", **searched)
    return response
