"""The signature lab: why a signature fails, in words a developer can act on; the signed content
and expected versus received signatures; Standard Webhooks v1a (ed25519, signed here with
``cryptography``); several secrets per bin. Senders are simulated with hmac/hashlib directly,
so the lab is checked against the recipes, not against its own signing code."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC
from datetime import datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.hazmat.primitives.serialization import PublicFormat

from receiver.signatures.common import SIGNED_BODY_PREVIEW
from receiver.signatures.registry import sign_headers
from receiver.signatures.registry import verify_signature

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
TS = int(NOW.timestamp())
BODY = b'{"type":"invoice.paid","data":{"id":"in_1"}}'
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WHSEC_KEY = base64.b64decode(WHSEC.removeprefix("whsec_"))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def standard_headers(
    key: bytes, body: bytes = BODY, ts: int = TS, signature: str | None = None
) -> list[tuple[str, str]]:
    """What a Standard Webhooks sender with HMAC key ``key`` sends."""
    mac = hmac.new(key, b"msg_1.%d.%s" % (ts, body), hashlib.sha256).digest()
    return [
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", str(ts)),
        ("webhook-signature", signature or "v1," + b64(mac)),
    ]


def stripe_headers(secret: str, body: bytes = BODY, ts: int = TS) -> list[tuple[str, str]]:
    mac = hmac.new(secret.encode(), b"%d.%s" % (ts, body), hashlib.sha256).hexdigest()
    return [("Stripe-Signature", f"t={ts},v1={mac}")]


def hub_signature(key: bytes, body: bytes = BODY) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def check(scheme: str, secret: str, headers: list[tuple[str, str]], body: bytes = BODY, **kw):
    return verify_signature(scheme=scheme, secret=secret, headers=headers, body=body, now=NOW, **kw)


# --- timestamp outside the tolerance: by how many seconds, which way ---------------------------


@pytest.mark.parametrize(
    ("offset", "words", "skew"),
    [
        (-400, "timestamp is 400 s old, 100 s beyond the 300 s tolerance", -400),
        (1000, "timestamp is 1000 s in the future, 700 s beyond the 300 s tolerance", 1000),
    ],
)
@pytest.mark.parametrize("scheme", ["standard-webhooks", "stripe"])
def test_a_skewed_timestamp_is_said_with_its_seconds_and_direction(scheme, offset, words, skew):
    if scheme == "stripe":
        headers = stripe_headers(WHSEC, ts=TS + offset)
    else:
        headers = standard_headers(WHSEC_KEY, ts=TS + offset)
    result = check(scheme, WHSEC, headers)
    assert result.status == "failed"
    assert result.reason == f"signature matches but the {words}" + (
        " (a late or replayed delivery, or the sender's clock is behind)"
        if offset < 0
        else " (the sender's clock is ahead of this server's)"
    )
    assert result.details["timestamp"] == {
        "value": TS + offset,
        "skew_seconds": skew,
        "tolerance": 300,
    }


# --- the secret's format ---------------------------------------------------------------------


def test_a_whsec_secret_used_raw_is_named():
    result = check("standard-webhooks", WHSEC, standard_headers(WHSEC.encode()))
    assert result.status == "failed"
    assert "the bin's secret is used as raw text, whsec_ included" in result.reason


def test_the_base64_part_of_a_whsec_secret_used_undecoded_is_named():
    key = WHSEC.removeprefix("whsec_").encode()
    result = check("standard-webhooks", WHSEC, standard_headers(key))
    assert (
        "the text after whsec_ in the bin's secret is used as the key without base64-decoding"
        in result.reason
    )


def test_a_raw_secret_where_standard_webhooks_expects_base64_is_named():
    result = check("standard-webhooks", "mysecret", standard_headers(b"mysecret"))
    assert result.status == "failed"
    assert "used as raw text, where Standard Webhooks expects base64" in result.reason


def test_a_sender_that_base64_decodes_an_hmac_secret_is_named():
    secret = b64(b"raw key bytes")
    headers = [("X-Hub-Signature-256", hub_signature(b"raw key bytes"))]
    result = check("hmac-sha256", secret, headers)
    assert result.status == "failed"
    assert "the sender base64-decoded the bin's secret" in result.reason


def test_a_plain_wrong_secret_is_not_blamed_on_the_format():
    result = check("standard-webhooks", WHSEC, standard_headers(b"another key entirely"))
    assert "no received signature matches the bin's secret" in result.reason
    assert "raw text" not in result.reason and "newline" not in result.reason


# --- the header under another name or scheme --------------------------------------------------


def test_the_signature_under_another_header_name_is_found_and_verified():
    result = check("hmac-sha256", "sec", [("X-Signature", hub_signature(b"sec"))])
    assert result.status == "missing"
    assert result.reason == (
        "missing header X-Hub-Signature-256; the request carries X-Signature, which verifies as "
        "hmac-sha256 with the bin's secret: set the bin's signature header to X-Signature"
    )


def test_another_schemes_headers_are_named_with_whether_they_verify():
    result = check("stripe", WHSEC, standard_headers(WHSEC_KEY))
    assert result.status == "missing"
    assert "the request carries webhook-id, webhook-timestamp, webhook-signature" in result.reason
    assert result.reason.endswith(
        "and it verifies with the bin's secret: set the bin's scheme to standard-webhooks"
    )


def test_svix_header_names_are_checked_as_standard_webhooks_and_said_so():
    headers = [(name.replace("webhook-", "svix-"), v) for name, v in standard_headers(WHSEC_KEY)]
    result = check("standard-webhooks", WHSEC, headers)
    assert result.status == "verified"
    assert any("Svix's header names" in finding for finding in result.details["findings"])


# --- several signatures: which were tried -----------------------------------------------------


def test_several_signatures_are_listed_with_which_were_tried():
    wrong = "v1," + b64(b"x" * 32)
    result = check(
        "standard-webhooks",
        WHSEC,
        standard_headers(WHSEC_KEY, signature=f"v1,AAAA {wrong} v2,abc"),
    )
    assert result.status == "failed"
    assert "(3 signatures in webhook-signature (2 tried, 1 skipped))" in result.reason
    assert [(r["value"], r["status"]) for r in result.details["received"]] == [
        ("v1,AAAA", "no match"),
        (wrong, "no match"),
        ("v2,abc", "skipped"),
    ]


def test_the_matching_one_among_several_is_marked():
    good = standard_headers(WHSEC_KEY)[2][1]
    result = check(
        "standard-webhooks", WHSEC, standard_headers(WHSEC_KEY, signature=f"v1,AAAA {good}")
    )
    assert result.status == "verified"
    assert [r["status"] for r in result.details["received"]] == ["no match", "matched"]


# --- trailing newline ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signed", "received", "words"),
    [
        (BODY + b"\n", BODY, "with a trailing newline this request does not carry"),
        (BODY, BODY + b"\n", "without the trailing newline this request carries"),
        (BODY, BODY + b"\r\n", "without the trailing CRLF this request carries"),
    ],
)
@pytest.mark.parametrize("scheme", ["standard-webhooks", "hmac-sha256", "stripe"])
def test_a_trailing_newline_added_or_removed_on_the_way_is_named(scheme, signed, received, words):
    if scheme == "standard-webhooks":
        secret, headers = WHSEC, standard_headers(WHSEC_KEY, body=signed)
    elif scheme == "stripe":
        secret, headers = WHSEC, stripe_headers(WHSEC, body=signed)
    else:
        secret, headers = "sec", [("X-Hub-Signature-256", hub_signature(b"sec", signed))]
    result = check(scheme, secret, headers, body=received)
    assert result.status == "failed"
    assert f"the signature matches the body {words}" in result.reason


# --- signed content, expected versus received -----------------------------------------------


def test_the_signed_content_and_expected_versus_received_signatures_are_shown():
    body = b'{"pad":"' + b"x" * 1000 + b'"}'
    sent = standard_headers(b"another key", body=body)
    result = check("standard-webhooks", WHSEC, sent, body=body)
    details = result.details
    prefix = f"msg_1.{TS}.".encode()
    assert details["signed_content"] == (prefix + body[:SIGNED_BODY_PREVIEW]).decode() + "…"
    assert details["signed_content_truncated"] is True
    expected = hmac.new(WHSEC_KEY, prefix + body, hashlib.sha256).digest()
    assert details["expected"] == [{"key": "the bin's secret", "signature": "v1," + b64(expected)}]
    assert [r["value"] for r in details["received"]] == [sent[2][1]]
    assert WHSEC not in repr(result.to_dict()) and "MfKQ9r8G" not in repr(result.to_dict())


# --- Standard Webhooks v1a (ed25519) ------------------------------------------------------------


def ed25519_pair() -> tuple[Ed25519PrivateKey, str, str]:
    """A fresh key pair: the private key, its whsk_ seed and its whpk_ public key."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, "whsk_" + b64(seed), "whpk_" + b64(public)


