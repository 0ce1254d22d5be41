"""What an agent reads of a captured request, and the cursor behind ``wait_for_request``.

Decisions:

- A capture comes back in one piece, led by a one-line summary: method, sub-path and query,
  headers as ``[name, value]`` pairs in the order they were sent, the body (text when it is
  UTF-8 text, base64 otherwise; at most ``max_body_bytes`` of it, with ``body_truncated``), the
  detected event, the verdict with its errors by JSON Pointer path, the signature result with the
  lab's reason, and what the bin answered. Nothing needs a second call to be understood.
- The cursor is the capture's number in its bin (``seq``), the change feed's: numbers become
  visible strictly in the order they were given, on SQLite and on PostgreSQL with any number of
  server processes, so asking for those above the last one returned never misses a capture that
  committed meanwhile. Per bin, the last capture returned is remembered, and the next wait
  continues after it: two captures that arrive between two calls come back one per call, oldest
  first.
- The filters the feed knows (event, path prefix) are applied by the server; method and verdict
  here. The cursor moves to the capture returned, past those before it that did not match
  (counted in ``passed_over``); a wait that times out leaves it where it was.
- A server that cannot be reached, or is failing, is asked again until the wait's deadline: a
  receiver server restarted during a wait loses nothing.
- A wait its client gave up on (cancelled, or past the client's own timeout) stops at its next
  step and moves no cursor, even when a capture arrived meanwhile: the next call gets that one.
  The MCP server marks each call in `CALL_CANCELLED` (tool calls run on worker threads, which see
  the calling task's context variables).
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import threading
import time
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from receiver.capture.bodies import text_head
from receiver.mcp.api import ReceiverAPI
from receiver.mcp.api import ReceiverError
from receiver.mcp.api import ServerUnavailable
from receiver.mcp.api import bin_path

# the longest one feed poll is held (the server holds at most 30 s)
POLL_SECONDS = 25
FEED_PAGE = 20
# pauses while the server cannot be reached or is busy
FIRST_PAUSE = 0.25
MAX_PAUSE = 2.0
SUMMARY_ERRORS = 3
# set for the tool call under way when its client cancels it or stops waiting for it
CALL_CANCELLED: ContextVar[threading.Event | None] = ContextVar(
    "receiver_mcp_call_cancelled", default=None
)
log = logging.getLogger(__name__)


class CallCancelled(ReceiverError):
    """The client gave up on the call: nothing it found may be taken as delivered."""


def check_cancelled() -> None:
    """:raise CallCancelled: the client gave up on the tool call under way."""
    event = CALL_CANCELLED.get()
    if event is not None and event.is_set():
        raise CallCancelled("the client cancelled the call")


@dataclass(frozen=True)
class Filters:
    """Which captures a wait wants; None matches anything."""

    method: str | None = None
    path_prefix: str | None = None
    event: str | None = None
    verdict: str | None = None

    def matches(self, item: dict[str, Any]) -> bool:
        """Whether a capture from the feed passes the filters applied here (the server has
        applied the event and path prefix already)."""
        if self.method is not None and str(item.get("method", "")).upper() != self.method.upper():
            return False
        verdict = (item.get("validation") or {}).get("status")
        return self.verdict is None or verdict == self.verdict

    def describe(self) -> str:
        """``request`` or ``request matching method='POST' and verdict='invalid'``."""
        given = [f"{name}={value!r}" for name, value in vars(self).items() if value is not None]
        return "request matching " + " and ".join(given) if given else "request"


class Cursors:
    """The last capture number returned per bin, shared by the tool calls of one process."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, bin_id: str) -> int:
        with self._lock:
            return self._seen.get(bin_id, 0)

    def set(self, bin_id: str, seq: int) -> None:
        with self._lock:
            self._seen[bin_id] = seq


