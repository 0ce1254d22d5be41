"""The signature schemes: one entry per scheme, the single list that the settings form, the
API's validation, ``receiver send``, re-signing and the OpenAPI document all read.

Each entry says how the scheme is named (in a bin's ``signature.scheme`` setting), how it is
labelled for people, which headers it uses, and how to verify, sign and make a secret.
Dispatching here keeps every caller free of per-scheme branches.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from datetime import datetime

from receiver.signatures import apitree
from receiver.signatures import hex_hmac
from receiver.signatures import shared_secret
from receiver.signatures import standard
from receiver.signatures.common import DEFAULT_TOLERANCE
from receiver.signatures.common import MISSING
from receiver.signatures.common import NOT_CONFIGURED
from receiver.signatures.common import VERIFIED
from receiver.signatures.common import Headers
from receiver.signatures.common import Lab
from receiver.signatures.common import SignatureResult
from receiver.signatures.common import first_header
from receiver.signatures.common import unix_seconds


@dataclass(frozen=True)
class Check:
    """What a verification gets: the request, the bin's settings and the clock.

    ``secrets`` are the bin's secret first, then the previous ones being rotated out: a
    signature made with any of them verifies.
    """

    secrets: tuple[str, ...]
    headers: Headers
    body: bytes
    now: float
    tolerance: int
    header: str | None
    url: str | None


@dataclass(frozen=True)
class Signing:
    """What signing gets: the body, the timestamp, and the settings that shape the headers."""

    secret: str
    body: bytes
    timestamp: str
    msg_id: str | None
    header: str | None
    url: str | None


@dataclass(frozen=True)
class Scheme:
    """One signature scheme."""

    name: str
    label: str
    # the header names it reads and writes by default
    headers: tuple[str, ...]
    # whether a bin may name another header (for HMAC-style schemes)
    header_configurable: bool
    verify: Callable[[Check], SignatureResult]
    sign: Callable[[Signing], list[tuple[str, str]]]
    generate_secret: Callable[[], str]
    # short names ``receiver send --scheme`` accepts
    aliases: tuple[str, ...] = ()

    def header_names(self, header: str | None) -> tuple[str, ...]:
        """The headers this scheme signs into, given a bin's configured header."""
        if header and self.header_configurable:
            return (header,)
        return self.headers


SCHEMES: dict[str, Scheme] = {
    scheme.name: scheme
    for scheme in (
        Scheme(
            name=standard.NAME,
            label="Standard Webhooks (webhook-signature; v1 whsec_ or v1a whpk_)",
            headers=standard.HEADERS,
            header_configurable=False,
            verify=lambda c: standard.verify(
                c.secrets, c.headers, c.body, now=c.now, tolerance=c.tolerance
            ),
            sign=lambda s: standard.sign(s.secret, s.body, timestamp=s.timestamp, msg_id=s.msg_id),
            generate_secret=standard.generate_secret,
            aliases=("standard",),
        ),
        Scheme(
            name=hex_hmac.HMAC_NAME,
            label="HMAC-SHA256 hex (X-Hub-Signature-256)",
            headers=(hex_hmac.HMAC_HEADER,),
            header_configurable=True,
            verify=lambda c: hex_hmac.verify_hmac(
                c.secrets, c.headers, c.body, header=c.header or hex_hmac.HMAC_HEADER
            ),
            sign=lambda s: hex_hmac.sign_hmac(
                s.secret, s.body, header=s.header or hex_hmac.HMAC_HEADER
            ),
            generate_secret=hex_hmac.generate_hmac_secret,
            aliases=("hmac",),
        ),
        Scheme(
            name=hex_hmac.STRIPE_NAME,
            label="Stripe-style (t=…,v1=…)",
            headers=(hex_hmac.STRIPE_HEADER,),
            header_configurable=False,
            verify=lambda c: hex_hmac.verify_stripe(
                c.secrets, c.headers, c.body, now=c.now, tolerance=c.tolerance
            ),
            sign=lambda s: hex_hmac.sign_stripe(s.secret, s.body, timestamp=s.timestamp),
            generate_secret=hex_hmac.generate_stripe_secret,
        ),
        Scheme(
            name=shared_secret.NAME,
            label="Qovery shared secret header",
            headers=shared_secret.HEADERS,
            header_configurable=True,
            verify=lambda c: shared_secret.verify(c.secrets, c.headers, header=c.header),
            sign=lambda s: shared_secret.sign(s.secret, header=s.header),
            generate_secret=shared_secret.generate_secret,
        ),
        Scheme(
            name=apitree.NAME,
            label="ApiTree X-ApiTree-Signature (inferred recipe)",
            headers=(apitree.HEADER,),
            header_configurable=True,
            verify=lambda c: apitree.verify(
                c.secrets, c.headers, c.body, header=c.header or apitree.HEADER, url=c.url
            ),
            sign=lambda s: apitree.sign(
                s.secret, s.body, header=s.header or apitree.HEADER, url=s.url
            ),
            generate_secret=apitree.generate_secret,
        ),
    )
}
SCHEME_NAMES = tuple(SCHEMES)
ALIASES = {alias: scheme.name for scheme in SCHEMES.values() for alias in scheme.aliases}


