"""Bin lifecycle: create, look up, change settings, expire.

Every time-dependent function takes ``now`` so that tests inject time instead of sleeping.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime
from datetime import timedelta
from typing import Any

from receiver.bins.responses import FORBIDDEN_RESPONSE_HEADERS
from receiver.httpspec import TOKEN
from receiver.signatures.registry import SCHEME_NAMES
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
# an absolute http(s) URL with a host and no white space (the OpenAPI document's pattern)
FORWARD_URL = re.compile(r"https?://[^\s/?#]+\S*")
RESPONSE_BODY_MAX = 64 * 1024
RESPONSE_HEADERS_MAX = 50
# a response script is read (and decoded) under the bin's row lock by every capture of the bin,
# so it is bounded in steps and in size
SCRIPT_STEPS_MAX = 100
SCRIPT_BYTES_MAX = 256 * 1024
# secrets being rotated out that still verify
PREVIOUS_SECRETS_MAX = 5
SETTINGS = (
    "label",
    "private",
    "provider",
    "event",
    "strict_validation",
    "response",
    "response_script",
    "signature",
    "forward_url",
)
RESPONSE_FIELDS = ("status", "headers", "body", "delay_ms")
SIGNATURE_FIELDS = ("scheme", "secret", "header", "previous_secrets")


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
    """Create and flush a bin.

    :raise BinError: ``invalid_id`` when a chosen id does not match ``[a-z0-9-]{3,64}``,
        ``id_taken`` when it exists, ``invalid_label`` when the label is not text or too long,
        ``invalid_settings`` for a provider or event id that is not text or too long.
    """
    if bin_id is not None:
        if not isinstance(bin_id, str) or not READABLE_ID.fullmatch(bin_id):
            raise BinError("invalid_id", "a bin id must match [a-z0-9-]{3,64}", "id")
        if session.get(Bin, bin_id) is not None:
            raise BinError("id_taken", f"the bin id {bin_id!r} is taken", "id")
    if label is None:
        label = ""
    if not isinstance(label, str) or len(label) > LABEL_MAX:
        raise BinError("invalid_label", f"a label is text of at most {LABEL_MAX} characters")
    provider = _catalog_id(provider, "provider", PROVIDER_MAX)
    event = _catalog_id(event, "event", EVENT_MAX)
    new = Bin(
        id=bin_id or new_bin_id(),
        label=label,
        created_at=now,
        expires_at=expiry(now, ttl_days),
        private=bool(private),
        provider=provider,
        event=event,
        response_headers=[],
    )
    session.add(new)
    session.flush()
    return new


def get_active_bin(session: AnySession, bin_id: str, now: datetime) -> Bin | None:
    """The bin with this id unless it does not exist or has expired."""
    found = session.get(Bin, bin_id)
    if found is None or found.expires_at <= now:
        return None
    return found


def whole_number(value: Any) -> int | None:
    """``value`` as an int when it is a JSON integer (``5`` or ``5.0``: JSON Schema counts both
    as integers), else None; booleans are not numbers here."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _catalog_id(value: Any, key: str, maximum: int) -> str | None:
    """A provider or event id setting: text up to the column's width; empty or null means none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > maximum:
        raise BinError(
            "invalid_settings",
            f"{key} is a catalog id of at most {maximum} characters, or null",
            key,
        )
    return value


def _check_response_headers(value: Any, field: str = "response.headers") -> list[list[str]]:
    """Validate custom response headers given as pairs or a mapping."""
    if isinstance(value, dict):
        value = list(value.items())
    if not isinstance(value, list) or len(value) > RESPONSE_HEADERS_MAX:
        raise BinError(
            "invalid_settings",
            f"{field} is a list of at most {RESPONSE_HEADERS_MAX} [name, value] pairs",
            field,
        )
    pairs: list[list[str]] = []
    for pair in value:
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise BinError("invalid_settings", f"each header of {field} is a [name, value] pair")
        name, header_value = pair
        if not isinstance(name, str) or not TOKEN.fullmatch(name):
            raise BinError("invalid_settings", f"invalid header name {name!r} in {field}", field)
        if not isinstance(header_value, str) or any(c in header_value for c in "\r\n\0"):
            raise BinError("invalid_settings", f"invalid value for header {name} in {field}")
        if name.lower() in FORBIDDEN_RESPONSE_HEADERS:
            raise BinError("invalid_settings", f"the header {name} is set by the server")
        pairs.append([name, header_value])
    return pairs


def apply_settings(found: Bin, changes: dict[str, Any], *, max_delay_ms: int) -> None:
    """Apply a PATCH body (any subset of the settings) to ``found``.

    Setting a response script numbers its steps from the bin's sequence as it stands when the
    change is written (an SQL expression in the UPDATE, not a value read earlier: captures may be
    committing meanwhile), so the next capture takes its first step.

    :raise BinError: ``invalid_settings`` naming the field and the rule.
    """
    unknown = set(changes) - set(SETTINGS)
    if unknown:
        raise BinError("invalid_settings", f"unknown setting(s): {', '.join(sorted(unknown))}")
    if "label" in changes:
        label = changes["label"]
        if label is None:
            label = ""
        if not isinstance(label, str) or len(label) > LABEL_MAX:
            raise BinError(
                "invalid_settings", f"label is text of at most {LABEL_MAX} characters", "label"
            )
        found.label = label
    if "private" in changes:
        if not isinstance(changes["private"], bool):
            raise BinError("invalid_settings", "private is true or false", "private")
        found.private = changes["private"]
    if "strict_validation" in changes:
        if not isinstance(changes["strict_validation"], bool):
            raise BinError(
                "invalid_settings", "strict_validation is true or false", "strict_validation"
            )
        found.strict_validation = changes["strict_validation"]
    if "provider" in changes:
        found.provider = _catalog_id(changes["provider"], "provider", PROVIDER_MAX)
    if "event" in changes:
        found.event = _catalog_id(changes["event"], "event", EVENT_MAX)
    if "response" in changes:
        _apply_response(found, changes["response"], max_delay_ms)
    if "response_script" in changes:
        _apply_script(found, changes["response_script"], max_delay_ms)
    if "signature" in changes:
        _apply_signature(found, changes["signature"])
    if "forward_url" in changes:
        url = changes["forward_url"]
        if url == "":
            url = None
        if url is not None and (
            not isinstance(url, str) or not FORWARD_URL.fullmatch(url) or len(url) > FORWARD_URL_MAX
        ):
            raise BinError(
                "invalid_settings", "forward_url is an http(s) URL or null", "forward_url"
            )
        found.forward_url = url


def _answer_fields(value: Any, field: str, max_delay_ms: int) -> dict[str, Any]:
    """The checked fields of a response or of a script step (only those given)."""
    if not isinstance(value, dict):
        raise BinError("invalid_settings", f"{field} is an object", field)
    unknown = set(value) - set(RESPONSE_FIELDS)
    if unknown:
        raise BinError(
            "invalid_settings",
            f"unknown {field} field(s): {', '.join(sorted(map(str, unknown)))}",
            field,
        )
    checked: dict[str, Any] = {}
    if "status" in value:
        status = whole_number(value["status"])
        # 1xx cannot end a response; werkzeug drops the body of 204 and 304 by itself
        if status is None or not 200 <= status <= 599:
            raise BinError("invalid_settings", f"{field}.status is 200-599", f"{field}.status")
        checked["status"] = status
    if "headers" in value:
        checked["headers"] = _check_response_headers(value["headers"], f"{field}.headers")
    if "body" in value:
        body = value["body"]
        if body is not None and (not isinstance(body, str) or len(body) > RESPONSE_BODY_MAX):
            raise BinError(
                "invalid_settings", f"{field}.body is text up to 64 KiB, or null", f"{field}.body"
            )
        checked["body"] = body
    if "delay_ms" in value:
        delay = whole_number(value["delay_ms"])
        if delay is None or not 0 <= delay <= max_delay_ms:
            raise BinError(
                "invalid_settings",
                f"{field}.delay_ms is 0-{max_delay_ms}",
                f"{field}.delay_ms",
            )
        checked["delay_ms"] = delay
    return checked


def _apply_response(found: Bin, response: Any, max_delay_ms: int) -> None:
    checked = _answer_fields(response, "response", max_delay_ms)
    if "status" in checked:
        found.response_status = checked["status"]
    if "headers" in checked:
        found.response_headers = checked["headers"]
    if "body" in checked:
        found.response_body = checked["body"]
    if "delay_ms" in checked:
        found.response_delay_ms = checked["delay_ms"]


def check_script(script: Any, *, max_delay_ms: int) -> list[dict[str, Any]] | None:
    """A response script checked and normalised (header mappings become pairs); None clears.

    :raise BinError: not a list of step objects, too many steps or too large, or a step whose
        field breaks the rule it would break in ``response``.
    """
    if script is None or script == []:
        return None
    if not isinstance(script, list) or len(script) > SCRIPT_STEPS_MAX:
        raise BinError(
            "invalid_settings",
            f"response_script is a list of at most {SCRIPT_STEPS_MAX} steps, or null",
            "response_script",
        )
    steps = [
        _answer_fields(step, f"response_script[{index}]", max_delay_ms)
        for index, step in enumerate(script)
    ]
    if len(json.dumps(steps)) > SCRIPT_BYTES_MAX:
        raise BinError(
            "invalid_settings",
            f"response_script is at most {SCRIPT_BYTES_MAX // 1024} KiB of JSON in all",
            "response_script",
        )
    return steps


def _apply_script(found: Bin, script: Any, max_delay_ms: int) -> None:
    steps = check_script(script, max_delay_ms=max_delay_ms)
    found.response_script = steps
    if steps is not None:
        # written as an expression: the base is the sequence as it stands under the row lock
        found.script_base_seq = Bin.last_seq


def remaining_script(found: Bin) -> list[dict[str, Any]]:
    """The steps of a bin's response script that no capture has taken yet."""
    script = found.response_script or []
    taken = max(0, (found.last_seq or 0) - (found.script_base_seq or 0))
    return script[taken:]


