"""What every signature scheme shares: the result shape, its statuses, byte-level helpers, and
the signature lab's diagnosis of a signature that does not match.

Pure functions over header pairs and body bytes; a verification never raises on what arrived
over the wire: garbage headers are a ``failed`` result with a reason in words.

The lab: when no signature matches, the HMAC schemes try what commonly goes wrong, in this
order, and say which one explains the mismatch: the body with its trailing newline removed or
added (something between the sender's signing and this capture changed the last byte), then the
secret read another way (a ``whsec_`` secret used as raw text, a raw secret base64-decoded, or
the other way round). Every result carries ``details``: the content the scheme signs (its body
part cut at ``SIGNED_BODY_PREVIEW`` bytes), the signature each configured key expects, each
received signature and whether it was tried, the timestamp's distance from the clock, and the
findings in words. No secret is ever part of a result.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import Any

VERIFIED = "verified"
FAILED = "failed"
MISSING = "missing"
NOT_CONFIGURED = "not_configured"
# every signature status, in the order the API documents them
STATUSES = (VERIFIED, FAILED, MISSING, NOT_CONFIGURED)

DEFAULT_TOLERANCE = 300
# how much of the body the shown signed content carries, and of each received value
SIGNED_BODY_PREVIEW = 256
RECEIVED_PREVIEW = 200
# how many received signatures are listed (a hostile header may carry thousands)
RECEIVED_LISTED = 20

HEX = re.compile(r"[0-9a-fA-F]+")
# a Unix time in seconds, as the timestamped schemes send it
UNIX_DIGITS = re.compile(r"[0-9]{1,15}")
# separators between several signatures in one header value
LIST_SEPARATOR = re.compile(r"[,\s]+")

Headers = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class SignatureResult:
    """The outcome of checking one request's signature against a bin's settings.

    ``details`` is the lab's account (see the module docstring), None when nothing was checked.
    """

    status: str
    scheme: str | None
    reason: str | None
    details: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape ``{status, scheme, reason, details}``."""
        return {
            "status": self.status,
            "scheme": self.scheme,
            "reason": self.reason,
            "details": self.details,
        }


@dataclass(frozen=True)
class Key:
    """A key to try: the configured secret it comes from, and how it was read.

    ``misreading`` is None for the scheme's own reading of the secret; for another reading it
    says, in words, what a match under it means.
    """

    label: str
    key: bytes
    misreading: str | None = None


@dataclass
class Received:
    """One signature found in the request, and what became of it."""

    value: str
    decoded: bytes | None
    status: str = "skipped"
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        shown = self.value[:RECEIVED_PREVIEW] + ("…" if len(self.value) > RECEIVED_PREVIEW else "")
        return {"value": shown, "status": self.status, "note": self.note}