def get_scheme(name: str) -> Scheme:
    """The scheme called ``name`` or one of its aliases.

    :raise ValueError: an unknown name, listing the known ones.
    """
    found = SCHEMES.get(ALIASES.get(name, name))
    if found is None:
        known = ", ".join((*SCHEME_NAMES, *ALIASES))
        raise ValueError(f"unknown signature scheme {name!r} (known: {known})")
    return found


def verify_signature(
    *,
    scheme: str | None,
    secret: str | None,
    headers: Headers,
    body: bytes,
    now: datetime,
    header: str | None = None,
    url: str | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
    previous_secrets: Sequence[str] | None = None,
) -> SignatureResult:
    """Check a received request's signature with a bin's scheme and secrets; never raises.

    ``header`` overrides the header name for schemes that allow it. ``url`` is the URL the
    sender posted to (ApiTree's inferred recipe covers it). ``tolerance`` is how far, in
    seconds, a signed timestamp may lie from ``now`` in either direction. ``previous_secrets``
    still verify (key rotation); the result names the one that matched.

    A missing signature header is looked for elsewhere: another scheme's headers, or this
    scheme's under another name, are named in the result's findings.
    """
    if not scheme:
        return SignatureResult(NOT_CONFIGURED, None, "no signature scheme is set for this bin")
    found = SCHEMES.get(scheme)
    if found is None:
        known = ", ".join(SCHEME_NAMES)
        return SignatureResult(
            NOT_CONFIGURED, scheme, f"unknown signature scheme {scheme!r} (known: {known})"
        )
    if not secret:
        return SignatureResult(NOT_CONFIGURED, scheme, "no signing secret is set for this bin")
    secrets = (secret, *(previous_secrets or ()))
    check = Check(secrets, headers, body, unix_seconds(now), tolerance, header, url)
    result = found.verify(check)
    if result.status == MISSING:
        return _looked_elsewhere(found, check, result)
    return result


# signature headers of providers this receiver has no scheme for, named when they arrive
OTHER_SIGNATURE_HEADERS = (
    ("X-Hub-Signature", "GitHub's older HMAC-SHA1 header (sha1=…)"),
    ("X-Shopify-Hmac-Sha256", "Shopify's base64 HMAC-SHA256"),
    ("X-Slack-Signature", "Slack's v0= signature"),
    ("X-Twilio-Signature", "Twilio's signature"),
    ("svix-signature", "Svix's name for Standard Webhooks' webhook-signature"),
)
SIGNATURE_WORDS = ("signature", "hmac", "-sig")
# every header a signature scheme writes, here or elsewhere (lower case): a sample leaves these
# to the signing step
SIGNATURE_HEADER_NAMES = frozenset(
    {name.lower() for scheme in SCHEMES.values() for name in scheme.headers}
    | {name.lower() for name, _ in OTHER_SIGNATURE_HEADERS}
    | {standard.SVIX_PREFIX + name.removeprefix("webhook-") for name in standard.HEADERS}
)