def wait_for_capture(
    api: ReceiverAPI,
    bin_id: str,
    *,
    after: int,
    filters: Filters,
    timeout: float,
) -> tuple[dict[str, Any], dict[str, int]]:
    """The first capture numbered above ``after`` that matches ``filters``, waiting up to
    ``timeout`` seconds for one, and what the wait passed: ``passed_over`` (captures that did not
    match), ``removed`` (numbers whose captures were evicted or deleted before they were read)
    and ``captures_after`` (captures numbered after the one returned, already in the bin).

    :raise ReceiverError: nothing matched in time (the message says where the cursor stays),
        the server refused (a missing bin, a refused token), or it could not be reached until
        the deadline.
    """
    deadline = time.monotonic() + timeout
    position = after
    removed = 0
    failures = 0
    params: list[tuple[str, str | int]] = []
    if filters.event:
        params.append(("event", filters.event))
    if filters.path_prefix:
        params.append(("path_prefix", filters.path_prefix))
    while True:
        check_cancelled()
        # whole seconds (the feed's unit), rounded up: a poll never asks again at once
        hold = min(math.ceil(max(0.0, deadline - time.monotonic())), POLL_SECONDS)
        try:
            page = api.call(
                "GET",
                bin_path(bin_id, "/feed"),
                bin_id=bin_id,
                params=[("after", position), ("limit", FEED_PAGE), ("wait", hold), *params],
                timeout=hold + 15.0,
            )
        except ServerUnavailable as problem:
            failures += 1
            if time.monotonic() >= deadline:
                raise ReceiverError(
                    f"{problem} (waited {timeout:g} s; the cursor stays at capture #{after}: "
                    "call again once the server is back)"
                ) from None
            time.sleep(
                min(
                    FIRST_PAUSE * 2 ** (failures - 1),
                    MAX_PAUSE,
                    max(0.0, deadline - time.monotonic()),
                )
            )
            continue
        failures = 0
        removed += int(page.get("removed") or 0)
        for item in page.get("requests") or []:
            if filters.matches(item):
                seq = int(item["seq"])
                latest = int(page.get("latest") or seq)
                # numbers are given without gaps: those between the cursor and this capture
                # that were not removed are captures the filters passed over
                return item, {
                    "passed_over": max(0, seq - after - 1 - removed),
                    "removed": removed,
                    "captures_after": max(0, latest - seq),
                }
            position = max(position, int(item["seq"]))
        position = max(position, int(page.get("next") or position))
        if time.monotonic() >= deadline:
            break
        if not page.get("requests") and page.get("retry_after"):
            time.sleep(min(float(page["retry_after"]), max(0.0, deadline - time.monotonic())))
    passed = max(0, position - after - removed)
    others = f"; {passed} other capture{'' if passed == 1 else 's'} arrived" if passed else ""
    raise ReceiverError(
        f"timed out: no {filters.describe()} arrived in bin {bin_id} within {timeout:g} s "
        f"after capture #{after}{others}. The cursor stays at #{after}: the next call "
        "continues from there (a longer timeout, or other filters, may find it)"
    )


def capture_view(item: dict[str, Any], *, max_body: int, raw_url: str) -> dict[str, Any]:
    """A captured request (the API's shape) as an agent reads it, body bounded to ``max_body``
    bytes; ``raw_url`` is where the exact bytes can be downloaded."""
    view: dict[str, Any] = {"summary": summary(item)}
    for name in ("id", "seq", "bin_id", "received_at", "method", "path", "query_string"):
        view[name] = item.get(name)
    view["headers"] = [list(pair) for pair in item.get("headers") or []]
    view["content_type"] = item.get("content_type")
    view["size"] = item.get("size")
    if "body_base64" in item:
        view.update(body_view(item, max_body))
        view["raw_url"] = raw_url
    view["event"] = item.get("event")
    view["validation"] = item.get("validation")
    view["signature"] = item.get("signature")
    view["response"] = item.get("response")
    return view


def body_view(item: dict[str, Any], max_body: int) -> dict[str, Any]:
    """``body`` (text, or base64 when it is not UTF-8 text), ``body_encoding`` and
    ``body_truncated`` of a capture whose ``body_base64`` holds all of its body or its head."""
    try:
        data = base64.b64decode(item.get("body_base64") or "", validate=True)
    except (binascii.Error, ValueError):
        data = b""
    size = int(item.get("size") or len(data))
    shown = data[:max_body]
    complete = len(shown) >= size
    text = text_head(shown, complete=complete)
    if text is not None:
        return {"body": text, "body_encoding": "text", "body_truncated": not complete}
    return {
        "body": base64.b64encode(shown).decode("ascii"),
        "body_encoding": "base64",
        "body_truncated": not complete,
    }


def summary(item: dict[str, Any]) -> str:
    """One line: what arrived, what it was taken for, its verdict, signature and answer."""
    target = str(item.get("path") or "/")
    if item.get("query_string"):
        target += "?" + str(item["query_string"])
    parts = [
        f"#{item.get('seq')} {item.get('method')} {target[:200]} "
        f"({item.get('content_type') or 'no content type'}, {item.get('size')} bytes)"
    ]
    event = item.get("event") or {}
    if event.get("event"):
        parts.append(f"event {event.get('provider')}/{event.get('event')}")
    elif event.get("candidates"):
        parts.append(f"event one of {', '.join(map(str, event['candidates']))}")
    else:
        parts.append("event not detected")
    validation = item.get("validation") or {}
    parts.append(verdict_text(validation))
    signature = item.get("signature") or {}
    if signature.get("status") and signature["status"] != "not_configured":
        reason = f" ({signature['reason']})" if signature.get("reason") else ""
        parts.append(f"signature {signature['status']}{reason}")
    response = item.get("response") or {}
    if response.get("status"):
        parts.append(f"answered {response['status']}")
    return "; ".join(parts)


def verdict_text(validation: dict[str, Any]) -> str:
    """``invalid: 2 errors: /a: … [keyword]; /b: …`` (the first few), or the bare verdict."""
    status = validation.get("status") or "unknown"
    errors: Sequence[dict[str, Any]] = validation.get("errors") or []
    if not errors:
        return status
    shown = "; ".join(
        f"{error.get('path') or '(root)'}: {error.get('message')} [{error.get('keyword')}]"
        for error in errors[:SUMMARY_ERRORS]
    )
    more = f"; and {len(errors) - SUMMARY_ERRORS} more" if len(errors) > SUMMARY_ERRORS else ""
    return f"{status}: {len(errors)} error{'' if len(errors) == 1 else 's'}: {shown}{more}"
