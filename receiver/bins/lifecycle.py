"""Bin lifecycle: create, look up, change settings, expire.

Every time-dependent function takes ``now`` so that tests inject time instead of sleeping.
"""

from __future__ import annotations

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
RESPONSE_BODY_MAX = 64 * 1024
RESPONSE_HEADERS_MAX = 50


class BinError(ValueError):
    """A request to create or change a bin that cannot be honoured; ``code`` names the reason."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def new_bin_id() -> str:
    """A random, unguessable, URL-safe bin id."""
    return secrets.token_urlsafe(RANDOM_ID_BYTES)


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
        ``id_taken`` when it exists, ``invalid_label`` when the label is too long.
    """
    if bin_id is not None:
        if not isinstance(bin_id, str) or not READABLE_ID.fullmatch(bin_id):
            raise BinError("invalid_id", "a bin id must match [a-z0-9-]{3,64}", "id")
        if session.get(Bin, bin_id) is not None:
            raise BinError("id_taken", f"the bin id {bin_id!r} is taken", "id")
    label = label or ""
    if not isinstance(label, str) or len(label) > LABEL_MAX:
        raise BinError("invalid_label", f"a label is text of at most {LABEL_MAX} characters")
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


def _check_response_headers(value: Any) -> list[list[str]]:
    """Validate custom response headers given as pairs or a mapping."""
    if isinstance(value, dict):
        value = list(value.items())
    if not isinstance(value, list) or len(value) > RESPONSE_HEADERS_MAX:
        raise BinError(
            "invalid_settings",
            f"response.headers is a list of at most {RESPONSE_HEADERS_MAX} [name, value] pairs",
            "response.headers",
        )
    pairs: list[list[str]] = []
    for pair in value:
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise BinError("invalid_settings", "each header is a [name, value] pair")
        name, header_value = pair
        if not isinstance(name, str) or not TOKEN.fullmatch(name):
            raise BinError("invalid_settings", f"invalid header name {name!r}", "response.headers")
        if not isinstance(header_value, str) or any(c in header_value for c in "\r\n\0"):
            raise BinError("invalid_settings", f"invalid value for header {name}")
        if name.lower() in FORBIDDEN_RESPONSE_HEADERS:
            raise BinError("invalid_settings", f"the header {name} is set by the server")
        pairs.append([name, header_value])
    return pairs


def apply_settings(found: Bin, changes: dict[str, Any], *, max_delay_ms: int) -> None:
    """Apply a PATCH body (any subset of the settings) to ``found``.

    :raise BinError: ``invalid_settings`` naming the field and the rule.
    """
    unknown = set(changes) - {
        "label",
        "private",
        "provider",
        "event",
        "strict_validation",
        "response",
        "signature",
        "forward_url",
    }
    if unknown:
        raise BinError("invalid_settings", f"unknown setting(s): {', '.join(sorted(unknown))}")
    if "label" in changes:
        label = changes["label"] or ""
        if not isinstance(label, str) or len(label) > LABEL_MAX:
            raise BinError("invalid_settings", "label is text of at most 200 characters", "label")
        found.label = label
    if "private" in changes:
        if not isinstance(changes["private"], bool):
            raise BinError("invalid_settings", "private is true or false", "private")
        found.private = changes["private"]
    if "strict_validation" in changes:
        if not isinstance(changes["strict_validation"], bool):
            raise BinError("invalid_settings", "strict_validation is true or false")
        found.strict_validation = changes["strict_validation"]
    for key in ("provider", "event"):
        if key in changes:
            value = changes[key] or None
            if value is not None and (not isinstance(value, str) or len(value) > 128):
                raise BinError("invalid_settings", f"{key} is a catalog id or null", key)
            setattr(found, key, value)
    if "response" in changes:
        _apply_response(found, changes["response"], max_delay_ms)
    if "signature" in changes:
        _apply_signature(found, changes["signature"])
    if "forward_url" in changes:
        url = changes["forward_url"] or None
        if url is not None and (
            not isinstance(url, str) or not re.match(r"https?://", url) or len(url) > 2000
        ):
            raise BinError("invalid_settings", "forward_url is an http(s) URL or null")
        found.forward_url = url


def _apply_response(found: Bin, response: Any, max_delay_ms: int) -> None:
    if not isinstance(response, dict):
        raise BinError("invalid_settings", "response is an object", "response")
    unknown = set(response) - {"status", "headers", "body", "delay_ms"}
    if unknown:
        raise BinError("invalid_settings", f"unknown response field(s): {', '.join(unknown)}")
    if "status" in response:
        status = response["status"]
        # 1xx cannot end a response; werkzeug drops the body of 204 and 304 by itself
        if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
            raise BinError("invalid_settings", "response.status is 200-599", "response.status")
        found.response_status = status
    if "headers" in response:
        found.response_headers = _check_response_headers(response["headers"])
    if "body" in response:
        body = response["body"]
        if body is not None and (not isinstance(body, str) or len(body) > RESPONSE_BODY_MAX):
            raise BinError("invalid_settings", "response.body is text up to 64 KiB, or null")
        found.response_body = body
    if "delay_ms" in response:
        delay = response["delay_ms"]
        if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= max_delay_ms:
            raise BinError(
                "invalid_settings",
                f"response.delay_ms is 0-{max_delay_ms}",
                "response.delay_ms",
            )
        found.response_delay_ms = delay


def _apply_signature(found: Bin, signature: Any) -> None:
    if signature is None:
        found.signature_scheme = found.signature_secret = found.signature_header = None
        return
    if not isinstance(signature, dict):
        raise BinError("invalid_settings", "signature is an object or null", "signature")
    scheme = signature.get("scheme", found.signature_scheme)
    if scheme is not None and scheme not in SCHEME_NAMES:
        raise BinError(
            "invalid_settings",
            f"signature.scheme is one of {', '.join(SCHEME_NAMES)}",
            "signature.scheme",
        )
    secret = signature.get("secret", found.signature_secret)
    if secret is not None and (not isinstance(secret, str) or not 0 < len(secret) <= 512):
        raise BinError("invalid_settings", "signature.secret is text of 1-512 characters")
    header = signature.get("header", found.signature_header)
    if header is not None and (not isinstance(header, str) or not TOKEN.fullmatch(header)):
        raise BinError("invalid_settings", "signature.header is a header name")
    found.signature_scheme, found.signature_secret, found.signature_header = scheme, secret, header
