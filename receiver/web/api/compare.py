"""Compare two captures of a bin: ``GET /api/bins/<id>/compare?a=<request id>&b=<request id>``.

Each body is loaded up to the comparison's bound (``compare.BODY_MAX``), decoded as the detail
shows it (Content-Encoding undone, within the same bound); whether the whole bodies are equal
is decided on the raw bytes.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from flask import Response
from flask import abort
from flask import jsonify
from flask import request

from receiver.capture import compare
from receiver.capture import listing
from receiver.capture.bodies import decode_body
from receiver.capture.request import header_value
from receiver.storage.db import db
from receiver.storage.models import CapturedRequest
from receiver.web.access import load_bin
from receiver.web.api.common import ApiError
from receiver.web.api.common import bp
from receiver.web.converters import ID_MAX
from receiver.web.shapes import iso

REQUEST_ID = re.compile(r"[0-9]{1,19}")


def capture_side(bin_id: str, request_id: int) -> tuple[CapturedRequest, compare.Side, bytes]:
    """A capture of the bin as compared, and the raw head of its body that was loaded.

    :raise 404: no such request in this bin.
    """
    loaded = listing.get_request_head(db.session, bin_id, request_id, compare.BODY_MAX)
    if loaded is None:
        abort(404, description=f"no request {request_id} in this bin")
    captured, head = loaded
    encoding = header_value(captured.headers, "Content-Encoding")
    if encoding and len(head) < captured.size:  # smaller than what it decodes to: all of it
        captured, head = listing.get_request_head(db.session, bin_id, request_id, None) or loaded
    decoded = decode_body(head, encoding, limit=compare.BODY_MAX)
    complete = len(head) >= captured.size and not decoded.truncated
    side = compare.Side(
        captured.method,
        captured.path,
        captured.query_string,
        captured.headers,
        decoded.data,
        complete,
    )
    return captured, side, head


def same_raw_body(
    bin_id: str, first: tuple[CapturedRequest, bytes], second: tuple[CapturedRequest, bytes]
) -> bool:
    """Whether two captures' raw bodies are the same bytes, reading them whole only when their
    sizes are equal and their loaded heads do not settle it."""
    (one, one_head), (other, other_head) = first, second
    if one.size != other.size or one_head[: len(other_head)] != other_head[: len(one_head)]:
        return False
    if len(one_head) >= one.size and len(other_head) >= other.size:
        return one_head == other_head
    whole = [listing.get_request_head(db.session, bin_id, item.id, None) for item in (one, other)]
    return whole[0] is not None and whole[1] is not None and whole[0][1] == whole[1][1]


def compare_captures(
    bin_id: str, first_id: int, second_id: int
) -> tuple[CapturedRequest, CapturedRequest, compare.Comparison]:
    """Two captures of the bin and what differs between them.

    :raise 404: either is not in this bin.
    """
    first, first_side, first_head = capture_side(bin_id, first_id)
    second, second_side, second_head = capture_side(bin_id, second_id)
    same = same_raw_body(bin_id, (first, first_head), (second, second_head))
    return first, second, compare.compare(first_side, second_side, same_body=same)


def capture_summary(captured: CapturedRequest) -> dict[str, Any]:
    """Which capture a side is."""
    return {
        "id": captured.id,
        "seq": captured.seq,
        "method": captured.method,
        "path": captured.path,
        "received_at": iso(captured.received_at),
        "size": captured.size,
    }


def comparison_json(
    first: CapturedRequest, second: CapturedRequest, result: compare.Comparison
) -> dict[str, Any]:
    """The comparison as the API shows it."""
    body = asdict(result.body)
    body["sizes"] = list(result.body.sizes)
    body["windows"] = None if result.body.windows is None else list(result.body.windows)
    return {
        "a": capture_summary(first),
        "b": capture_summary(second),
        "same": result.same,
        "request": [asdict(change) for change in result.request],
        "headers": [asdict(change) for change in result.headers],
        "headers_truncated": result.headers_truncated,
        "body": body,
    }


def request_id_arg(name: str) -> int:
    """A request id from the query (``a`` or ``b``).

    :raise ApiError: missing, or not an id.
    """
    value = request.args.get(name, "")
    if not REQUEST_ID.fullmatch(value) or int(value) > ID_MAX:
        raise ApiError(400, "invalid_request", f"{name} is the id of a request of this bin")
    return int(value)


@bp.get("/bins/<bin_id>/compare")
def request_compare(bin_id: str) -> Response:
    """What differs between two captures of the bin (``a`` first, ``b`` second)."""
    found = load_bin(bin_id)
    first_id, second_id = request_id_arg("a"), request_id_arg("b")
    first, second, result = compare_captures(found.id, first_id, second_id)
    return jsonify(comparison_json(first, second, result))
