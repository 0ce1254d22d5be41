"""HMAC-SHA256 hex digests: GitHub-style ``X-Hub-Signature-256`` and Stripe-style
``Stripe-Signature``.

``hmac-sha256``
    ``X-Hub-Signature-256: sha256=<hex>`` (a bare hex digest is accepted too), HMAC-SHA256 over
    the body with the secret's UTF-8 bytes. The header name is configurable.
``stripe``
    ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``, HMAC-SHA256 over ``{t}.{body}`` keyed
    with the secret's UTF-8 bytes as given (Stripe's ``whsec_...`` secrets are *not*
    base64-decoded, unlike Standard Webhooks': see stripe-python ``WebhookSignature``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from receiver.signatures.common import FAILED
from receiver.signatures.common import LIST_SEPARATOR
from receiver.signatures.common import MISSING
from receiver.signatures.common import UNIX_DIGITS
from receiver.signatures.common import VERIFIED
from receiver.signatures.common import Headers
from receiver.signatures.common import Key
from receiver.signatures.common import Lab
from receiver.signatures.common import Received
from receiver.signatures.common import SignatureResult
from receiver.signatures.common import count_received
from receiver.signatures.common import decode_hex
from receiver.signatures.common import explain_mismatch
from receiver.signatures.common import first_header
from receiver.signatures.common import header_values
from receiver.signatures.common import hmac_sha256
from receiver.signatures.common import match_key
from receiver.signatures.common import raw_key_readings
from receiver.signatures.common import rotated
from receiver.signatures.common import secret_label
from receiver.signatures.common import timed_verdict
from receiver.signatures.common import timestamp_facts
from receiver.signatures.common import timestamp_problem
from receiver.signatures.common import utf8

HMAC_NAME = "hmac-sha256"
HMAC_HEADER = "X-Hub-Signature-256"
STRIPE_NAME = "stripe"
STRIPE_HEADER = "Stripe-Signature"


def _keys(configured: Sequence[str]) -> tuple[list[Key], list[Key]]:
    """The configured secrets as keys (their UTF-8 text), and the other readings of them."""
    keys = [Key(secret_label(i), utf8(secret)) for i, secret in enumerate(configured)]
    readings = [
        reading
        for i, secret in enumerate(configured)
        for reading in raw_key_readings(secret_label(i), secret)
    ]
    return keys, readings


def verify_hmac(
    configured: Sequence[str], headers: Headers, body: bytes, *, header: str
) -> SignatureResult:
    """Verify an ``X-Hub-Signature-256``-style HMAC-SHA256 hex digest of the body."""
    values = [v for v in header_values(headers, header) if v]
    if not values:
        return SignatureResult(MISSING, HMAC_NAME, f"missing header {header}")
    lab = Lab()
    lab.show_signed(b"", body)
    candidates: list[Received] = []
    for entry in LIST_SEPARATOR.split(" ".join(values)):
        if not entry:
            continue
        algorithm, equals, digest = entry.partition("=")
        if not equals:
            algorithm, digest = "sha256", entry
        received = Received(entry, None)
        lab.received.append(received)
        if algorithm.lower() != "sha256":
            received.note = f"{algorithm[:20]}= is not the sha256= this scheme checks"
        elif (decoded := decode_hex(digest)) is None:
            received.note = "not a hex digest"
        else:
            received.decoded = decoded
            candidates.append(received)
    if not candidates:
        lab.findings.extend(dict.fromkeys(e.note for e in lab.received if e.note))
        return lab.result(FAILED, HMAC_NAME, f"{header} holds no sha256=<hex> signature")
    keys, readings = _keys(configured)
    lab.expected = [
        {"key": key.label, "signature": f"sha256={hmac_sha256(key.key, body).hex()}"}
        for key in keys
    ]
    matched = match_key(keys, candidates, lambda key: hmac_sha256(key, body))
    if matched is not None:
        return lab.result(
            VERIFIED,
            HMAC_NAME,
            f"the HMAC-SHA256 of the body in {header} matched" + rotated(matched),
        )
    lab.findings.extend(
        explain_mismatch(keys, readings, candidates, body, lambda key, b: hmac_sha256(key, b))
    )
    reason = f"no signature in {header} matched the body"
    if counted := count_received(lab.received, header):
        reason += f" ({counted})"
    if lab.findings:
        reason += f"; {lab.findings[0]}"
    return lab.result(FAILED, HMAC_NAME, reason)


def sign_hmac(secret: str, body: bytes, *, header: str) -> list[tuple[str, str]]:
    """The ``sha256=<hex>`` header of a body."""
    return [(header, f"sha256={hmac_sha256(utf8(secret), body).hex()}")]


def verify_stripe(
    configured: Sequence[str], headers: Headers, body: bytes, *, now: float, tolerance: int
) -> SignatureResult:
    """Verify a ``Stripe-Signature`` header."""
    value = first_header(headers, STRIPE_HEADER)
    if value is None:
        return SignatureResult(MISSING, STRIPE_NAME, f"missing header {STRIPE_HEADER}")
    lab = Lab()
    timestamp: str | None = None
    candidates: list[Received] = []
    for item in value.split(","):
        key, equals, field = item.strip().partition("=")
        if not equals:
            continue
        if key == "t" and timestamp is None:
            timestamp = field.strip()
        elif key.startswith("v"):
            received = Received(item.strip(), None)
            lab.received.append(received)
            decoded = decode_hex(field.strip())
            if key != "v1":
                received.note = f"{key[:20]}= is not the v1= this scheme checks"
            elif decoded is None:
                received.note = "not a hex digest"
            else:
                received.decoded = decoded
                candidates.append(received)
    if timestamp is None:
        return SignatureResult(FAILED, STRIPE_NAME, f"{STRIPE_HEADER} has no t= timestamp")
    if not UNIX_DIGITS.fullmatch(timestamp):
        return SignatureResult(
            FAILED, STRIPE_NAME, f"{STRIPE_HEADER} t= is not a Unix time in seconds"
        )
    # like stripe-python, the signed payload carries the timestamp as a normalised integer
    seconds = int(timestamp)
    head = b"%d." % seconds
    lab.show_signed(head, body)
    lab.timestamp = timestamp_facts(seconds, now, tolerance)
    if not candidates:
        lab.findings.extend(dict.fromkeys(e.note for e in lab.received if e.note))
        return lab.result(FAILED, STRIPE_NAME, f"{STRIPE_HEADER} has no v1=<hex> signature")
    keys, readings = _keys(configured)
    lab.expected = [
        {"key": key.label, "signature": f"t={seconds},v1={hmac_sha256(key.key, head + body).hex()}"}
        for key in keys
    ]
    matched = match_key(keys, candidates, lambda key: hmac_sha256(key, head + body))
    problem = timestamp_problem(seconds, now, tolerance)
    return timed_verdict(
        lab,
        STRIPE_NAME,
        STRIPE_HEADER,
        matched,
        problem,
        lambda: explain_mismatch(
            keys, readings, candidates, body, lambda key, b: hmac_sha256(key, head + b)
        ),
    )


def sign_stripe(secret: str, body: bytes, *, timestamp: str) -> list[tuple[str, str]]:
    """The ``t=…,v1=…`` header of a body at ``timestamp``."""
    digest = hmac_sha256(utf8(secret), b"%s.%s" % (utf8(timestamp), body)).hex()
    return [(STRIPE_HEADER, f"t={timestamp},v1={digest}")]


def generate_hmac_secret() -> str:
    """A fresh random secret of 32 bytes as hex."""
    return secrets.token_hex(32)


def generate_stripe_secret() -> str:
    """A fresh ``whsec_`` secret in the form Stripe's dashboard shows."""
    return "whsec_" + secrets.token_hex(16)
