"""Standard Webhooks (https://www.standardwebhooks.com).

``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (space-separated
``<version>,<base64>`` entries) over the content ``{id}.{timestamp}.{body}``:

- ``v1``: HMAC-SHA256 with a symmetric secret ``whsec_<base64>``; like the reference library
  (``standardwebhooks`` on PyPI) the prefix is optional and the rest is always base64-decoded.
- ``v1a``: an ed25519 signature. The sender keeps the ``whsk_<base64>`` secret key; a bin that
  checks it holds the ``whpk_<base64>`` public key (32 bytes), which verifies but cannot sign. A
  ``whsk_`` key (its 32-byte seed, or the 64 bytes of seed and public key) signs and verifies.

Svix sends the same scheme under ``svix-id``, ``svix-timestamp`` and ``svix-signature``; those
names are read when the ``webhook-`` ones are absent, and the result says so.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from receiver.signatures.common import FAILED
from receiver.signatures.common import MISSING
from receiver.signatures.common import UNIX_DIGITS
from receiver.signatures.common import Headers
from receiver.signatures.common import Key
from receiver.signatures.common import Lab
from receiver.signatures.common import Received
from receiver.signatures.common import SignatureResult
from receiver.signatures.common import b64
from receiver.signatures.common import decode_b64
from receiver.signatures.common import explain_mismatch
from receiver.signatures.common import first_header
from receiver.signatures.common import header_values
from receiver.signatures.common import hmac_sha256
from receiver.signatures.common import match_key
from receiver.signatures.common import newline_variants
from receiver.signatures.common import secret_label
from receiver.signatures.common import timed_verdict
from receiver.signatures.common import timestamp_facts
from receiver.signatures.common import timestamp_problem
from receiver.signatures.common import utf8

NAME = "standard-webhooks"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
HEADERS = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
SVIX_PREFIX = "svix-"
SVIX_HEADERS = tuple(SVIX_PREFIX + name.removeprefix("webhook-") for name in HEADERS)
SECRET_PREFIX = "whsec_"
PUBLIC_KEY_PREFIX = "whpk_"
SECRET_KEY_PREFIX = "whsk_"


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


def _key_bytes(secret: str, prefix: str, sizes: tuple[int, ...]) -> bytes:
    """The base64 bytes after ``prefix``, of one of ``sizes``.

    :raise ValueError: not base64, or of another length.
    """
    raw = decode_b64(secret.removeprefix(prefix))
    if raw is None or len(raw) not in sizes:
        sized = " or ".join(str(size) for size in sizes)
        raise ValueError(f"a {prefix} key is {prefix} followed by base64 of {sized} bytes")
    return raw


def public_key(secret: str) -> Ed25519PublicKey:
    """The ed25519 public key of a ``whpk_`` or ``whsk_`` key.

    :raise ValueError: neither, or malformed.
    """
    if secret.startswith(PUBLIC_KEY_PREFIX):
        return Ed25519PublicKey.from_public_bytes(_key_bytes(secret, PUBLIC_KEY_PREFIX, (32,)))
    return private_key(secret).public_key()


def private_key(secret: str) -> Ed25519PrivateKey:
    """The ed25519 private key of a ``whsk_`` key (its seed, or seed and public key).

    :raise ValueError: not a ``whsk_`` key, or malformed.
    """
    if secret.startswith(PUBLIC_KEY_PREFIX):
        raise ValueError(
            "a whpk_ public key verifies v1a signatures but cannot make them: signing needs the "
            "whsk_ secret key"
        )
    if not secret.startswith(SECRET_KEY_PREFIX):
        raise ValueError("not a whsk_ secret key")
    seed = _key_bytes(secret, SECRET_KEY_PREFIX, (32, 64))[:32]
    return Ed25519PrivateKey.from_private_bytes(seed)


def is_asymmetric(secret: str) -> bool:
    """True for an ed25519 key (``whpk_`` or ``whsk_``), which makes or checks ``v1a``."""
    return secret.startswith((PUBLIC_KEY_PREFIX, SECRET_KEY_PREFIX))


@dataclass
class _Keys:
    """A bin's secrets sorted by kind: HMAC keys, ed25519 public keys, and unusable ones."""

    hmac: list[Key]
    public: list[tuple[str, Ed25519PublicKey]]
    unusable: list[str]
    readings: list[Key]


