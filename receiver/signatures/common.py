"""What every signature scheme shares: the result shape, its statuses, and byte-level helpers.

Pure functions over header pairs and body bytes; a verification never raises on what arrived
over the wire: garbage headers are a ``failed`` result with a reason in words.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

VERIFIED = "verified"
FAILED = "failed"
MISSING = "missing"
NOT_CONFIGURED = "not_configured"
# every signature status, in the order the API documents them
STATUSES = (VERIFIED, FAILED, MISSING, NOT_CONFIGURED)

DEFAULT_TOLERANCE = 300

HEX = re.compile(r"[0-9a-fA-F]+")
# a Unix time in seconds, as the timestamped schemes send it
UNIX_DIGITS = re.compile(r"[0-9]{1,15}")
# separators between several signatures in one header value
LIST_SEPARATOR = re.compile(r"[,\s]+")

Headers = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class SignatureResult:
    """The outcome of checking one request's signature against a bin's settings."""

    status: str
    scheme: str | None
    reason: str | None

    def to_dict(self) -> dict[str, str | None]:
        """The JSON shape ``{status, scheme, reason}``."""
        return {"status": self.status, "scheme": self.scheme, "reason": self.reason}


def utf8(text: str) -> bytes:
    """Text as UTF-8, keeping lone surrogates rather than raising on hostile input."""
    return text.encode("utf-8", "surrogatepass")


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message``."""
    return hmac.new(key, message, hashlib.sha256).digest()


def b64(raw: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(raw).decode("ascii")


def unix_seconds(now: datetime) -> float:
    """``now`` as Unix seconds; a naive datetime is taken to be UTC."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.timestamp()


def header_values(headers: Headers, name: str) -> list[str]:
    """Every value of header ``name`` (case-insensitive), in order, stripped."""
    wanted = name.lower()
    return [value.strip() for key, value in headers if key.lower() == wanted]


def first_header(headers: Headers, name: str) -> str | None:
    """The first non-empty value of header ``name``, or None."""
    for value in header_values(headers, name):
        if value:
            return value
    return None


def any_equal(expected: bytes, candidates: Sequence[bytes]) -> bool:
    """Compare ``expected`` with every candidate in constant time; true if one matches."""
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    return matched


def decode_hex(text: str) -> bytes | None:
    """A hex digest decoded, or None when it is not hex."""
    if len(text) % 2 or not HEX.fullmatch(text):
        return None
    return bytes.fromhex(text)


def decode_b64(text: str) -> bytes | None:
    """Strict standard base64 decoded, or None when it is not."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def timestamp_problem(timestamp: int, now: float, tolerance: int) -> str | None:
    """Describe a signed timestamp outside ``tolerance`` seconds of ``now``, or return None."""
    age = now - timestamp
    if age > tolerance:
        return f"timestamp is {int(age)} s old, beyond the {tolerance} s tolerance"
    if -age > tolerance:
        return f"timestamp is {int(-age)} s in the future, beyond the {tolerance} s tolerance"
    return None


def timed_verdict(
    scheme: str, header: str, expected: bytes, candidates: Sequence[bytes], problem: str | None
) -> SignatureResult:
    """The verdict of a timestamped scheme: a match, and a timestamp within the tolerance."""
    if not any_equal(expected, candidates):
        reason = f"no v1 signature in {header} matched"
        if problem:
            reason += f"; the {problem}"
        return SignatureResult(FAILED, scheme, reason)
    if problem:
        return SignatureResult(FAILED, scheme, f"signature matches but the {problem}")
    return SignatureResult(VERIFIED, scheme, "a v1 signature matched")
