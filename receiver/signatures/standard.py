"""Standard Webhooks (https://www.standardwebhooks.com).

``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (space-separated ``v1,<base64>``
entries), HMAC-SHA256 over ``{id}.{timestamp}.{body}``. The secret is ``whsec_<base64>``; like
the reference library (``standardwebhooks`` on PyPI) the prefix is optional and the rest is
always base64-decoded.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from receiver.signatures.common import FAILED
from receiver.signatures.common import MISSING
from receiver.signatures.common import UNIX_DIGITS
from receiver.signatures.common import Headers
from receiver.signatures.common import SignatureResult
from receiver.signatures.common import b64
from receiver.signatures.common import decode_b64
from receiver.signatures.common import first_header
from receiver.signatures.common import header_values
from receiver.signatures.common import hmac_sha256
from receiver.signatures.common import timed_verdict
from receiver.signatures.common import timestamp_problem
from receiver.signatures.common import utf8

NAME = "standard-webhooks"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
HEADERS = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
SECRET_PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    """The HMAC key for a secret, as the ``standardwebhooks`` library derives it.

    The ``whsec_`` prefix is optional; the rest is base64-decoded leniently (missing padding is
    added, characters outside the alphabet are skipped), so the same secret string gives the same
    key here as in the reference library.

    :raise ValueError: the secret is not base64, or empty after its prefix.
    """
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "==")
    except (binascii.Error, ValueError) as error:
        raise ValueError(
            "a standard-webhooks secret is whsec_ followed by base64, and this one is not base64"
        ) from error
    if not key:
        raise ValueError("the standard-webhooks secret is empty after its whsec_ prefix")
    return key


def verify(
    secret: str, headers: Headers, body: bytes, *, now: float, tolerance: int
) -> SignatureResult:
    """Verify a Standard Webhooks delivery."""
    msg_id = first_header(headers, ID_HEADER)
    timestamp = first_header(headers, TIMESTAMP_HEADER)
    signature_values = [v for v in header_values(headers, SIGNATURE_HEADER) if v]
    if msg_id is None or timestamp is None or not signature_values:
        absent = [
            name
            for name, value in (
                (ID_HEADER, msg_id),
                (TIMESTAMP_HEADER, timestamp),
                (SIGNATURE_HEADER, signature_values),
            )
            if not value
        ]
        noun = "header" if len(absent) == 1 else "headers"
        return SignatureResult(MISSING, NAME, f"missing {noun} {', '.join(absent)}")
    try:
        key = signing_key(secret)
    except ValueError as error:
        return SignatureResult(FAILED, NAME, f"the configured secret is unusable: {error}")
    if not UNIX_DIGITS.fullmatch(timestamp):
        return SignatureResult(FAILED, NAME, f"{TIMESTAMP_HEADER} is not a Unix time in seconds")

    candidates: list[bytes] = []
    malformed = 0
    for entry in " ".join(signature_values).split():
        version, comma, encoded = entry.partition(",")
        if not comma:
            malformed += 1
        elif version == "v1":
            decoded = decode_b64(encoded)
            if decoded is None:
                malformed += 1
            else:
                candidates.append(decoded)
    if not candidates:
        detail = f" ({malformed} malformed)" if malformed else ""
        return SignatureResult(
            FAILED, NAME, f"{SIGNATURE_HEADER} has no v1,<base64> signature{detail}"
        )

    expected = hmac_sha256(key, b"%s.%s.%s" % (utf8(msg_id), utf8(timestamp), body))
    problem = timestamp_problem(int(timestamp), now, tolerance)
    return timed_verdict(NAME, SIGNATURE_HEADER, expected, candidates, problem)


def sign(secret: str, body: bytes, *, timestamp: str, msg_id: str | None) -> list[tuple[str, str]]:
    """The three headers of a delivery; a new ``msg_…`` id when none is given.

    :raise ValueError: a secret that is not base64.
    """
    key = signing_key(secret)
    msg_id = msg_id or f"msg_{secrets.token_urlsafe(18)}"
    signature = b64(hmac_sha256(key, b"%s.%s.%s" % (utf8(msg_id), utf8(timestamp), body)))
    return [
        (ID_HEADER, msg_id),
        (TIMESTAMP_HEADER, timestamp),
        (SIGNATURE_HEADER, f"v1,{signature}"),
    ]


def generate_secret() -> str:
    """A fresh ``whsec_`` secret of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")
