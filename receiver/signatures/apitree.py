"""ApiTree's ``X-ApiTree-Signature``, whose recipe is inferred.

ApiTree documents only that the value is computed from the secret, the target URL and the
payload; its example value is base64 of 20 bytes. The recipe used here is inferred: HMAC-SHA1
keyed with the secret's UTF-8 bytes, base64, over ``url + body`` (verification also tries
``body + url`` and ``body`` alone, and a hex digest, since the page calls it an "HMAC
hexdigest"). Every result for this scheme says that the recipe is inferred.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from receiver.signatures.common import FAILED
from receiver.signatures.common import LIST_SEPARATOR
from receiver.signatures.common import MISSING
from receiver.signatures.common import VERIFIED
from receiver.signatures.common import Headers
from receiver.signatures.common import SignatureResult
from receiver.signatures.common import b64
from receiver.signatures.common import decode_b64
from receiver.signatures.common import decode_hex
from receiver.signatures.common import header_values
from receiver.signatures.common import utf8

NAME = "apitree"
HEADER = "X-ApiTree-Signature"
INFERRED = "ApiTree's recipe is inferred, not documented"


def verify(
    secret: str, headers: Headers, body: bytes, *, header: str, url: str | None
) -> SignatureResult:
    """Verify the header against the inferred HMAC-SHA1 recipes."""
    values = [v for v in header_values(headers, header) if v]
    if not values:
        return SignatureResult(MISSING, NAME, f"missing header {header} ({INFERRED})")
    candidates: list[tuple[bytes, str]] = []
    for entry in LIST_SEPARATOR.split(" ".join(values)):
        if len(entry) == 40 and (decoded := decode_hex(entry)) is not None:
            candidates.append((decoded, "hex"))
        elif (decoded := decode_b64(entry)) is not None:
            candidates.append((decoded, "base64"))
    if not candidates:
        return SignatureResult(
            FAILED, NAME, f"{header} is neither base64 nor a hex digest ({INFERRED})"
        )

    key = utf8(secret)
    recipes: list[tuple[str, bytes]] = []
    if url is not None:
        raw_url = utf8(url)
        recipes += [("url + body", raw_url + body), ("body + url", body + raw_url)]
    recipes.append(("body", body))
    for label, message in recipes:
        expected = hmac.new(key, message, hashlib.sha1).digest()
        for decoded, encoding in candidates:
            if hmac.compare_digest(expected, decoded):
                return SignatureResult(
                    VERIFIED,
                    NAME,
                    f"inferred recipe: HMAC-SHA1(secret, {label}), {encoding} ({INFERRED})",
                )
    tried = " / ".join(label for label, _ in recipes)
    unknown_url = "" if url is not None else "; the target URL was not known"
    return SignatureResult(
        FAILED,
        NAME,
        f"no inferred recipe matched: tried HMAC-SHA1 with the secret over {tried}, "
        f"base64 or hex{unknown_url} ({INFERRED})",
    )


def sign(secret: str, body: bytes, *, header: str, url: str | None) -> list[tuple[str, str]]:
    """The header for ``url + body``.

    :raise ValueError: no ``url`` (the signature covers it).
    """
    if url is None:
        raise ValueError("an apitree signature covers the target URL: pass url")
    digest = hmac.new(utf8(secret), utf8(url) + body, hashlib.sha1).digest()
    return [(header, b64(digest))]


def generate_secret() -> str:
    """A fresh random secret of 32 bytes as hex."""
    return secrets.token_hex(32)
