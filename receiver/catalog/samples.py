"""Catalog examples as a provider would deliver them: method, headers, body, signature.

A sample carries what the provider's description says a delivery carries: the headers an
imported OpenAPI document requires, with their documented example values (signature headers
excepted: signing makes those, and a documented example signature can never verify); the header
that names the event (a user provider's ``event_header``) carries this event's value; and
``X-Receiver-Sample`` names the catalog event, for the events no payload can reveal.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from receiver.catalog.detection import detect_event
from receiver.catalog.model import Catalog
from receiver.catalog.model import Event
from receiver.catalog.model import Provider
from receiver.catalog.pointers import set_pointer
from receiver.signatures.registry import SIGNATURE_HEADER_NAMES
from receiver.signatures.registry import sign_headers
from receiver.version import user_agent

# names the catalog event of a sample, so that events no payload can reveal (Akinon's) are known
SAMPLE_HEADER = "X-Receiver-Sample"
# made for each sample, whatever a description documents
OWN_HEADERS = frozenset({"host", "content-type", "content-length", SAMPLE_HEADER.lower()})


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
    documented = documented_headers(catalog, provider, event)
    headers = [("Host", host)] if host else []
    if not any(name.lower() == "user-agent" for name, _ in documented):
        headers.append(("User-Agent", f"{user_agent('receiver-send')} (catalog sample)"))
    headers += [
        ("Content-Type", delivery.get("content_type") or "application/json"),
        ("Content-Length", str(len(body))),
        *documented,
        (SAMPLE_HEADER, f"{event.provider_id}/{event.id}"),
    ]
    return headers


def documented_headers(
    catalog: Catalog, provider: Provider | None, event: Event
) -> list[tuple[str, str]]:
    """The headers the description documents for a delivery of ``event``, with their values.

    A header the description gives no value for is left out (it is not invented), except the
    provider's event header, which always names the event.
    """
    event_header = (provider.detection.get("event_header") or "") if provider else ""
    found: list[tuple[str, str]] = []
    for name, value in event.headers:
        lower = name.lower()
        if lower in OWN_HEADERS or lower in SIGNATURE_HEADER_NAMES:
            continue
        if lower == event_header.lower():
            value = event_value(catalog, event, name, value)
        if value:
            found.append((name, value))
    if event_header and not any(n.lower() == event_header.lower() for n, _ in found):
        found.append((event_header, event.id))
    return found


def event_value(catalog: Catalog, event: Event, header: str, documented: str) -> str:
    """What the event header says for ``event``: the documented value when it names this event
    (detection reads it back as this event), else the event id, which always does."""
    if documented:
        detected = detect_event(
            catalog, event.example, [(header, documented)], provider=event.provider_id
        )
        if detected.event == event.id:
            return documented
    return event.id


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