def _looked_elsewhere(scheme: Scheme, check: Check, result: SignatureResult) -> SignatureResult:
    """A missing signature, with what the request carries instead: another scheme's headers
    (and whether they verify with the bin's secret), or a header that looks like a signature."""
    own = {name.lower() for name in scheme.header_names(check.header)}
    findings = [
        *_other_schemes(scheme, check, own),
        *_renamed_header(scheme, check, own),
        *_known_others(check, own),
    ] or _lookalikes(check, own)
    if not findings:
        return result
    details = {**(result.details or Lab().details()), "findings": findings}
    reason = f"{result.reason}; {findings[0]}"
    return SignatureResult(result.status, result.scheme, reason, details)


def _other_schemes(scheme: Scheme, check: Check, own: set[str]) -> list[str]:
    """Another scheme's signature headers the request carries, and whether they verify."""
    findings = []
    for other in SCHEMES.values():
        if other.name == scheme.name:
            continue
        present = [name for name in other.headers if first_header(check.headers, name) is not None]
        signature_headers = [name for name in present if name.lower() not in own]
        if not signature_headers:
            continue
        if other.name == standard.NAME and standard.SIGNATURE_HEADER not in present:
            continue
        verdict = other.verify(replace(check, header=None))
        outcome = (
            "and it verifies with the bin's secret"
            if verdict.status == VERIFIED
            else "though it does not verify with the bin's secret"
        )
        findings.append(
            f"the request carries {', '.join(signature_headers)}, the {other.label} scheme's, "
            f"{outcome}: set the bin's scheme to {other.name}"
        )
    return findings


def _renamed_header(scheme: Scheme, check: Check, own: set[str]) -> list[str]:
    """A header of another name that verifies as this scheme (whose header can be chosen)."""
    if not scheme.header_configurable:
        return []
    known = {h.lower() for other in SCHEMES.values() for h in other.headers}
    findings = []
    for name, _ in check.headers:
        lower = name.lower()
        if lower in own or lower in known or not any(w in lower for w in SIGNATURE_WORDS):
            continue
        if scheme.verify(replace(check, header=name)).status == VERIFIED:
            findings.append(
                f"the request carries {name[:64]}, which verifies as {scheme.name} with the "
                f"bin's secret: set the bin's signature header to {name[:64]}"
            )
    return findings


def _known_others(check: Check, own: set[str]) -> list[str]:
    """Signature headers of providers this receiver has no scheme for."""
    carried = {name.lower() for name, _ in check.headers}
    return [
        f"the request carries {name} ({words})"
        for name, words in OTHER_SIGNATURE_HEADERS
        if name.lower() in carried and name.lower() not in own
    ]


def _lookalikes(check: Check, own: set[str]) -> list[str]:
    """Headers whose names look like a signature's, when nothing better was found."""
    looks = [
        name[:64]
        for name, _ in check.headers
        if any(word in name.lower() for word in SIGNATURE_WORDS) and name.lower() not in own
    ]
    return [f"the request carries {', '.join(dict.fromkeys(looks))}"] if looks else []


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
    """The header pairs a sender using ``scheme`` adds to a request with this body.

    :raise ValueError: an unknown scheme, a Standard Webhooks secret that is not base64 or a
        ``whpk_`` public key (it verifies, it cannot sign), or an ``apitree`` signature without
        the target ``url``.
    """
    timestamp = str(int(unix_seconds(now)))
    return get_scheme(scheme).sign(Signing(secret, body, timestamp, msg_id, header, url))
