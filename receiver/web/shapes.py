"""The JSON shapes scripts rely on (documented in receiver/exports/openapi/api.json): bins and
captured requests."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from flask import current_app

from receiver.bins.lifecycle import remaining_script
from receiver.bins.responses import kept_answer
from receiver.bins.tokens import OWNER
from receiver.bins.tokens import Role
from receiver.bins.tokens import bin_token
from receiver.capture.bodies import HEAD_BYTES
from receiver.capture.bodies import as_text
from receiver.capture.bodies import text_head
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest
from receiver.storage.models import Replay
from receiver.web.access import share_path
from receiver.web.urls import ingest_url
from receiver.web.urls import inspect_url
from receiver.web.urls import public_base

BODY_MODES = ("full", "head", "none")


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with microseconds and a Z."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def bin_json(found: Bin, role: Role) -> dict[str, Any]:
    """A bin as the API shows it to a caller with ``role``; the signing secret is never echoed.

    A private bin is only ever shown to a holder of one of its tokens. Its ``inspect_url`` is
    its read-only share link, which opens it in any browser; its owner's answer also carries
    the owner's ``token`` (current version), a share link holder's does not.
    """
    signature: dict[str, Any] = {
        "scheme": found.signature_scheme,
        "header": found.signature_header,
        "secret_set": bool(found.signature_secret),
        "previous_secret_count": len(found.signature_previous_secrets or []),
    }
    shape = {
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
        # the steps no capture has taken yet
        "response_script": remaining_script(found),
        "signature": signature,
        "forward_url": found.forward_url,
        "access": role,
    }
    if found.private:
        shape["inspect_url"] = public_base() + share_path(found)
        if role == OWNER:
            secret = current_app.config["SECRET_KEY"]
            shape["token"] = bin_token(secret, found.id, found.token_version)
    return shape


def request_json(
    captured: CapturedRequest, *, with_body: bool, body: str = "full", head: bytes | None = None
) -> dict[str, Any]:
    """A captured request; the list leaves out the body fields.

    ``body`` says how much of the body the detail carries: ``full``, ``head`` (the first
    ``HEAD_BYTES``, given as ``head``, with ``body_truncated``) or ``none`` (no body fields).
    """
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
    if with_body and body == "full":
        shape["body_text"] = as_text(captured.body)
        shape["body_base64"] = base64.b64encode(captured.body).decode("ascii")
    elif with_body and body == "head":
        data = head if head is not None else bytes(captured.body[:HEAD_BYTES])
        truncated = len(data) < captured.size
        shape["body_text"] = text_head(data, complete=not truncated)
        shape["body_base64"] = base64.b64encode(data).decode("ascii")
        shape["body_truncated"] = truncated
    return shape


def replay_json(replay: Replay) -> dict[str, Any]:
    """A replay or forward attempt as the API shows it."""
    body = replay.response_body or b""
    return {
        "id": replay.id,
        "request_id": replay.request_id,
        "kind": replay.kind,
        "listener": replay.listener_name,
        "scenario_id": replay.scenario_id,
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
