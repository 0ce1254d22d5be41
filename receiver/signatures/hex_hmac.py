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

from receiver.signatures.common import FAILED
from receiver.signatures.common import LIST_SEPARATOR
from receiver.signatures.common import MISSING
from receiver.signatures.common import UNIX_DIGITS
from receiver.signatures.common import VERIFIED
from receiver.signatures.common import Headers
from receiver.signatures.common import SignatureResult
from receiver.signatures.common import any_equal
from receiver.signatures.common import decode_hex
from receiver.signatures.common import first_header
from receiver.signatures.common import header_values
from receiver.signatures.common import hmac_sha256
from receiver.signatures.common import timed_verdict
from receiver.signatures.common import timestamp_problem
from receiver.signatures.common import utf8

HMAC_NAME = "hmac-sha256"
HMAC_HEADER = "X-Hub-Signature-256"
STRIPE_NAME = "stripe"
STRIPE_HEADER = "Stripe-Signature"


def verify_hmac(secret: str, headers: Headers, body: bytes, *, header: str) -> SignatureResult:
    """Verify an ``X-Hub-Signature-256``-style HMAC-SHA256 hex digest of the body."""
    values = [v for v in header_values(headers, header) if v]
    if not values:
        return SignatureResult(MISSING, HMAC_NAME, f"missing header {header}")
    candidates: list[bytes] = []
    for entry in LIST_SEPARATOR.split(" ".join(values)):
        algorithm, equals, digest = entry.partition("=")
        if not equals:
            algorithm, digest = "sha256", entry
        decoded = decode_hex(digest) if algorithm.lower() == "sha256" else None
        if decoded is not None:
            candidates.append(decoded)
    if not candidates:
        return SignatureResult(FAILED, HMAC_NAME, f"{header} holds no sha256=<hex> signature")
    if any_equal(hmac_sha256(utf8(secret), body), candidates):
        return SignatureResult(
            VERIFIED, HMAC_NAME, f"the HMAC-SHA256 of the body in {header} matched"
        )
    return SignatureResult(FAILED, HMAC_NAME, f"no signature in {header} matched the body")


def sign_hmac(secret: str, body: bytes, *, header: str) -> list[tuple[str, str]]:
    """The ``sha256=<hex>`` header of a body."""
    return [(header, f"sha256={hmac_sha256(utf8(secret), body).hex()}")]


def verify_stripe(
    secret: str, headers: Headers, body: bytes, *, now: float, tolerance: int
) -> SignatureResult:
    """Verify a ``Stripe-Signature`` header."""
    value = first_header(headers, STRIPE_HEADER)
    if value is None:
        return SignatureResult(MISSING, STRIPE_NAME, f"missing header {STRIPE_HEADER}")
    timestamp: str | None = None
    candidates: list[bytes] = []
    for item in value.split(","):
        key, equals, field = item.strip().partition("=")
        if not equals:
            continue
        if key == "t" and timestamp is None:
            timestamp = field.strip()
        elif key == "v1":
            decoded = decode_hex(field.strip())
            if decoded is not None:
                candidates.append(decoded)
    if timestamp is None:
        return SignatureResult(FAILED, STRIPE_NAME, f"{STRIPE_HEADER} has no t= timestamp")
    if not UNIX_DIGITS.fullmatch(timestamp):
        return SignatureResult(
            FAILED, STRIPE_NAME, f"{STRIPE_HEADER} t= is not a Unix time in seconds"
        )
    if not candidates:
        return SignatureResult(FAILED, STRIPE_NAME, f"{STRIPE_HEADER} has no v1=<hex> signature")

    # like stripe-python, the signed payload carries the timestamp as a normalised integer
    seconds = int(timestamp)
    expected = hmac_sha256(utf8(secret), b"%d.%s" % (seconds, body))
    problem = timestamp_problem(seconds, now, tolerance)
    return timed_verdict(STRIPE_NAME, STRIPE_HEADER, expected, candidates, problem)


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
