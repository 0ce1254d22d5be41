"""The JSON shapes scripts rely on (PRODUCT.md): bins and captured requests."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from receiver.bins.responses import kept_answer
from receiver.capture.bodies import as_text
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest
from receiver.storage.models import Replay
from receiver.web.urls import ingest_url
from receiver.web.urls import inspect_url


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with microseconds and a Z."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def bin_json(found: Bin) -> dict[str, Any]:
    """A bin as the API shows it; the signing secret is never echoed in full."""
    signature: dict[str, Any] = {
        "scheme": found.signature_scheme,
        "header": found.signature_header,
        "secret_set": bool(found.signature_secret),
    }
    return {
        "id": found.id,
        "label": found.label,
        "private": found.private,
        "created_at": iso(found.created_at),
        "expires_at": iso(found.expires_at),
        "last_request_at": iso(found.last_request_at),
        "request_count": found.request_count,
        "ingest_url": ingest_url(found.id),
        "inspect_url": inspect_url(found.id),
        "provider": found.provider,
        "event": found.event,
        "strict_validation": found.strict_validation,
        "response": {
            "status": found.response_status,
            "headers": [list(pair) for pair in found.response_headers or []],
            "body": found.response_body,
            "delay_ms": found.response_delay_ms,
        },
        "signature": signature,
        "forward_url": found.forward_url,
    }


def request_json(captured: CapturedRequest, *, with_body: bool) -> dict[str, Any]:
    """A captured request; the list leaves out the body fields."""
    shape: dict[str, Any] = {
        "id": captured.id,
        "bin_id": captured.bin_id,
        "seq": captured.seq,
        "received_at": iso(captured.received_at),
        "method": captured.method,
        "path": captured.path,
        "query_string": captured.query_string,
        "headers": [list(pair) for pair in captured.headers],
        "content_type": captured.content_type,
        "size": captured.size,
        "remote_addr": captured.remote_addr,
        "event": {
            "provider": captured.event_provider,
            "event": captured.event_id,
            "candidates": (captured.validation or {}).get("candidates", []),
        },
        "validation": captured.validation
        or {
            "status": captured.validation_status,
            "provider": None,
            "event": None,
            "candidates": [],
            "errors": [],
            "warnings": [],
        },
        "signature": captured.signature
        or {"status": "not_configured", "scheme": None, "reason": None},
        # what the bin answered (null for captures older than the record of answers)
        "response": kept_answer(captured.response, captured.id),
    }
    if with_body:
        shape["body_text"] = as_text(captured.body)
        shape["body_base64"] = base64.b64encode(captured.body).decode("ascii")
    return shape


def replay_json(replay: Replay) -> dict[str, Any]:
    """A replay or forward attempt as the API shows it."""
    body = replay.response_body or b""
    return {
        "id": replay.id,
        "request_id": replay.request_id,
        "kind": replay.kind,
        "url": replay.url,
        "method": replay.method,
        "request_headers": [list(pair) for pair in replay.request_headers or []],
        "status_code": replay.status_code,
        "response_headers": [list(pair) for pair in replay.response_headers or []],
        "response_body": as_text(body),
        "response_body_base64": base64.b64encode(body).decode("ascii"),
        "elapsed_ms": replay.elapsed_ms,
        "error": replay.error,
        "created_at": iso(replay.created_at),
    }