def test_v1a_signed_with_cryptography_ed25519_verifies_with_the_public_key():
    private, _, whpk = ed25519_pair()
    signature = "v1a," + b64(private.sign(b"msg_1.%d.%s" % (TS, BODY)))
    headers = standard_headers(b"", signature=signature)
    result = check("standard-webhooks", whpk, headers)
    assert (result.status, result.reason) == ("verified", "a v1a signature matched")

    tampered = check("standard-webhooks", whpk, headers, body=BODY.replace(b"in_1", b"in_2"))
    assert tampered.status == "failed"
    assert "no v1a signature" in tampered.reason
    newline = check("standard-webhooks", whpk, headers, body=BODY + b"\n")
    assert "the v1a signature matches the body without the trailing newline" in newline.reason


def test_v1a_made_by_receiver_from_a_whsk_key_verifies_and_whpk_cannot_sign():
    private, whsk, whpk = ed25519_pair()
    headers = sign_headers(scheme="standard-webhooks", secret=whsk, body=BODY, now=NOW)
    signature = dict(headers)["webhook-signature"]
    assert signature.startswith("v1a,")
    content = b"%s.%d.%s" % (dict(headers)["webhook-id"].encode(), TS, BODY)
    private.public_key().verify(base64.b64decode(signature[4:]), content)  # raises if wrong
    assert check("standard-webhooks", whpk, headers).status == "verified"
    with pytest.raises(ValueError, match="cannot make them"):
        sign_headers(scheme="standard-webhooks", secret=whpk, body=BODY, now=NOW)


def test_a_v1_signature_against_an_ed25519_key_says_which_key_is_needed():
    _, _, whpk = ed25519_pair()
    result = check("standard-webhooks", whpk, standard_headers(WHSEC_KEY))
    assert result.status == "failed"
    assert "a v1 (HMAC) signature, and the bin's key is an ed25519 key" in result.reason


# --- several secrets per bin (rotation) ----------------------------------------------------------


@pytest.mark.parametrize("scheme", ["standard-webhooks", "hmac-sha256", "stripe"])
def test_a_previous_secret_still_verifies_and_is_named(scheme):
    old = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
    if scheme == "standard-webhooks":
        headers = standard_headers(base64.b64decode(old.removeprefix("whsec_")))
    elif scheme == "stripe":
        headers = stripe_headers(old)
    else:
        headers = [("X-Hub-Signature-256", hub_signature(old.encode()))]
    alone = check(scheme, WHSEC, headers)
    assert alone.status == "failed"
    rotated = check(scheme, WHSEC, headers, previous_secrets=["whsec_unused0", old])
    assert rotated.status == "verified"
    assert rotated.reason.endswith("with previous secret 2 (being rotated out)")