def _sorted_keys(configured: Sequence[str]) -> _Keys:
    keys = _Keys([], [], [], [])
    for index, secret in enumerate(configured):
        label = secret_label(index)
        try:
            if is_asymmetric(secret):
                keys.public.append((label, public_key(secret)))
            else:
                keys.hmac.append(Key(label, signing_key(secret)))
        except ValueError as error:
            keys.unusable.append(f"{label} is unusable: {error}")
        if not is_asymmetric(secret):
            keys.readings += _readings(label, secret)
    return keys


def _readings(label: str, secret: str) -> list[Key]:
    """A secret read the ways senders get it wrong (see ``common.explain_mismatch``)."""
    if secret.startswith(SECRET_PREFIX):
        return [
            Key(
                label,
                utf8(secret),
                f"{label} is used as raw text, whsec_ included: a whsec_ secret is whsec_ "
                "followed by base64, and the key is the decoded base64 after the prefix",
            ),
            Key(
                label,
                utf8(secret.removeprefix(SECRET_PREFIX)),
                f"the text after whsec_ in {label} is used as the key without base64-decoding it",
            ),
        ]
    return [
        Key(
            label,
            utf8(secret),
            f"{label} is used as raw text, where Standard Webhooks expects base64: the key is "
            "the base64-decoded secret (give the sender whsec_ followed by the base64 of its key)",
        )
    ]


def verify(
    configured: Sequence[str], headers: Headers, body: bytes, *, now: float, tolerance: int
) -> SignatureResult:
    """Verify a Standard Webhooks delivery (``v1`` and ``v1a``) with any configured key."""
    prefix = _header_prefix(headers)
    id_name, timestamp_name = prefix + "id", prefix + "timestamp"
    signature_name = prefix + "signature"
    msg_id = first_header(headers, id_name)
    timestamp = first_header(headers, timestamp_name)
    signature_values = [v for v in header_values(headers, signature_name) if v]
    if msg_id is None or timestamp is None or not signature_values:
        given = ((id_name, msg_id), (timestamp_name, timestamp), (signature_name, signature_values))
        absent = [name for name, value in given if not value]
        noun = "header" if len(absent) == 1 else "headers"
        return SignatureResult(MISSING, NAME, f"missing {noun} {', '.join(absent)}")
    keys = _sorted_keys(configured)
    if not keys.hmac and not keys.public:
        reason = keys.unusable[0].replace(secret_label(0), "the configured secret", 1)
        return SignatureResult(FAILED, NAME, reason)
    if not UNIX_DIGITS.fullmatch(timestamp):
        return SignatureResult(FAILED, NAME, f"{timestamp_name} is not a Unix time in seconds")

    lab = Lab()
    lab.findings.extend(keys.unusable)
    if prefix == SVIX_PREFIX:
        lab.findings.append(
            "the request uses Svix's header names (svix-id, svix-timestamp, svix-signature) for "
            "Standard Webhooks; they were checked as such"
        )
    head = b"%s.%s." % (utf8(msg_id), utf8(timestamp))
    lab.show_signed(head, body)
    lab.timestamp = timestamp_facts(int(timestamp), now, tolerance)
    lab.expected = [
        {"key": key.label, "signature": "v1," + b64(hmac_sha256(key.key, head + body))}
        for key in keys.hmac
    ]
    v1, v1a = _received(lab, " ".join(signature_values), keys)
    if not v1 and not v1a:
        return _nothing_to_check(lab, signature_name)

    matched = match_key(keys.hmac, v1, lambda key: hmac_sha256(key, head + body))
    if matched is None:
        matched = _match_ed25519(keys.public, v1a, head + body)
    problem = timestamp_problem(int(timestamp), now, tolerance)
    versions = " or ".join(v for v, found in (("v1", keys.hmac), ("v1a", keys.public)) if found)

    def findings() -> list[str]:
        if v1 and keys.hmac:
            return explain_mismatch(
                keys.hmac, keys.readings, v1, body, lambda key, b: hmac_sha256(key, head + b)
            )
        for words, variant in newline_variants(body):
            copies = [Received(e.value, e.decoded) for e in v1a]
            if _match_ed25519(keys.public, copies, head + variant):
                return [f"the v1a signature matches the body {words}"]
        return [
            "no v1a signature verifies with the configured public key: the sender signs with "
            "another key pair, or the body changed on the way"
        ]

    return timed_verdict(lab, NAME, signature_name, matched, problem, findings, versions)


_MALFORMED = "malformed: not <version>,<base64>"


def _header_prefix(headers: Headers) -> str:
    """``webhook-``, or ``svix-`` when the request carries Svix's names and not the standard's."""
    names = [name.lower() for name, _ in headers]
    if not any(name.startswith("webhook-") for name in names) and any(
        name.startswith(SVIX_PREFIX) for name in names
    ):
        return SVIX_PREFIX
    return "webhook-"


