"""What a bin answers: a strict bin's rejection, the next step of its response script, its custom
response, or the default ``{"ok": true, "request_id": ...}``.

The answer is decided inside the capture's own transaction, from the bin's settings as they are
under its row lock there: a response script is a list of answers that the next captures take in
order, one step each, across every worker and server. Step ``k`` of a script set when the bin's
sequence stood at ``base`` answers the capture numbered ``base + k + 1``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# headers a custom response may not set: the server computes them, or they would break framing
# ingest shares the inspector's origin, so no cookie or site-data header either
FORBIDDEN_RESPONSE_HEADERS = {
    "set-cookie",
    "set-cookie2",
    "clear-site-data",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "trailer",
    "te",
}
# how much of an answer's body is kept with each capture
KEPT_BODY = 4096


@dataclass(frozen=True)
class AnswerSettings:
    """A bin's answer settings, as read under its row lock in the capture's transaction."""

    status: int
    headers: list[list[str]]
    body: str | None
    delay_ms: int
    script: list[dict[str, Any]] | None
    script_base_seq: int


@dataclass(frozen=True)
class BinResponse:
    """What a bin answers to one captured request; ``step`` is the script step that answered,
    ``default`` whether it is the default answer (kept as nothing: it is known from the id)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    delay_ms: int
    step: int | None = None
    default: bool = False

    def stored(self) -> dict[str, Any] | None:
        """The form kept with the capture: None for the default answer, else the answer with its
        body as text, at most ``KEPT_BODY`` characters."""
        if self.default:
            return None
        text = self.body.decode("utf-8", "replace")
        return {
            "status": self.status,
            "headers": [list(pair) for pair in self.headers],
            "body": text[:KEPT_BODY],
            "body_size": len(self.body),
            "delay_ms": self.delay_ms,
            "step": self.step,
        }


def default_body(request_id: int) -> bytes:
    """The default answer's body."""
    return b'{"ok": true, "request_id": "%d"}' % request_id


def kept_answer(stored: dict[str, Any] | None, request_id: int) -> dict[str, Any] | None:
    """What a capture was answered, from what was kept with it (None when it was not recorded,
    for captures older than the record of answers)."""
    if stored is None:
        body = default_body(request_id)
        return {
            "status": 200,
            "headers": [["Content-Type", "application/json"]],
            "body": body.decode("ascii"),
            "body_size": len(body),
            "delay_ms": 0,
            "step": None,
        }
    if stored.get("unknown"):
        return None
    return stored


def answer(
    settings: AnswerSettings,
    *,
    seq: int,
    request_id: int,
    max_delay_ms: int,
    rejection: dict[str, Any] | None = None,
) -> BinResponse:
    """The answer to the capture numbered ``seq``.

    ``rejection`` is the verdict a strict bin refuses (then the answer is a 422 with it); a
    script step is taken either way, so each capture takes exactly one.
    """
    index = seq - settings.script_base_seq - 1
    script = settings.script or []
    step = script[index] if 0 <= index < len(script) else None
    if rejection is not None:
        return strict_rejection(request_id, rejection, None if step is None else index)
    if step is None and _is_default(settings):
        return BinResponse(
            200, [("Content-Type", "application/json")], default_body(request_id), 0, None, True
        )
    status = settings.status
    headers: list[list[str]] | list[tuple[str, str]] = settings.headers or []
    body = settings.body
    delay = settings.delay_ms
    if step is not None:
        # a step replaces the fields it names; the others are the bin's own
        status = int(step.get("status", status))
        headers = step.get("headers", headers) or []
        body = step.get("body", body)
        delay = int(step.get("delay_ms", delay))
    pairs = [
        (str(name), str(value))
        for name, value in headers
        if str(name).lower() not in FORBIDDEN_RESPONSE_HEADERS
    ]
    if body is None:
        raw = default_body(request_id)
        if not any(name.lower() == "content-type" for name, _ in pairs):
            pairs.append(("Content-Type", "application/json"))
    else:
        raw = body.encode("utf-8")
    delay = max(0, min(delay, max_delay_ms))
    return BinResponse(status, pairs, raw, delay, None if step is None else index)


def _is_default(settings: AnswerSettings) -> bool:
    return (
        settings.status == 200
        and not settings.headers
        and settings.body is None
        and settings.delay_ms <= 0
    )


def strict_rejection(request_id: int, verdict: dict[str, Any], step: int | None) -> BinResponse:
    """A strict bin's answer to a payload it refuses: 422 with the verdict (still stored)."""
    errors = verdict.get("errors") or []
    status = verdict.get("status")
    if status == "invalid":
        message = f"the payload breaks {len(errors)} rule(s) of its documented schema"
    elif status == "unknown_event":
        message = "the payload is not a documented event of the catalog this bin checks against"
    else:
        message = "the body is not the JSON event this bin expects"
    body = {
        "error": {"code": "invalid_payload", "message": message},
        "request_id": str(request_id),
        "validation": verdict,
    }
    return BinResponse(
        status=422,
        headers=[("Content-Type", "application/json")],
        body=json.dumps(body).encode("utf-8"),
        delay_ms=0,
        step=step,
    )
