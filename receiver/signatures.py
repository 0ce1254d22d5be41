"""Webhook signatures: verify what a sender signed, and sign what we send.

Pure functions over header pairs and body bytes; nothing here knows about HTTP frameworks, the
database or the clock (every time-dependent function takes ``now``). A verification never raises
on what arrived over the wire: garbage headers are a ``failed`` result with a reason in words.

Schemes (the names are the ones stored in a bin's ``signature.scheme`` setting):

``standard-webhooks``
    https://www.standardwebhooks.com: ``webhook-id``, ``webhook-timestamp`` and
    ``webhook-signature`` (space-separated ``v1,<base64>`` entries), HMAC-SHA256 over
    ``{id}.{timestamp}.{body}``. The secret is ``whsec_<base64>``; like the reference library
    (``standardwebhooks`` on PyPI) the prefix is optional and the rest is always base64-decoded.
``hmac-sha256``
    GitHub-style ``X-Hub-Signature-256: sha256=<hex>`` (a bare hex digest is accepted too),
    HMAC-SHA256 over the body with the secret's UTF-8 bytes. The header name is configurable.
``stripe``
    ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``, HMAC-SHA256 over ``{t}.{body}`` keyed
    with the secret's UTF-8 bytes as given (Stripe's ``whsec_...`` secrets are *not*
    base64-decoded, unlike Standard Webhooks': see stripe-python ``WebhookSignature``).
``qovery``
    Not an HMAC: Qovery sends the webhook's secret itself in a header. Its OpenAPI spec names the
    header ``Qovery-Signature``, its documentation ``Qovery-Secret``; either is accepted. Unverified
    against a real delivery.
``apitree``
    ``X-ApiTree-Signature``. ApiTree documents only that the value is computed from the secret,
    the target URL and the payload; its example value is base64 of 20 bytes. The recipe used here
    is inferred: HMAC-SHA1 keyed with the secret's UTF-8 bytes, base64, over ``url + body``
    (verification also tries ``body + url`` and ``body`` alone, and a hex digest, since the page
    calls it an "HMAC hexdigest"). Every result for this scheme says that the recipe is inferred.
"""

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

SCHEMES = ("standard-webhooks", "hmac-sha256", "stripe", "qovery", "apitree")

VERIFIED = "verified"
FAILED = "failed"
MISSING = "missing"
NOT_CONFIGURED = "not_configured"

DEFAULT_TOLERANCE = 300

STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
STANDARD_SECRET_PREFIX = "whsec_"
HMAC_SHA256_HEADER = "X-Hub-Signature-256"
STRIPE_HEADER = "Stripe-Signature"
QOVERY_HEADERS = ("Qovery-Signature", "Qovery-Secret")
APITREE_HEADER = "X-ApiTree-Signature"

APITREE_INFERRED = "ApiTree's recipe is inferred, not documented"

