"""Bin lifecycle: create, look up, change settings, expire.

Every time-dependent function takes ``now`` so that tests inject time instead of sleeping.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from typing import Any

from receiver.httpspec import url_problem
from receiver.storage.db import AnySession
from receiver.storage.models import Bin

READABLE_ID = re.compile(r"[a-z0-9-]{3,64}")
RANDOM_ID_BYTES = 18  # 144 bits, 24 url-safe characters
LABEL_MAX = 200
# the widths of the bin's columns: longer values would be refused by PostgreSQL
PROVIDER_MAX = 64
EVENT_MAX = 128
SECRET_MAX = 512
SIGNATURE_HEADER_MAX = 128
FORWARD_URL_MAX = 2000
RESPONSE_BODY_MAX = 64 * 1024
RESPONSE_HEADERS_MAX = 50
# a response script is read (and decoded) under the bin's row lock by every capture of the bin,
# so it is bounded in steps and in size
SCRIPT_STEPS_MAX = 100
SCRIPT_BYTES_MAX = 256 * 1024
# secrets being rotated out that still verify
PREVIOUS_SECRETS_MAX = 5


class BinError(ValueError):
    """A request to create or change a bin that cannot be honoured; ``code`` names the reason."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def new_bin_id() -> str:
    """A random, unguessable, URL-safe bin id, never one that begins with ``-`` (a command line
    such as ``receiver scenario <id>`` would read it as an option)."""
    while True:
        made = secrets.token_urlsafe(RANDOM_ID_BYTES)
        if not made.startswith("-"):
            return made


def expiry(now: datetime, ttl_days: int) -> datetime:
    """When a bin that was active at ``now`` expires."""
    return now + timedelta(days=ttl_days)


def create_bin(
    session: AnySession,
    *,
    now: datetime,
    ttl_days: int,
    bin_id: str | None = None,
    label: str = "",
    private: bool = False,
    provider: str | None = None,
    event: str | None = None,
) -> Bin:
    """Create and flush a bin (its settings come after, through :func:`apply_settings`).

    :raise BinError: ``invalid_id`` when a chosen id does not match ``[a-z0-9-]{3,64}``,
        ``id_taken`` when it exists, ``invalid_label`` when the label is too long (the home
        page's form reaches this without the API document's check).
    """
    if bin_id is not None:
        if not READABLE_ID.fullmatch(bin_id):
            raise BinError("invalid_id", "a bin id must match [a-z0-9-]{3,64}", "id")
        if session.get(Bin, bin_id) is not None:
            raise BinError("id_taken", f"the bin id {bin_id!r} is taken", "id")
    if len(label) > LABEL_MAX:
        raise BinError("invalid_label", f"a label is text of at most {LABEL_MAX} characters")
    new = Bin(
        id=bin_id or new_bin_id(),
        label=label,
        created_at=now,
        expires_at=expiry(now, ttl_days),
        private=private,
        provider=_catalog_id(provider),
        event=_catalog_id(event),
        response_headers=[],
    )
    session.add(new)
    session.flush()
    return new


def get_active_bin(session: AnySession, bin_id: str, now: datetime) -> Bin | None:
    """The bin with this id unless it does not exist or has expired."""
    if "\x00" in bin_id:
        return None  # no bin has one: PostgreSQL refuses a NUL in a text parameter
    found = session.get(Bin, bin_id)
    if found is None or found.expires_at <= now:
        return None
    return found


def _catalog_id(value: str | None) -> str | None:
    """A provider or event id setting; empty or null means none."""
    return value or None


def response_headers(value: list[list[str]] | dict[str, str]) -> list[list[str]]:
    """Custom response headers as ``[name, value]`` pairs (a mapping gives its items in order)."""
    pairs = value.items() if isinstance(value, dict) else value
    return [[name, header_value] for name, header_value in pairs]


def answer_fields(value: dict[str, Any]) -> dict[str, Any]:
    """A response or a script step, normalised: whole numbers as ``int`` (JSON's ``200.0`` is an
    integer too), headers as pairs."""
    checked = dict(value)
    for key in ("status", "delay_ms"):
        if key in checked:
            checked[key] = int(checked[key])
    if "headers" in checked:
        checked["headers"] = response_headers(checked["headers"])
    return checked


