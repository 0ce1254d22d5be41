"""Sending catalog examples and recordings at a URL: the requests `receiver send` and the pytest
plugin build (signed when a secret is given), without any Flask or click in the way."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from receiver.catalog.model import Catalog
from receiver.catalog.model import Event
from receiver.catalog.model import Provider
from receiver.catalog.samples import sample_delivery
from receiver.delivery import recordings
from receiver.delivery.http import OutgoingRequest
from receiver.delivery.http import prepare_outgoing
from receiver.signatures import standard
from receiver.signatures.registry import SCHEMES
from receiver.signatures.registry import get_scheme

DEFAULT_SCHEME = standard.NAME


def resolve_scheme(
    scheme: str | None, secret: str | None, provider: Provider | None = None
) -> str | None:
    """The signature scheme to sign with, or None when nothing is to be signed.

    ``standard`` and ``hmac`` are aliases of ``standard-webhooks`` and ``hmac-sha256``. With a
    secret and no scheme, the provider's documented scheme is used when it has one, else
    Standard Webhooks.

    :raise ValueError: an unknown scheme, or a scheme without a secret.
    """
    if scheme:
        scheme = get_scheme(scheme).name
        if not secret:
            raise ValueError(f"signing with {scheme} needs a secret")
        return scheme
    if not secret:
        return None
    documented = (provider.signature or {}).get("scheme") if provider is not None else None
    return documented if documented in SCHEMES else DEFAULT_SCHEME


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split ``path=value``; the value is JSON when it parses as JSON, else the string itself.

    :raise ValueError: no ``=``, or an empty path.
    """
    path, equals, raw = text.partition("=")
    path = path.strip()
    if not equals or not path:
        raise ValueError(f"{text!r} is not PATH=VALUE (e.g. build.status=success or /a/0=1)")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return path, value


def catalog_outgoing(
    catalog: Catalog,
    event: Event,
    url: str,
    *,
    now: datetime,
    secret: str | None = None,
    scheme: str | None = None,
    header: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> OutgoingRequest:
    """The catalog example of ``event`` as sent to ``url``, signed when a secret is given.

    The signature is computed over the final body and URL (what `prepare_outgoing` sends).

    :raise ValueError: an override path that cannot be set, or a scheme without a secret.
    :raise OutgoingError: a target URL that cannot be used, or a secret the scheme cannot use.
    """
    final_scheme = resolve_scheme(scheme, secret, catalog.provider(event.provider_id))
    sample = sample_delivery(catalog, event, now=now, overrides=overrides)
    resign = _resign(final_scheme, secret, header)
    return prepare_outgoing(sample, url, append_path=False, resign=resign, now=now)


def recording_outgoing(
    recording: recordings.Recording,
    url: str,
    *,
    now: datetime,
    catalog: Catalog | None = None,
    secret: str | None = None,
    scheme: str | None = None,
    header: str | None = None,
) -> OutgoingRequest:
    """A recording as sent to ``url``: method, headers and body bytes as saved.

    The target URL is used as given (the recorded sub-path and query are not appended). With a
    secret the stale signature headers are replaced by fresh ones; without, they are sent as
    recorded.

    :raise ValueError: a scheme without a secret.
    :raise OutgoingError: a target URL that cannot be used, a secret the scheme cannot use, or a
        recorded header that cannot be sent.
    """
    provider_id = (recording.event or {}).get("provider")
    provider = catalog.provider(provider_id) if catalog is not None and provider_id else None
    final_scheme = resolve_scheme(scheme, secret, provider)
    resign = _resign(final_scheme, secret, header)
    return prepare_outgoing(recording, url, append_path=False, resign=resign, now=now)


def _resign(scheme: str | None, secret: str | None, header: str | None) -> dict[str, Any] | None:
    """The ``resign`` argument of `prepare_outgoing`, or None to leave signatures alone."""
    if scheme is None or not secret:
        return None
    return {"scheme": scheme, "secret": secret, "header": header}