@dataclass
class Lab:
    """What a verification learnt, gathered into ``details``."""

    signed_content: str | None = None
    signed_content_truncated: bool = False
    expected: list[dict[str, str]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    timestamp: dict[str, int] | None = None
    findings: list[str] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        listed = self.received[:RECEIVED_LISTED]
        return {
            "signed_content": self.signed_content,
            "signed_content_truncated": self.signed_content_truncated,
            "expected": self.expected,
            "received": [entry.to_dict() for entry in listed],
            "received_total": len(self.received),
            "timestamp": self.timestamp,
            "findings": self.findings,
        }

    def result(self, status: str, scheme: str, reason: str) -> SignatureResult:
        return SignatureResult(status, scheme, reason, self.details())

    def show_signed(self, before: bytes, body: bytes, after: bytes = b"") -> None:
        """Record the signed content: ``before + body + after``, the body cut for display."""
        cut = len(body) > SIGNED_BODY_PREVIEW
        shown = before + body[:SIGNED_BODY_PREVIEW] + (b"" if cut else after)
        text = shown.decode("utf-8", "backslashreplace")
        self.signed_content = text + ("…" if cut else "")
        self.signed_content_truncated = cut


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


def secret_label(index: int) -> str:
    """How the ``index``-th configured secret is named: the current one, then previous ones."""
    return "the bin's secret" if index == 0 else f"previous secret {index}"


def timestamp_problem(timestamp: int, now: float, tolerance: int) -> str | None:
    """Describe a signed timestamp outside ``tolerance`` seconds of ``now``, or return None.

    Says by how much, and which way: an old timestamp is a late or replayed delivery, or a
    sender's clock that runs slow; one in the future is a sender's clock that runs fast.
    """
    age = now - timestamp
    if age > tolerance:
        return (
            f"timestamp is {int(age)} s old, {int(age - tolerance)} s beyond the {tolerance} s "
            "tolerance (a late or replayed delivery, or the sender's clock is behind)"
        )
    if -age > tolerance:
        return (
            f"timestamp is {int(-age)} s in the future, {int(-age - tolerance)} s beyond the "
            f"{tolerance} s tolerance (the sender's clock is ahead of this server's)"
        )
    return None


def timestamp_facts(timestamp: int, now: float, tolerance: int) -> dict[str, int]:
    """The timestamp, its distance from ``now`` (negative: in the past) and the tolerance."""
    return {"value": timestamp, "skew_seconds": int(timestamp - now), "tolerance": tolerance}


def newline_variants(body: bytes) -> list[tuple[str, bytes]]:
    """The body as a sender may have signed it before its last byte changed on the way."""
    variants = []
    if body.endswith(b"\r\n"):
        variants.append(("without the trailing CRLF this request carries", body[:-2]))
    elif body.endswith(b"\n"):
        variants.append(("without the trailing newline this request carries", body[:-1]))
    variants.append(("with a trailing newline this request does not carry", body + b"\n"))
    return variants


NEWLINE_ADVICE = (
    "the body changed after it was signed (a proxy, a framework or a test client that "
    "re-serialises it, or a file read with or without its last newline): sign and send the "
    "same bytes"
)


def raw_key_readings(label: str, secret: str) -> list[Key]:
    """Other readings of a secret that a scheme uses as raw text: base64 or hex decoded."""
    readings = []
    text = secret.removeprefix("whsec_")
    decoded = decode_b64(text) or decode_b64(text + "=" * (-len(text) % 4))
    if decoded:
        prefix = "the part after whsec_ of " if text != secret else ""
        readings.append(
            Key(
                label,
                decoded,
                f"the sender base64-decoded {prefix}{label} (as Standard Webhooks does); this "
                "scheme uses the secret's text as it is",
            )
        )
    if (raw := decode_hex(secret)) is not None:
        readings.append(
            Key(
                label,
                raw,
                f"the sender hex-decoded {label}; this scheme uses the secret's text as it is",
            )
        )
    return readings


def match_key(
    keys: Sequence[Key], candidates: Sequence[Received], sign: Callable[[bytes], bytes]
) -> Key | None:
    """The first key whose signature of the message is among the usable candidates.

    ``sign(key)`` gives the signature a key makes; every candidate tried is marked.
    """
    found: Key | None = None
    for key in keys:
        expected = sign(key.key)
        for candidate in candidates:
            if candidate.decoded is None:
                continue
            if candidate.status == "skipped":
                candidate.status = "no match"
            if hmac.compare_digest(expected, candidate.decoded) and found is None:
                candidate.status = "matched"
                candidate.note = f"made with {key.label}"
                found = key
    return found


def explain_mismatch(
    keys: Sequence[Key],
    readings: Sequence[Key],
    candidates: Sequence[Received],
    body: bytes,
    sign_body: Callable[[bytes, bytes], bytes],
) -> list[str]:
    """Why no candidate matched, in words: a changed trailing newline, a secret read another
    way, or (when neither explains it) a different secret or a changed body.

    ``sign_body(key, body)`` gives the signature a key makes over the scheme's message built
    around ``body``.
    """
    usable = [candidate.decoded for candidate in candidates if candidate.decoded is not None]
    if not usable:
        return []
    for words, variant in newline_variants(body):
        for key in keys:
            if any_equal(sign_body(key.key, variant), usable):
                return [f"the signature matches the body {words}: {NEWLINE_ADVICE}"]
    for key in readings:
        if any_equal(sign_body(key.key, body), usable):
            return [f"the signature matches when {key.misreading}"]
    tried = ", ".join(dict.fromkeys(key.label for key in keys))
    return [
        f"no received signature matches {tried}: the sender signs with another secret, or the "
        "body changed on the way (compare the signed content with what the sender signed)"
    ]


def count_received(candidates: Sequence[Received], header: str) -> str:
    """``"3 signatures in X (2 tried, 1 skipped)"``, or ``""`` for a single tried one."""
    tried = sum(1 for c in candidates if c.status != "skipped")
    skipped = len(candidates) - tried
    if len(candidates) <= 1 and not skipped:
        return ""
    parts = [f"{tried} tried"] + ([f"{skipped} skipped"] if skipped else [])
    return f"{len(candidates)} signatures in {header} ({', '.join(parts)})"


def timed_verdict(
    lab: Lab,
    scheme: str,
    header: str,
    matched: Key | None,
    problem: str | None,
    findings: Callable[[], list[str]],
    version: str = "v1",
) -> SignatureResult:
    """The verdict of a timestamped scheme: a match, and a timestamp within the tolerance."""
    if matched is None:
        lab.findings.extend(findings())
        reason = f"no {version} signature in {header} matched"
        counted = count_received(lab.received, header)
        if counted:
            reason += f" ({counted})"
        if problem:
            reason += f"; the {problem}"
        if lab.findings:
            reason += f"; {lab.findings[0]}"
        return lab.result(FAILED, scheme, reason)
    if problem:
        lab.findings.append(f"the {problem}")
        return lab.result(FAILED, scheme, f"signature matches but the {problem}")
    return lab.result(VERIFIED, scheme, f"a {version} signature matched" + rotated(matched))


def rotated(key: Key) -> str:
    """A note for a match made with a previous (rotating-out) secret."""
    if key.label.startswith("previous"):
        return f" with {key.label} (being rotated out)"
    return ""