def script_steps(script: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """A response script normalised; None clears it (as an empty list does).

    :raise BinError: ``invalid_settings`` when its steps hold more than ``SCRIPT_BYTES_MAX`` of
        JSON in all (each capture of the bin reads the script under the bin's row lock).
    """
    if not script:
        return None
    steps = [answer_fields(step) for step in script]
    if len(json.dumps(steps)) > SCRIPT_BYTES_MAX:
        raise BinError(
            "invalid_settings",
            f"response_script is at most {SCRIPT_BYTES_MAX // 1024} KiB of JSON in all",
            "response_script",
        )
    return steps


def apply_settings(found: Bin, changes: dict[str, Any]) -> None:
    """Apply a settings body (any subset of the settings) to ``found``.

    ``changes`` has been checked against the API document's ``BinSettings`` schema (types,
    bounds, names: ``exports.request_bodies``); this checks what a schema cannot say. Setting a
    response script numbers its steps from the bin's sequence as it stands when the change is
    written (an SQL expression in the UPDATE, not a value read earlier: captures may be
    committing meanwhile), so the next capture takes its first step.

    :raise BinError: ``invalid_settings``, naming the field: a forward URL that cannot be used,
        a response script too large in all.
    """
    for name, value in changes.items():
        _SETTERS[name](found, value)


def _set_label(found: Bin, label: str | None) -> None:
    found.label = label or ""


def _set_private(found: Bin, private: bool) -> None:
    found.private = private


def _set_strict(found: Bin, strict: bool) -> None:
    found.strict_validation = strict


def _set_provider(found: Bin, provider: str | None) -> None:
    found.provider = _catalog_id(provider)


def _set_event(found: Bin, event: str | None) -> None:
    found.event = _catalog_id(event)


def _set_response(found: Bin, response: dict[str, Any]) -> None:
    checked = answer_fields(response)
    if "status" in checked:
        found.response_status = checked["status"]
    if "headers" in checked:
        found.response_headers = checked["headers"]
    if "body" in checked:
        found.response_body = checked["body"]
    if "delay_ms" in checked:
        found.response_delay_ms = checked["delay_ms"]


def _set_script(found: Bin, script: list[dict[str, Any]] | None) -> None:
    steps = script_steps(script)
    found.response_script = steps
    if steps is not None:
        # written as an expression: the base is the sequence as it stands under the row lock
        found.script_base_seq = Bin.last_seq


def _set_signature(found: Bin, signature: dict[str, Any] | None) -> None:
    """A new signature check; a field left out keeps its stored value, null clears them all."""
    if signature is None:
        found.signature_scheme = found.signature_secret = found.signature_header = None
        found.signature_previous_secrets = None
        return
    found.signature_scheme = signature.get("scheme", found.signature_scheme)
    found.signature_secret = signature.get("secret", found.signature_secret)
    found.signature_header = signature.get("header", found.signature_header)
    previous = signature.get("previous_secrets", found.signature_previous_secrets)
    found.signature_previous_secrets = previous or None


def _set_forward_url(found: Bin, url: str | None) -> None:
    if url:
        problem = url_problem(url)
        if problem is not None:
            raise BinError("invalid_settings", f"forward_url {problem}", "forward_url")
    found.forward_url = url or None


_SETTERS: dict[str, Callable[[Bin, Any], None]] = {
    "label": _set_label,
    "private": _set_private,
    "strict_validation": _set_strict,
    "provider": _set_provider,
    "event": _set_event,
    "response": _set_response,
    "response_script": _set_script,
    "signature": _set_signature,
    "forward_url": _set_forward_url,
}
# the settings a bin has, in the order the API document lists them
SETTINGS = tuple(_SETTERS)


def remaining_script(found: Bin) -> list[dict[str, Any]]:
    """The steps of a bin's response script that no capture has taken yet."""
    script = found.response_script or []
    taken = max(0, (found.last_seq or 0) - (found.script_base_seq or 0))
    return script[taken:]
