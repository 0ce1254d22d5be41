"""Qovery: not an HMAC, the webhook's secret itself travels in a header.

Qovery's OpenAPI spec names the header ``Qovery-Signature``, its documentation
``Qovery-Secret``; either is accepted. Unverified against a real delivery.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence

from receiver.signatures.common import FAILED
from receiver.signatures.common import MISSING
from receiver.signatures.common import VERIFIED
from receiver.signatures.common import Headers
from receiver.signatures.common import Key
from receiver.signatures.common import Lab
from receiver.signatures.common import Received
from receiver.signatures.common import SignatureResult
from receiver.signatures.common import header_values
from receiver.signatures.common import rotated
from receiver.signatures.common import secret_label
from receiver.signatures.common import utf8

NAME = "qovery"
HEADERS = ("Qovery-Signature", "Qovery-Secret")
UNVERIFIED_NOTE = "Qovery's header name is unverified against a real delivery"


def header_names(header: str | None) -> tuple[str, ...]:
    """The configured header, or both of Qovery's documented names."""
    return (header,) if header else HEADERS


def verify(configured: Sequence[str], headers: Headers, *, header: str | None) -> SignatureResult:
    """Verify that a configured secret itself was sent in one of the header names.

    The lab shows which headers arrived, never the expected value: it is the secret.
    """
    names = header_names(header)
    found = [(name, value) for name in names for value in header_values(headers, name) if value]
    if not found:
        return SignatureResult(
            MISSING, NAME, f"missing header {' or '.join(names)} (the secret is sent as-is)"
        )
    lab = Lab()
    lab.received = [Received(f"{name}: ({len(value)} characters)", None) for name, value in found]
    keys = [Key(secret_label(i), utf8(secret)) for i, secret in enumerate(configured)]
    for key in keys:
        for (name, value), received in zip(found, lab.received, strict=True):
            received.status = "no match" if received.status == "skipped" else received.status
            if hmac.compare_digest(key.key, utf8(value)):
                received.status, received.note = "matched", f"carries {key.label}"
                return lab.result(
                    VERIFIED,
                    NAME,
                    f"{name} carries the configured secret{rotated(key)}; {UNVERIFIED_NOTE}",
                )
    sent = " and ".join(dict.fromkeys(name for name, _ in found))
    stripped = any(
        hmac.compare_digest(key.key, utf8(value.strip("\"'"))) for key in keys for _, value in found
    )
    if stripped:
        lab.findings.append(f"{sent} carries the secret wrapped in quotes: send it bare")
    return lab.result(
        FAILED, NAME, f"{sent} does not carry the configured secret; {UNVERIFIED_NOTE}"
    )


def sign(secret: str, *, header: str | None) -> list[tuple[str, str]]:
    """The secret in each header name."""
    return [(name, secret) for name in header_names(header)]


def generate_secret() -> str:
    """A fresh random secret of 32 bytes as hex."""
    return secrets.token_hex(32)
