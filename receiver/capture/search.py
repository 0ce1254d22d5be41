"""The text a search finds a capture by: its path and query (raw and decoded), its headers, and
the start of its body (decoded, and a form's fields decoded too).

Stored in the database's own text index (see the ``request_search`` table in the migrations), so
a search answers from the index instead of scanning every capture of a bin.
"""

from __future__ import annotations

import re
from urllib.parse import unquote
from urllib.parse import unquote_plus

from receiver.capture.request import RawRequest
from receiver.capture.request import header_value

# how much of a body is searchable: the index costs capture time in proportion
SEARCHED_BODY = 64 * 1024
FORM = "application/x-www-form-urlencoded"
# text inside a binary body: four or more printable ASCII characters in a row
PRINTABLE_RUN = re.compile(rb"[\x20-\x7e]{4,}")


def search_text(raw: RawRequest, decoded_body: bytes) -> str:
    """The searchable text of a capture (``decoded_body`` is the body with its encoding undone)."""
    parts = [raw.path]
    decoded_path = unquote(raw.path, errors="replace")
    if decoded_path != raw.path:
        parts.append(decoded_path)
    if raw.query_string:
        parts.append(raw.query_string)
        decoded_query = unquote_plus(raw.query_string, errors="replace")
        if decoded_query != raw.query_string:
            parts.append(decoded_query)
    parts += [f"{name}: {value}" for name, value in raw.headers]
    body = body_text(decoded_body[:SEARCHED_BODY])
    if body:
        parts.append(body)
        media = (header_value(raw.headers, "Content-Type") or "").split(";", 1)[0].strip()
        if media.lower() == FORM:
            parts.append(unquote_plus(body, errors="replace"))
    # a database text column holds no NUL (PostgreSQL refuses it), and nobody searches for one
    return "\n".join(parts).replace("\x00", " ")


def body_text(head: bytes) -> str:
    """The head of a body as text when it is UTF-8 (a character cut at the end is dropped);
    for anything else, the runs of printable ASCII in it, as ``strings`` would show them."""
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start >= len(head) - 3:
            return head[: error.start].decode("utf-8")
    return " ".join(run.decode("ascii") for run in PRINTABLE_RUN.findall(head))
