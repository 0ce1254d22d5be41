"""Catalog examples as a provider would deliver them: method, headers, body, signature."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from receiver.catalog.model import Catalog
from receiver.catalog.model import Event
from receiver.catalog.pointers import set_pointer
from receiver.signatures.registry import sign_headers

USER_AGENT = "receiver-send/0.1 (catalog sample)"
# names the catalog event of a sample, so that events no payload can reveal (Akinon's) are known
SAMPLE_HEADER = "X-Receiver-Sample"


@dataclass(frozen=True)
class SampleDelivery:
    """A catalog example as its provider would send it; ``path`` and ``query_string`` make it
    re-sendable like a captured request."""

    method: str
    headers: list[tuple[str, str]]
    body: bytes
    path: str = "/"
    query_string: str = ""


def example_body(event: Event, overrides: dict[str, Any] | None = None) -> bytes:
    """The example payload as JSON bytes, with ``overrides`` (JSON Pointer -> value) applied."""
    payload = json.loads(json.dumps(event.example))
    for pointer, value in (overrides or {}).items():
        payload = set_pointer(payload, pointer, value)
    return json.dumps(payload, indent=2, ensure_ascii=False).encode("utf-8")


def delivery_headers(
    catalog: Catalog, event: Event, body: bytes, host: str | None = None
) -> list[tuple[str, str]]:
    """The headers a provider's delivery carries (no signature)."""
    provider = catalog.provider(event.provider_id)
    delivery = provider.delivery if provider is not None else {}
    headers = [("Host", host)] if host else []
    headers += [
        ("User-Agent", USER_AGENT),
        ("Content-Type", delivery.get("content_type") or "application/json"),
        ("Content-Length", str(len(body))),
        (SAMPLE_HEADER, f"{event.provider_id}/{event.id}"),
    ]
    return headers


def sample_delivery(
    catalog: Catalog,
    event: Event,
    *,
    now: datetime,
    host: str | None = None,
    scheme: str | None = None,
    secret: str | None = None,
    header: str | None = None,
    url: str | None = None,
    overrides: dict[str, Any] | None = None,
    custom_headers: Sequence[tuple[str, str]] = (),
) -> SampleDelivery:
    """The example delivery of ``event``, signed when a scheme and secret are given.

    ``custom_headers`` are the headers a webhook was registered with (Akinon's): they follow the
    delivery's own headers and replace any of the same name.
    """
    provider = catalog.provider(event.provider_id)
    method = (provider.delivery.get("method") if provider else None) or "POST"
    body = example_body(event, overrides)
    headers = delivery_headers(catalog, event, body, host)
    if custom_headers:
        replaced = {name.lower() for name, _ in custom_headers}
        headers = [pair for pair in headers if pair[0].lower() not in replaced]
        headers += list(custom_headers)
    if scheme and secret:
        headers += sign_headers(
            scheme=scheme, secret=secret, body=body, now=now, header=header, url=url
        )
    return SampleDelivery(method, headers, body)
