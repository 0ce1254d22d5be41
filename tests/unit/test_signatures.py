"""Signature verification and signing, with real HMACs and an injected clock."""

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from standardwebhooks import Webhook

from receiver.signatures.common import SignatureResult
from receiver.signatures.registry import SCHEME_NAMES as SCHEMES
from receiver.signatures.registry import get_scheme
from receiver.signatures.registry import sign_headers
from receiver.signatures.registry import verify_signature

NOW = datetime(2025, 3, 14, 15, 9, 26, 535000, tzinfo=UTC)
BODY = b'{"event_type":"DEPLOYMENT_STARTED","payload":{"id":"d-1"}}'
URL = "https://receiver.example/b/my-bin/hooks?source=test"
SECRETS = {
    "standard-webhooks": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "hmac-sha256": "It's a Secret to Everybody",
    "stripe": "whsec_3f9a1c2b7d4e5f60718293a4b5c6d7e8",
    "qovery": "qovery-target-secret-1234",
    "apitree": "apitree-webhook-secret",
}
OTHER_SECRETS = {
    "standard-webhooks": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    "hmac-sha256": "not the secret",
    "stripe": "whsec_00000000000000000000000000000000",
    "qovery": "qovery-target-secret-9999",
    "apitree": "some other secret",
}
TIMED_SCHEMES = ("standard-webhooks", "stripe")


def sign(
    scheme: str, body: bytes = BODY, now: datetime = NOW, **kwargs: str
) -> list[tuple[str, str]]:
    """Sign like a sender of ``scheme`` with its test secret."""
    return sign_headers(
        scheme=scheme, secret=SECRETS[scheme], body=body, now=now, url=URL, **kwargs
    )


def verify(
    scheme: str | None,
    headers: list[tuple[str, str]],
    body: bytes = BODY,
    now: datetime = NOW,
    **kwargs: object,
) -> SignatureResult:
    """Verify with the scheme's test secret unless another is given."""
    kwargs.setdefault("secret", SECRETS.get(scheme or ""))
    kwargs.setdefault("url", URL)
    return verify_signature(scheme=scheme, headers=headers, body=body, now=now, **kwargs)