def _nothing_to_check(lab: Lab, signature_name: str) -> SignatureResult:
    """The verdict when no entry of the signature header can be checked with the keys."""
    malformed = sum(1 for entry in lab.received if entry.note == _MALFORMED)
    detail = f" ({malformed} malformed)" if malformed else ""
    unchecked = [e.note for e in lab.received if e.note and e.note != _MALFORMED]
    lab.findings.extend(dict.fromkeys(unchecked))
    reason = f"{signature_name} has no v1,<base64> signature{detail}"
    if unchecked:
        reason = f"no signature in {signature_name} can be checked: {unchecked[0]}"
    return lab.result(FAILED, NAME, reason)


def _received(lab: Lab, value: str, keys: _Keys) -> tuple[list[Received], list[Received]]:
    """Every entry of the signature header, noted; the v1 and v1a ones that can be checked."""
    v1: list[Received] = []
    v1a: list[Received] = []
    for entry in value.split():
        version, comma, encoded = entry.partition(",")
        decoded = decode_b64(encoded) if comma else None
        received = Received(entry, decoded)
        lab.received.append(received)
        if decoded is None:
            received.note = _MALFORMED
        elif version == "v1" and keys.hmac:
            v1.append(received)
        elif version == "v1a" and keys.public:
            v1a.append(received)
        elif version == "v1":
            received.note = (
                "a v1 (HMAC) signature, and the bin's key is an ed25519 key: set the sender's "
                "whsec_ secret to check it"
            )
        elif version == "v1a":
            received.note = (
                "a v1a (ed25519) signature, and the bin's secret is an HMAC secret: set the "
                "sender's whpk_ public key to check it"
            )
        else:
            received.note = f"version {version[:20]} is not one this receiver checks (v1, v1a)"
    return v1, v1a


def _match_ed25519(
    public: Sequence[tuple[str, Ed25519PublicKey]], candidates: Sequence[Received], message: bytes
) -> Key | None:
    """The first public key that verifies one of the v1a candidates over ``message``."""
    found: Key | None = None
    for label, key in public:
        for candidate in candidates:
            if candidate.decoded is None:
                continue
            if candidate.status == "skipped":
                candidate.status = "no match"
            try:
                key.verify(candidate.decoded, message)
            except InvalidSignature:
                continue
            if found is None:
                candidate.status = "matched"
                candidate.note = f"verified with {label}"
                found = Key(label, b"")
    return found


def sign(secret: str, body: bytes, *, timestamp: str, msg_id: str | None) -> list[tuple[str, str]]:
    """The three headers of a delivery (``v1`` for a whsec_ secret, ``v1a`` for a whsk_ key); a
    new ``msg_…`` id when none is given.

    :raise ValueError: a secret that is not base64, or a whpk_ public key (it cannot sign).
    """
    msg_id = msg_id or f"msg_{secrets.token_urlsafe(18)}"
    content = b"%s.%s.%s" % (utf8(msg_id), utf8(timestamp), body)
    if is_asymmetric(secret):
        signature = "v1a," + b64(private_key(secret).sign(content))
    else:
        signature = "v1," + b64(hmac_sha256(signing_key(secret), content))
    return [
        (ID_HEADER, msg_id),
        (TIMESTAMP_HEADER, timestamp),
        (SIGNATURE_HEADER, signature),
    ]


def message_id(headers: Headers) -> str | None:
    """The message id a delivery carries (``webhook-id``, else Svix's ``svix-id``)."""
    return first_header(headers, ID_HEADER) or first_header(headers, SVIX_PREFIX + "id") or None


def under_names_used(fresh: Sequence[tuple[str, str]], headers: Headers) -> list[tuple[str, str]]:
    """Fresh ``webhook-*`` headers under the names a captured delivery used: Svix's
    ``svix-*`` when it came with those (the svix library reads them first), ``webhook-*`` when
    it came with those or with neither, both when it had both; each name spelled as captured."""
    spelled = {name.lower(): name for name, _ in headers}
    used = [
        prefix
        for prefix in ("webhook-", SVIX_PREFIX)
        if any(name.startswith(prefix) for name in spelled)
    ] or ["webhook-"]
    renamed = [
        (prefix + name.removeprefix("webhook-"), value) for prefix in used for name, value in fresh
    ]
    return [(spelled.get(name.lower(), name), value) for name, value in renamed]


def generate_secret() -> str:
    """A fresh ``whsec_`` secret of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")
