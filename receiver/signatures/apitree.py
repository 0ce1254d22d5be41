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
from collections.abc import Callable
from collections.abc import Sequence

from receiver.signatures.common import FAILED
from receiver.signatures.common import LIST_SEPARATOR
from receiver.signatures.common import MISSING
from receiver.signatures.common import VERIFIED
from receiver.signatures.common import Headers
from receiver.signatures.common import Key
from receiver.signatures.common import Lab
from receiver.signatures.common import Received
from receiver.signatures.common import SignatureResult
from receiver.signatures.common import b64
from receiver.signatures.common import decode_b64
from receiver.signatures.common import decode_hex
from receiver.signatures.common import header_values
from receiver.signatures.common import match_key
from receiver.signatures.common import rotated
from receiver.signatures.common import secret_label
from receiver.signatures.common import utf8

NAME = "apitree"
HEADER = "X-ApiTree-Signature"
INFERRED = "ApiTree's recipe is inferred, not documented"
# what the message joins (verification tries each) and how the digest is written
ORDERS = ("url+body", "body+url", "body")
ENCODINGS = ("base64", "hex")


def verify(
    configured: Sequence[str], headers: Headers, body: bytes, *, header: str, url: str | None
) -> SignatureResult:
    """Verify the header against the inferred HMAC-SHA1 recipes."""
    values = [v for v in header_values(headers, header) if v]
    if not values:
        return SignatureResult(MISSING, NAME, f"missing header {header} ({INFERRED})")
    lab = Lab()
    raw_url = utf8(url) if url is not None else b""
    lab.show_signed(raw_url, body)
    candidates: list[Received] = []
    encodings: list[str] = []
    for entry in LIST_SEPARATOR.split(" ".join(values)):
        if not entry:
            continue
        received = Received(entry, None)
        lab.received.append(received)
        if len(entry) == 40 and (decoded := decode_hex(entry)) is not None:
            received.decoded = decoded
            encodings.append("hex")
        elif (decoded := decode_b64(entry)) is not None:
            received.decoded = decoded
            encodings.append("base64")
        else:
            received.note = "neither base64 nor a hex digest"
            continue
        candidates.append(received)
    if not candidates:
        return lab.result(FAILED, NAME, f"{header} is neither base64 nor a hex digest ({INFERRED})")

    keys = [Key(secret_label(i), utf8(secret)) for i, secret in enumerate(configured)]
    recipes: list[tuple[str, bytes, bytes]] = []
    if url is not None:
        recipes += [("url + body", raw_url, b""), ("body + url", b"", raw_url)]
    recipes.append(("body", b"", b""))
    first = recipes[0][1] + body + recipes[0][2]
    lab.expected = [
        {"key": key.label, "signature": b64(hmac.new(key.key, first, hashlib.sha1).digest())}
        for key in keys
    ]
    for label, before, after in recipes:
        message = before + body + after
        matched = match_key(keys, candidates, _signer(message))
        if matched is not None:
            encoding = next(encodings[i] for i, c in enumerate(candidates) if c.status == "matched")
            return lab.result(
                VERIFIED,
                NAME,
                f"inferred recipe: HMAC-SHA1(secret, {label}), {encoding}{rotated(matched)} "
                f"({INFERRED})",
            )
    tried = " / ".join(label for label, _, _ in recipes)
    unknown_url = "" if url is not None else "; the target URL was not known"
    return lab.result(
        FAILED,
        NAME,
        f"no inferred recipe matched: tried HMAC-SHA1 with the secret over {tried}, "
        f"base64 or hex{unknown_url} ({INFERRED})",
    )


def _signer(message: bytes) -> Callable[[bytes], bytes]:
    """The HMAC-SHA1 of ``message`` under a key."""
    return lambda key: hmac.new(key, message, hashlib.sha1).digest()


def sign(secret: str, body: bytes, *, header: str, url: str | None) -> list[tuple[str, str]]:
    """The header for ``url + body``, base64 (the recipe every verification tries first).

    :raise ValueError: no ``url`` (the signature covers it).
    """
    if url is None:
        raise ValueError("an apitree signature covers the target URL: pass url")
    return sign_with_recipe(secret, body, url=url, header=header)


def sign_with_recipe(
    secret: str,
    body: bytes,
    *,
    url: str,
    header: str = HEADER,
    order: str = ORDERS[0],
    encoding: str = ENCODINGS[0],
) -> list[tuple[str, str]]:
    """The header for one of the inferred recipes (each of which `verify` accepts): HMAC-SHA1
    with the secret over ``order`` (``url+body``, ``body+url`` or ``body``), as ``encoding``.

    :raise ValueError: an unknown order or encoding.
    """
    if order not in ORDERS or encoding not in ENCODINGS:
        raise ValueError(f"unknown recipe {order!r} / {encoding!r}")
    before, after = {"url+body": (url, ""), "body+url": ("", url), "body": ("", "")}[order]
    digest = hmac.new(utf8(secret), utf8(before) + body + utf8(after), hashlib.sha1).digest()
    return [(header, b64(digest) if encoding == "base64" else digest.hex())]


def generate_secret() -> str:
    """A fresh random secret of 32 bytes as hex."""
    return secrets.token_hex(32)