def _apply_signature(found: Bin, signature: Any) -> None:
    if signature is None:
        found.signature_scheme = found.signature_secret = found.signature_header = None
        found.signature_previous_secrets = None
        return
    if not isinstance(signature, dict):
        raise BinError("invalid_settings", "signature is an object or null", "signature")
    unknown = set(signature) - set(SIGNATURE_FIELDS)
    if unknown:
        raise BinError(
            "invalid_settings",
            f"unknown signature field(s): {', '.join(sorted(map(str, unknown)))}",
            "signature",
        )
    scheme = signature.get("scheme", found.signature_scheme)
    if scheme is not None and scheme not in SCHEME_NAMES:
        raise BinError(
            "invalid_settings",
            f"signature.scheme is one of {', '.join(SCHEME_NAMES)}",
            "signature.scheme",
        )
    secret = signature.get("secret", found.signature_secret)
    if secret is not None and not _is_secret(secret):
        raise BinError(
            "invalid_settings",
            f"signature.secret is text of 1-{SECRET_MAX} characters",
            "signature.secret",
        )
    header = signature.get("header", found.signature_header)
    if header is not None and (
        not isinstance(header, str)
        or len(header) > SIGNATURE_HEADER_MAX
        or not TOKEN.fullmatch(header)
    ):
        raise BinError(
            "invalid_settings",
            f"signature.header is a header name of at most {SIGNATURE_HEADER_MAX} characters",
            "signature.header",
        )
    previous = signature.get("previous_secrets", found.signature_previous_secrets)
    if previous == []:
        previous = None
    if previous is not None and (
        not isinstance(previous, list)
        or len(previous) > PREVIOUS_SECRETS_MAX
        or not all(_is_secret(value) for value in previous)
    ):
        raise BinError(
            "invalid_settings",
            f"signature.previous_secrets is a list of at most {PREVIOUS_SECRETS_MAX} secrets "
            f"(text of 1-{SECRET_MAX} characters each), or null",
            "signature.previous_secrets",
        )
    found.signature_scheme, found.signature_secret, found.signature_header = scheme, secret, header
    found.signature_previous_secrets = previous


def _is_secret(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= SECRET_MAX