def upper(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Upper-case header names, as gunicorn delivers them."""
    return [(name.upper(), value) for name, value in headers]


# --- every scheme --------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_signed_request_verifies(scheme: str) -> None:
    result = verify(scheme, sign(scheme))
    assert result.status == "verified"
    assert result.scheme == scheme
    assert result.reason


@pytest.mark.parametrize("scheme", SCHEMES)
def test_upper_cased_header_names_verify(scheme: str) -> None:
    assert verify(scheme, upper(sign(scheme))).status == "verified"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_signature_header_among_other_headers_verifies(scheme: str) -> None:
    headers = [("Host", "receiver.example"), *sign(scheme), ("Content-Type", "application/json")]
    assert verify(scheme, headers).status == "verified"


@pytest.mark.parametrize("scheme", [s for s in SCHEMES if s != "qovery"])
def test_tampered_body_fails(scheme: str) -> None:
    result = verify(scheme, sign(scheme), body=BODY.replace(b"d-1", b"d-2"))
    assert result.status == "failed"
    assert "match" in result.reason


def test_qovery_does_not_cover_the_body() -> None:
    """Qovery sends the secret itself, so a changed body still carries the right secret."""
    result = verify("qovery", sign("qovery"), body=b"anything")
    assert result.status == "verified"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_wrong_secret_fails(scheme: str) -> None:
    result = verify(scheme, sign(scheme), secret=OTHER_SECRETS[scheme])
    assert result.status == "failed"
    assert result.scheme == scheme


@pytest.mark.parametrize(
    ("scheme", "dropped", "named"),
    [
        ("standard-webhooks", "webhook-id", "webhook-id"),
        ("standard-webhooks", "webhook-timestamp", "webhook-timestamp"),
        ("standard-webhooks", "webhook-signature", "webhook-signature"),
        ("hmac-sha256", "X-Hub-Signature-256", "X-Hub-Signature-256"),
        ("stripe", "Stripe-Signature", "Stripe-Signature"),
        ("qovery", "Qovery-Signature", "Qovery-Signature or Qovery-Secret"),
        ("apitree", "X-ApiTree-Signature", "X-ApiTree-Signature"),
    ],
)
def test_missing_header_is_missing_and_named(scheme: str, dropped: str, named: str) -> None:
    names = {dropped.lower()}
    if scheme == "qovery":
        names.add("qovery-secret")
    headers = [(n, v) for n, v in sign(scheme) if n.lower() not in names]
    result = verify(scheme, headers)
    assert result.status == "missing"
    assert named in result.reason


def test_every_standard_header_missing_names_all_three() -> None:
    result = verify("standard-webhooks", [("Content-Type", "application/json")])
    assert result.status == "missing"
    assert result.reason == "missing headers webhook-id, webhook-timestamp, webhook-signature"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_empty_signature_header_counts_as_missing(scheme: str) -> None:
    headers = [(name, "") for name, _ in sign(scheme)]
    assert verify(scheme, headers).status == "missing"


@pytest.mark.parametrize(
    ("scheme", "secret", "reason"),
    [
        (None, "s3cret", "no signature scheme"),
        ("", "s3cret", "no signature scheme"),
        ("hmac-sha256", None, "no signing secret"),
        ("stripe", "", "no signing secret"),
        ("sha512-magic", "s3cret", "unknown signature scheme 'sha512-magic'"),
    ],
)
def test_not_configured(scheme: str | None, secret: str | None, reason: str) -> None:
    result = verify(scheme, sign("hmac-sha256"), secret=secret)
    assert result.status == "not_configured"
    assert reason in result.reason


def test_not_configured_does_not_look_at_headers() -> None:
    result = verify(None, [("X-Hub-Signature-256", "garbage")], secret=None)
    assert result == SignatureResult(
        "not_configured", None, "no signature scheme is set for this bin"
    )


# --- timestamps ----------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", TIMED_SCHEMES)
@pytest.mark.parametrize(
    ("offset", "words"),
    [(-600, "timestamp is 600 s old"), (600, "timestamp is 600 s in the future")],
)
def test_timestamp_beyond_tolerance_fails_with_its_age(
    scheme: str, offset: int, words: str
) -> None:
    headers = sign(scheme, now=NOW.replace(microsecond=0) + timedelta(seconds=offset))
    result = verify(scheme, headers, now=NOW.replace(microsecond=0))
    assert result.status == "failed"
    assert words in result.reason
    assert "300 s tolerance" in result.reason
    assert "signature matches" in result.reason


@pytest.mark.parametrize("scheme", TIMED_SCHEMES)
@pytest.mark.parametrize("offset", [-299, 299])
def test_timestamp_within_tolerance_verifies(scheme: str, offset: int) -> None:
    headers = sign(scheme, now=NOW + timedelta(seconds=offset))
    assert verify(scheme, headers).status == "verified"


@pytest.mark.parametrize("scheme", TIMED_SCHEMES)
def test_tolerance_is_configurable(scheme: str) -> None:
    headers = sign(scheme, now=NOW - timedelta(seconds=3600))
    assert verify(scheme, headers, tolerance=7200).status == "verified"
    assert verify(scheme, headers, tolerance=60).status == "failed"


@pytest.mark.parametrize("scheme", TIMED_SCHEMES)
def test_stale_and_tampered_reports_both(scheme: str) -> None:
    headers = sign(scheme, now=NOW - timedelta(days=1))
    result = verify(scheme, headers, body=b"{}")
    assert result.status == "failed"
    assert "no v1 signature" in result.reason
    assert "86400 s old" in result.reason


@pytest.mark.parametrize("scheme", TIMED_SCHEMES)
def test_naive_now_is_taken_as_utc(scheme: str) -> None:
    headers = sign(scheme)
    assert verify(scheme, headers, now=NOW.replace(tzinfo=None)).status == "verified"


# --- several signatures in one header ------------------------------------------------------------


def _bad_hex() -> str:
    return hashlib.sha256(b"not it").hexdigest()


def _bad_b64() -> str:
    return base64.b64encode(hashlib.sha256(b"not it").digest()).decode()


def _several(scheme: str) -> list[tuple[str, str]]:
    """Headers where one of several signatures is the right one."""
    headers = sign(scheme)
    if scheme == "standard-webhooks":
        good = dict(headers)["webhook-signature"]
        value = f"v1,{_bad_b64()} v2,{_bad_b64()}  {good}"
        return [*headers[:2], ("webhook-signature", value)]
    if scheme == "stripe":
        t, good = dict(headers)["Stripe-Signature"].split(",")
        return [("Stripe-Signature", f"{t},v1={_bad_hex()},v0={_bad_hex()},{good},v1=zz")]
    if scheme == "hmac-sha256":
        good = dict(headers)["X-Hub-Signature-256"]
        return [("X-Hub-Signature-256", f"sha256={_bad_hex()}, {good}")]
    if scheme == "apitree":
        good = dict(headers)["X-ApiTree-Signature"]
        return [("X-ApiTree-Signature", f"{_bad_b64()},{good}")]
    return [("Qovery-Signature", "wrong"), ("Qovery-Secret", SECRETS["qovery"])]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_one_matching_signature_among_several_verifies(scheme: str) -> None:
    assert verify(scheme, _several(scheme)).status == "verified"


@pytest.mark.parametrize("scheme", ["standard-webhooks", "hmac-sha256", "apitree", "qovery"])
def test_repeated_signature_headers_are_all_considered(scheme: str) -> None:
    signed = sign(scheme)
    name, good = signed[-1]
    others = [(n, v) for n, v in signed if n != name]
    wrong = sign_headers(
        scheme=scheme, secret=OTHER_SECRETS[scheme], body=BODY, now=NOW, url=URL, msg_id="x"
    )[-1][1]
    headers = [*others, (name, wrong), (name, good)]
    assert verify(scheme, headers).status == "verified"


# --- malformed input never raises ----------------------------------------------------------------

STANDARD_OK = {"webhook-id": "msg_1", "webhook-timestamp": str(int(NOW.timestamp()))}


@pytest.mark.parametrize(
    ("scheme", "headers"),
    [
        ("standard-webhooks", [*STANDARD_OK.items(), ("webhook-signature", "garbage")]),
        ("standard-webhooks", [*STANDARD_OK.items(), ("webhook-signature", "v1,!!not-base64!!")]),
        ("standard-webhooks", [*STANDARD_OK.items(), ("webhook-signature", "v1,abc")]),
        ("standard-webhooks", [*STANDARD_OK.items(), ("webhook-signature", "v1,é")]),
        ("standard-webhooks", [*STANDARD_OK.items(), ("webhook-signature", "v2,AAAA")]),
        ("standard-webhooks", [*STANDARD_OK.items(), ("webhook-signature", ",,, v1,,")]),
        (
            "standard-webhooks",
            [("webhook-id", "m"), ("webhook-timestamp", "soon"), ("webhook-signature", "v1,AA==")],
        ),
        (
            "standard-webhooks",
            [("webhook-id", "m"), ("webhook-timestamp", "1e9"), ("webhook-signature", "v1,AA==")],
        ),
        (
            "standard-webhooks",
            [("webhook-id", "m"), ("webhook-timestamp", "9" * 40), ("webhook-signature", "v1,A")],
        ),
        ("hmac-sha256", [("X-Hub-Signature-256", "garbage")]),
        ("hmac-sha256", [("X-Hub-Signature-256", "sha256=xyz")]),
        ("hmac-sha256", [("X-Hub-Signature-256", "sha256=abc")]),
        ("hmac-sha256", [("X-Hub-Signature-256", "sha1=" + hashlib.sha1().hexdigest())]),
        ("hmac-sha256", [("X-Hub-Signature-256", "sha256=é")]),
        ("stripe", [("Stripe-Signature", "garbage")]),
        ("stripe", [("Stripe-Signature", "v1=" + _bad_hex())]),
        ("stripe", [("Stripe-Signature", "t=yesterday,v1=" + _bad_hex())]),
        ("stripe", [("Stripe-Signature", "t=-5,v1=" + _bad_hex())]),
        ("stripe", [("Stripe-Signature", "t=1700000000")]),
        ("stripe", [("Stripe-Signature", "t=1700000000,v1=not-hex")]),
        ("stripe", [("Stripe-Signature", "t=1700000000,v1=é,=,,==")]),
        ("qovery", [("Qovery-Secret", "é\udcff")]),
        ("apitree", [("X-ApiTree-Signature", "%%%")]),
        ("apitree", [("X-ApiTree-Signature", "é")]),
    ],
)
def test_malformed_header_fails_without_raising(
    scheme: str, headers: list[tuple[str, str]]
) -> None:
    result = verify(scheme, headers)
    assert result.status == "failed"
    assert result.reason


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ([("Stripe-Signature", "garbage")], "no t= timestamp"),
        ([("Stripe-Signature", "t=soon,v1=ab")], "not a Unix time"),
        ([("Stripe-Signature", "t=1700000000")], "no v1=<hex> signature"),
    ],
)
def test_malformed_stripe_header_reason(headers: list[tuple[str, str]], words: str) -> None:
    assert words in verify("stripe", headers).reason


def test_malformed_standard_signature_reason_counts_entries() -> None:
    headers = [*STANDARD_OK.items(), ("webhook-signature", "garbage v1,@@")]
    result = verify("standard-webhooks", headers)
    assert result.reason == "webhook-signature has no v1,<base64> signature (2 malformed)"


# --- standard-webhooks against the reference library ---------------------------------------------


@pytest.mark.parametrize(
    "secret", [SECRETS["standard-webhooks"], SECRETS["standard-webhooks"].removeprefix("whsec_")]
)
def test_reference_library_signature_verifies(secret: str) -> None:
    signature = Webhook(secret).sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", NOW, BODY.decode())
    headers = [
        ("webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
        ("webhook-timestamp", str(int(NOW.timestamp()))),
        ("webhook-signature", signature),
    ]
    result = verify("standard-webhooks", headers, secret=secret)
    assert (result.status, result.scheme, result.reason) == (
        "verified",
        "standard-webhooks",
        "a v1 signature matched",
    )


def test_reference_library_signatures_for_two_secrets_verify_with_either() -> None:
    """Key rotation: the sender signs with old and new secret, the receiver knows one."""
    old, new = SECRETS["standard-webhooks"], OTHER_SECRETS["standard-webhooks"]
    signatures = [Webhook(s).sign("msg_1", NOW, BODY.decode()) for s in (old, new)]
    headers = [
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", str(int(NOW.timestamp()))),
        ("webhook-signature", " ".join(signatures)),
    ]
    for secret in (old, new):
        assert verify("standard-webhooks", headers, secret=secret).status == "verified"


@pytest.mark.parametrize(
    "secret", [SECRETS["standard-webhooks"], SECRETS["standard-webhooks"].removeprefix("whsec_")]
)
def test_our_signature_passes_the_reference_library(secret: str) -> None:
    headers = sign_headers(
        scheme="standard-webhooks", secret=secret, body=BODY, now=datetime.now(UTC)
    )
    assert Webhook(secret).verify(BODY, dict(headers)) == json.loads(BODY)


def test_generated_standard_secret_works_with_the_reference_library() -> None:
    secret = get_scheme("standard-webhooks").generate_secret()
    headers = sign_headers(
        scheme="standard-webhooks", secret=secret, body=BODY, now=datetime.now(UTC)
    )
    assert Webhook(secret).verify(BODY, dict(headers)) == json.loads(BODY)


def test_standard_signature_covers_non_utf8_body() -> None:
    body = b"\x1f\x8b\x08\x00\xff\xfe binary"
    headers = sign("standard-webhooks", body=body)
    assert verify("standard-webhooks", headers, body=body).status == "verified"
    assert verify("standard-webhooks", headers, body=body + b"!").status == "failed"


def test_standard_signature_covers_message_id() -> None:
    headers = dict(sign("standard-webhooks", msg_id="msg_original"))
    headers["webhook-id"] = "msg_other"
    assert verify("standard-webhooks", list(headers.items())).status == "failed"


def test_standard_sign_generates_a_fresh_message_id() -> None:
    first = dict(sign("standard-webhooks"))["webhook-id"]
    second = dict(sign("standard-webhooks"))["webhook-id"]
    assert first.startswith("msg_")
    assert first != second
    assert dict(sign("standard-webhooks", msg_id="msg_given"))["webhook-id"] == "msg_given"


def test_standard_sign_uses_now_in_whole_seconds() -> None:
    assert dict(sign("standard-webhooks"))["webhook-timestamp"] == str(int(NOW.timestamp()))


@pytest.mark.parametrize(("secret", "words"), [("whsec_", "empty"), ("whsec_abcde", "not base64")])
def test_unusable_standard_secret_fails_verification_and_signing(secret: str, words: str) -> None:
    result = verify("standard-webhooks", sign("standard-webhooks"), secret=secret)
    assert result.status == "failed"
    assert words in result.reason
    with pytest.raises(ValueError, match=words):
        sign_headers(scheme="standard-webhooks", secret=secret, body=BODY, now=NOW)


# --- hmac-sha256 ---------------------------------------------------------------------------------


def test_github_documented_example_verifies() -> None:
    """The example from GitHub's "Validating webhook deliveries" page."""
    headers = [
        (
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )
    ]
    result = verify("hmac-sha256", headers, body=b"Hello, World!")
    assert result.status == "verified"


@pytest.mark.parametrize(
    "value",
    [
        lambda digest: digest,
        lambda digest: f"sha256={digest.upper()}",
        lambda digest: f"SHA256={digest}",
        lambda digest: f"  sha256={digest}  ",
    ],
)
def test_hmac_sha256_accepts_bare_and_upper_case_hex(value: Callable[[str], str]) -> None:
    digest = hmac.new(SECRETS["hmac-sha256"].encode(), BODY, hashlib.sha256).hexdigest()
    headers = [("X-Hub-Signature-256", value(digest))]
    assert verify("hmac-sha256", headers).status == "verified"


def test_hmac_sha256_custom_header_name() -> None:
    headers = sign("hmac-sha256", header="X-Signature")
    assert headers[0][0] == "X-Signature"
    assert verify("hmac-sha256", upper(headers), header="x-signature").status == "verified"
    result = verify("hmac-sha256", headers)
    assert result.status == "missing"
    assert "X-Hub-Signature-256" in result.reason


# --- stripe --------------------------------------------------------------------------------------


def test_stripe_secret_is_used_as_raw_utf8_bytes() -> None:
    secret = SECRETS["stripe"]
    t = int(NOW.timestamp())
    raw = hmac.new(secret.encode(), b"%d.%s" % (t, BODY), hashlib.sha256).hexdigest()
    assert verify("stripe", [("Stripe-Signature", f"t={t},v1={raw}")]).status == "verified"
    decoded_key = base64.b64decode(secret.removeprefix("whsec_") + "==")
    decoded = hmac.new(decoded_key, b"%d.%s" % (t, BODY), hashlib.sha256).hexdigest()
    assert verify("stripe", [("Stripe-Signature", f"t={t},v1={decoded}")]).status == "failed"


def test_stripe_header_format() -> None:
    (name, value), *rest = sign("stripe")
    assert name == "Stripe-Signature"
    assert rest == []
    t, v1 = value.split(",")
    assert t == f"t={int(NOW.timestamp())}"
    assert v1.startswith("v1=") and len(v1) == 3 + 64


def test_stripe_spaces_around_items_are_tolerated() -> None:
    t, v1 = dict(sign("stripe"))["Stripe-Signature"].split(",")
    assert verify("stripe", [("Stripe-Signature", f"{t}, {v1}")]).status == "verified"


# --- qovery --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Qovery-Signature", "Qovery-Secret", "QOVERY-SECRET"])
def test_qovery_secret_in_either_header_verifies(name: str) -> None:
    result = verify("qovery", [(name, SECRETS["qovery"])])
    assert result.status == "verified"
    assert "unverified" in result.reason


def test_qovery_wrong_secret_names_the_header() -> None:
    result = verify("qovery", [("Qovery-Secret", "guess")])
    assert result.status == "failed"
    assert result.reason.startswith("Qovery-Secret does not carry the configured secret")


def test_qovery_sends_both_headers_unless_one_is_named() -> None:
    assert sign("qovery") == [
        ("Qovery-Signature", SECRETS["qovery"]),
        ("Qovery-Secret", SECRETS["qovery"]),
    ]
    assert sign("qovery", header="X-Token") == [("X-Token", SECRETS["qovery"])]
    assert verify("qovery", [("X-Token", SECRETS["qovery"])], header="X-Token").status == (
        "verified"
    )


# --- apitree (inferred recipe) -------------------------------------------------------------------


def _apitree(message: bytes, encoding: str = "base64") -> list[tuple[str, str]]:
    digest = hmac.new(SECRETS["apitree"].encode(), message, hashlib.sha1).digest()
    value = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return [("X-ApiTree-Signature", value)]


@pytest.mark.parametrize(
    ("message", "encoding", "label"),
    [
        (URL.encode() + BODY, "base64", "HMAC-SHA1(secret, url + body), base64"),
        (BODY + URL.encode(), "base64", "HMAC-SHA1(secret, body + url), base64"),
        (BODY, "base64", "HMAC-SHA1(secret, body), base64"),
        (URL.encode() + BODY, "hex", "HMAC-SHA1(secret, url + body), hex"),
    ],
)
def test_apitree_inferred_recipes_verify_and_say_so(
    message: bytes, encoding: str, label: str
) -> None:
    result = verify("apitree", _apitree(message, encoding))
    assert result.status == "verified"
    assert result.reason.startswith(f"inferred recipe: {label}")
    assert "inferred, not documented" in result.reason


def test_apitree_signature_has_the_documented_shape() -> None:
    """The documented example value is base64 of 20 bytes (`dlKtqg0PqTfBZrCLQjepMVrt/Gk=`)."""
    (name, value), *rest = sign("apitree")
    assert name == "X-ApiTree-Signature"
    assert rest == []
    assert len(value) == len("dlKtqg0PqTfBZrCLQjepMVrt/Gk=")
    assert len(base64.b64decode(value)) == 20
    assert _apitree(URL.encode() + BODY) == [(name, value)]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (_apitree(b"other"), "failed"),
        ([("X-ApiTree-Signature", "%%%")], "failed"),
        ([("Content-Type", "application/json")], "missing"),
    ],
)
def test_apitree_result_is_always_labelled_inferred(
    headers: list[tuple[str, str]], status: str
) -> None:
    result = verify("apitree", headers)
    assert result.status == status
    assert "inferred" in result.reason