_DIGITS = re.compile(r"[0-9]{1,15}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_LIST_SEPARATOR = re.compile(r"[,\s]+")


@dataclass(frozen=True)
class SignatureResult:
    """The outcome of checking one request's signature against a bin's settings."""

    status: str
    scheme: str | None
    reason: str | None

    def to_dict(self) -> dict[str, str | None]:
        """Return the JSON shape ``{status, scheme, reason}``."""
        return {"status": self.status, "scheme": self.scheme, "reason": self.reason}


def verify_signature(
    *,
    scheme: str | None,
    secret: str | None,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    now: datetime,
    header: str | None = None,
    url: str | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> SignatureResult:
    """Check a received request's signature with the bin's scheme and secret.

    ``header`` overrides the header name for ``hmac-sha256``, ``qovery`` and ``apitree`` (the
    other schemes have fixed names). ``url`` is the URL the sender posted to, used by
    ``apitree``. ``tolerance`` is how far, in seconds, a signed timestamp may lie from ``now``
    in either direction.
    """
    if not scheme:
        return SignatureResult(NOT_CONFIGURED, None, "no signature scheme is set for this bin")
    if scheme not in SCHEMES:
        known = ", ".join(SCHEMES)
        return SignatureResult(
            NOT_CONFIGURED, scheme, f"unknown signature scheme {scheme!r} (known: {known})"
        )
    if not secret:
        return SignatureResult(NOT_CONFIGURED, scheme, "no signing secret is set for this bin")
    if scheme == "standard-webhooks":
        return _verify_standard(secret, headers, body, _unix(now), tolerance)
    if scheme == "hmac-sha256":
        return _verify_hmac_sha256(secret, headers, body, header or HMAC_SHA256_HEADER)
    if scheme == "stripe":
        return _verify_stripe(secret, headers, body, _unix(now), tolerance)
    if scheme == "qovery":
        names = (header,) if header else QOVERY_HEADERS
        return _verify_qovery(secret, headers, names)
    return _verify_apitree(secret, headers, body, header or APITREE_HEADER, url)


def sign_headers(
    *,
    scheme: str,
    secret: str,
    body: bytes,
    now: datetime,
    msg_id: str | None = None,
    header: str | None = None,
    url: str | None = None,
) -> list[tuple[str, str]]:
    """Return the header pairs a sender using ``scheme`` adds to a request with this body.

    Raises ``ValueError`` for an unknown scheme, a Standard Webhooks secret that is not base64,
    or an ``apitree`` signature without the target ``url``.
    """
    timestamp = str(int(_unix(now)))
    if scheme == "standard-webhooks":
        key = _standard_key(secret)
        msg_id = msg_id or f"msg_{secrets.token_urlsafe(18)}"
        signature = _b64(_hmac(key, b"%s.%s.%s" % (_utf8(msg_id), _utf8(timestamp), body)))
        return [
            (STANDARD_ID_HEADER, msg_id),
            (STANDARD_TIMESTAMP_HEADER, timestamp),
            (STANDARD_SIGNATURE_HEADER, f"v1,{signature}"),
        ]
    if scheme == "hmac-sha256":
        digest = _hmac(_utf8(secret), body).hex()
        return [(header or HMAC_SHA256_HEADER, f"sha256={digest}")]
    if scheme == "stripe":
        digest = _hmac(_utf8(secret), b"%s.%s" % (_utf8(timestamp), body)).hex()
        return [(STRIPE_HEADER, f"t={timestamp},v1={digest}")]
    if scheme == "qovery":
        names = (header,) if header else QOVERY_HEADERS
        return [(name, secret) for name in names]
    if scheme == "apitree":
        if url is None:
            raise ValueError("an apitree signature covers the target URL: pass url")
        digest = hmac.new(_utf8(secret), _utf8(url) + body, hashlib.sha1).digest()
        return [(header or APITREE_HEADER, _b64(digest))]
    raise ValueError(f"unknown signature scheme {scheme!r}")


def signature_header_names(scheme: str, header: str | None = None) -> tuple[str, ...]:
    """Return the header names ``sign_headers`` sets, so a re-signed replay can drop stale ones."""
    if scheme == "standard-webhooks":
        return (STANDARD_ID_HEADER, STANDARD_TIMESTAMP_HEADER, STANDARD_SIGNATURE_HEADER)
    if scheme == "stripe":
        return (STRIPE_HEADER,)
    if scheme == "hmac-sha256":
        return (header or HMAC_SHA256_HEADER,)
    if scheme == "qovery":
        return (header,) if header else QOVERY_HEADERS
    if scheme == "apitree":
        return (header or APITREE_HEADER,)
    raise ValueError(f"unknown signature scheme {scheme!r}")


def generate_secret(scheme: str) -> str:
    """Return a fresh random secret in the form the scheme's senders use."""
    if scheme == "standard-webhooks":
        return STANDARD_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")
    if scheme == "stripe":
        return "whsec_" + secrets.token_hex(16)
    if scheme in SCHEMES:
        return secrets.token_hex(32)
    raise ValueError(f"unknown signature scheme {scheme!r}")


# --- helpers -------------------------------------------------------------------------------------


def _utf8(text: str) -> bytes:
    """Encode text as UTF-8, keeping lone surrogates rather than raising on hostile input."""
    return text.encode("utf-8", "surrogatepass")


def _hmac(key: bytes, message: bytes) -> bytes:
    """Return HMAC-SHA256 of ``message``."""
    return hmac.new(key, message, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    """Return standard base64 with padding."""
    return base64.b64encode(raw).decode("ascii")


def _unix(now: datetime) -> float:
    """Return ``now`` as Unix seconds; a naive datetime is taken to be UTC."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.timestamp()


def _values(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    """Return every value of header ``name`` (case-insensitive), in order, stripped."""
    wanted = name.lower()
    return [value.strip() for key, value in headers if key.lower() == wanted]


def _first(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """Return the first non-empty value of header ``name``, or None."""
    for value in _values(headers, name):
        if value:
            return value
    return None


def _any_equal(expected: bytes, candidates: Sequence[bytes]) -> bool:
    """Compare ``expected`` with every candidate in constant time; true if one matches."""
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    return matched


def _decode_hex(text: str) -> bytes | None:
    """Decode a hex digest, or None when it is not hex."""
    if len(text) % 2 or not _HEX.fullmatch(text):
        return None
    return bytes.fromhex(text)


def _decode_b64(text: str) -> bytes | None:
    """Decode strict standard base64, or None when it is not."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _timestamp_problem(timestamp: int, now: float, tolerance: int) -> str | None:
    """Describe a signed timestamp outside ``tolerance`` seconds of ``now``, or return None."""
    age = now - timestamp
    if age > tolerance:
        return f"timestamp is {int(age)} s old, beyond the {tolerance} s tolerance"
    if -age > tolerance:
        return f"timestamp is {int(-age)} s in the future, beyond the {tolerance} s tolerance"
    return None


def _standard_key(secret: str) -> bytes:
    """Return the HMAC key for a Standard Webhooks secret, as the ``standardwebhooks`` library does.

    The ``whsec_`` prefix is optional; the rest is base64-decoded leniently (missing padding is
    added, characters outside the alphabet are skipped), so the same secret string gives the same
    key here as in the reference library.
    """
    encoded = secret.removeprefix(STANDARD_SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "==")
    except (binascii.Error, ValueError) as error:
        raise ValueError(
            "a standard-webhooks secret is whsec_ followed by base64, and this one is not base64"
        ) from error
    if not key:
        raise ValueError("the standard-webhooks secret is empty after its whsec_ prefix")
    return key


# --- schemes -------------------------------------------------------------------------------------


def _verify_standard(
    secret: str, headers: Sequence[tuple[str, str]], body: bytes, now: float, tolerance: int
) -> SignatureResult:
    """Verify a Standard Webhooks delivery."""
    scheme = "standard-webhooks"
    msg_id = _first(headers, STANDARD_ID_HEADER)
    timestamp = _first(headers, STANDARD_TIMESTAMP_HEADER)
    signature_values = [v for v in _values(headers, STANDARD_SIGNATURE_HEADER) if v]
    if msg_id is None or timestamp is None or not signature_values:
        absent = [
            name
            for name, value in (
                (STANDARD_ID_HEADER, msg_id),
                (STANDARD_TIMESTAMP_HEADER, timestamp),
                (STANDARD_SIGNATURE_HEADER, signature_values),
            )
            if not value
        ]
        noun = "header" if len(absent) == 1 else "headers"
        return SignatureResult(MISSING, scheme, f"missing {noun} {', '.join(absent)}")
    try:
        key = _standard_key(secret)
    except ValueError as error:
        return SignatureResult(FAILED, scheme, f"the configured secret is unusable: {error}")
    if not _DIGITS.fullmatch(timestamp):
        return SignatureResult(
            FAILED, scheme, f"{STANDARD_TIMESTAMP_HEADER} is not a Unix time in seconds"
        )

    candidates: list[bytes] = []
    malformed = 0
    for entry in " ".join(signature_values).split():
        version, comma, encoded = entry.partition(",")
        if not comma:
            malformed += 1
        elif version == "v1":
            decoded = _decode_b64(encoded)
            if decoded is None:
                malformed += 1
            else:
                candidates.append(decoded)
    if not candidates:
        detail = f" ({malformed} malformed)" if malformed else ""
        return SignatureResult(
            FAILED, scheme, f"{STANDARD_SIGNATURE_HEADER} has no v1,<base64> signature{detail}"
        )

    expected = _hmac(key, b"%s.%s.%s" % (_utf8(msg_id), _utf8(timestamp), body))
    problem = _timestamp_problem(int(timestamp), now, tolerance)
    return _timed_verdict(scheme, STANDARD_SIGNATURE_HEADER, expected, candidates, problem)


def _verify_hmac_sha256(
    secret: str, headers: Sequence[tuple[str, str]], body: bytes, name: str
) -> SignatureResult:
    """Verify an ``X-Hub-Signature-256``-style HMAC-SHA256 hex digest of the body."""
    scheme = "hmac-sha256"
    values = [v for v in _values(headers, name) if v]
    if not values:
        return SignatureResult(MISSING, scheme, f"missing header {name}")
    candidates: list[bytes] = []
    for entry in _LIST_SEPARATOR.split(" ".join(values)):
        algorithm, equals, digest = entry.partition("=")
        if not equals:
            algorithm, digest = "sha256", entry
        decoded = _decode_hex(digest) if algorithm.lower() == "sha256" else None
        if decoded is not None:
            candidates.append(decoded)
    if not candidates:
        return SignatureResult(FAILED, scheme, f"{name} holds no sha256=<hex> signature")
    if _any_equal(_hmac(_utf8(secret), body), candidates):
        return SignatureResult(VERIFIED, scheme, f"the HMAC-SHA256 of the body in {name} matched")
    return SignatureResult(FAILED, scheme, f"no signature in {name} matched the body")


def _verify_stripe(
    secret: str, headers: Sequence[tuple[str, str]], body: bytes, now: float, tolerance: int
) -> SignatureResult:
    """Verify a ``Stripe-Signature`` header."""
    scheme = "stripe"
    value = _first(headers, STRIPE_HEADER)
    if value is None:
        return SignatureResult(MISSING, scheme, f"missing header {STRIPE_HEADER}")
    timestamp: str | None = None
    candidates: list[bytes] = []
    for item in value.split(","):
        key, equals, field = item.strip().partition("=")
        if not equals:
            continue
        if key == "t" and timestamp is None:
            timestamp = field.strip()
        elif key == "v1":
            decoded = _decode_hex(field.strip())
            if decoded is not None:
                candidates.append(decoded)
    if timestamp is None:
        return SignatureResult(FAILED, scheme, f"{STRIPE_HEADER} has no t= timestamp")
    if not _DIGITS.fullmatch(timestamp):
        return SignatureResult(FAILED, scheme, f"{STRIPE_HEADER} t= is not a Unix time in seconds")
    if not candidates:
        return SignatureResult(FAILED, scheme, f"{STRIPE_HEADER} has no v1=<hex> signature")

    # Like stripe-python, the signed payload carries the timestamp as a normalised integer.
    seconds = int(timestamp)
    expected = _hmac(_utf8(secret), b"%d.%s" % (seconds, body))
    problem = _timestamp_problem(seconds, now, tolerance)
    return _timed_verdict(scheme, STRIPE_HEADER, expected, candidates, problem)


def _timed_verdict(
    scheme: str, header: str, expected: bytes, candidates: Sequence[bytes], problem: str | None
) -> SignatureResult:
    """The verdict of a timestamped scheme: a match, and a timestamp within the tolerance."""
    if not _any_equal(expected, candidates):
        reason = f"no v1 signature in {header} matched"
        if problem:
            reason += f"; the {problem}"
        return SignatureResult(FAILED, scheme, reason)
    if problem:
        return SignatureResult(FAILED, scheme, f"signature matches but the {problem}")
    return SignatureResult(VERIFIED, scheme, "a v1 signature matched")


def _verify_qovery(
    secret: str, headers: Sequence[tuple[str, str]], names: Sequence[str]
) -> SignatureResult:
    """Verify that the secret itself was sent in one of Qovery's headers (unverified scheme)."""
    scheme = "qovery"
    note = "Qovery's header name is unverified against a real delivery"
    found = [(name, value) for name in names for value in _values(headers, name) if value]
    if not found:
        return SignatureResult(
            MISSING, scheme, f"missing header {' or '.join(names)} (the secret is sent as-is)"
        )
    expected = _utf8(secret)
    for name, value in found:
        if hmac.compare_digest(expected, _utf8(value)):
            return SignatureResult(
                VERIFIED, scheme, f"{name} carries the configured secret; {note}"
            )
    sent = " and ".join(dict.fromkeys(name for name, _ in found))
    return SignatureResult(FAILED, scheme, f"{sent} does not carry the configured secret; {note}")


def _verify_apitree(
    secret: str, headers: Sequence[tuple[str, str]], body: bytes, name: str, url: str | None
) -> SignatureResult:
    """Verify ``X-ApiTree-Signature`` against the inferred HMAC-SHA1 recipes."""
    scheme = "apitree"
    values = [v for v in _values(headers, name) if v]
    if not values:
        return SignatureResult(MISSING, scheme, f"missing header {name} ({APITREE_INFERRED})")
    candidates: list[tuple[bytes, str]] = []
    for entry in _LIST_SEPARATOR.split(" ".join(values)):
        if len(entry) == 40 and (decoded := _decode_hex(entry)) is not None:
            candidates.append((decoded, "hex"))
        elif (decoded := _decode_b64(entry)) is not None:
            candidates.append((decoded, "base64"))
    if not candidates:
        return SignatureResult(
            FAILED, scheme, f"{name} is neither base64 nor a hex digest ({APITREE_INFERRED})"
        )

    key = _utf8(secret)
    recipes: list[tuple[str, bytes]] = []
    if url is not None:
        raw_url = _utf8(url)
        recipes += [("url + body", raw_url + body), ("body + url", body + raw_url)]
    recipes.append(("body", body))
    for label, message in recipes:
        expected = hmac.new(key, message, hashlib.sha1).digest()
        for decoded, encoding in candidates:
            if hmac.compare_digest(expected, decoded):
                return SignatureResult(
                    VERIFIED,
                    scheme,
                    f"inferred recipe: HMAC-SHA1(secret, {label}), {encoding} ({APITREE_INFERRED})",
                )
    tried = " / ".join(label for label, _ in recipes)
    unknown_url = "" if url is not None else "; the target URL was not known"
    return SignatureResult(
        FAILED,
        scheme,
        f"no inferred recipe matched: tried HMAC-SHA1 with the secret over {tried}, "
        f"base64 or hex{unknown_url} "
        f"({APITREE_INFERRED})",
    )