def test_apitree_without_url_tries_body_alone_and_says_why() -> None:
    result = verify("apitree", sign("apitree"), url=None)
    assert result.status == "failed"
    assert "the target URL was not known" in result.reason
    assert verify("apitree", _apitree(BODY), url=None).status == "verified"


def test_apitree_signing_needs_the_url() -> None:
    with pytest.raises(ValueError, match="url"):
        sign_headers(scheme="apitree", secret="s", body=BODY, now=NOW)


# --- helpers around signing ----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_signature_header_names_match_what_is_signed(scheme: str) -> None:
    assert get_scheme(scheme).header_names(None) == tuple(name for name, _ in sign(scheme))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_generated_secret_signs_and_verifies(scheme: str) -> None:
    secret = get_scheme(scheme).generate_secret()
    assert secret != get_scheme(scheme).generate_secret()
    headers = sign_headers(scheme=scheme, secret=secret, body=BODY, now=NOW, url=URL)
    assert verify(scheme, headers, secret=secret).status == "verified"


def test_generated_secret_shapes() -> None:
    standard = get_scheme("standard-webhooks").generate_secret()
    assert standard.startswith("whsec_")
    assert len(base64.b64decode(standard.removeprefix("whsec_"))) == 24
    assert get_scheme("stripe").generate_secret().startswith("whsec_")
    assert len(bytes.fromhex(get_scheme("hmac-sha256").generate_secret())) == 32


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown signature scheme"):
        get_scheme("md5")
    with pytest.raises(ValueError, match="unknown signature scheme"):
        sign_headers(scheme="md5", secret="s", body=BODY, now=NOW)


def test_result_to_dict() -> None:
    result = SignatureResult("missing", "stripe", "missing header Stripe-Signature")
    assert result.to_dict() == {
        "status": "missing",
        "scheme": "stripe",
        "reason": "missing header Stripe-Signature",
        "details": None,
    }
