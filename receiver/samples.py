"""Catalog examples as a provider would deliver them: method, headers, body, signature."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .capture import RawRequest
from .catalog import Catalog
from .catalog import Event
from .signatures import sign_headers

USER_AGENT = "receiver-send/0.1 (catalog sample)"
# names the catalog event of a sample, so that events no payload can reveal (Akinon's) are known
SAMPLE_HEADER = "X-Receiver-Sample"


def example_body(event: Event, overrides: dict[str, Any] | None = None) -> bytes:
    """The example payload as JSON bytes, with ``overrides`` (JSON Pointer -> value) applied."""
    payload = json.loads(json.dumps(event.example))
    for pointer, value in (overrides or {}).items():
        payload = set_pointer(payload, pointer, value)
    return json.dumps(payload, indent=2, ensure_ascii=False).encode("utf-8")


def set_pointer(document: Any, pointer: str, value: Any) -> Any:
    """Set the value at a JSON Pointer (``/a/b/0``; ``a.b.0`` is accepted too), creating objects.

    :raise ValueError: the pointer walks through something that is not an object or array.
    """
    if pointer in ("", "/"):
        return value
    parts = pointer.lstrip("/").split("/") if "/" in pointer else pointer.split(".")
    parts = [part.replace("~1", "/").replace("~0", "~") for part in parts]
    node = document
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(node, list):
            try:
                position = int(part)
                if last:
                    node[position] = value
                else:
                    node = node[position]
            except (ValueError, IndexError):
                raise ValueError(f"{pointer!r}: {part!r} is not an index of the array") from None
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise ValueError(f"{pointer!r}: cannot descend into a {type(node).__name__}")
    return document


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


def sample_request(
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
) -> RawRequest:
    """The example delivery of ``event``, signed when a scheme and secret are given."""
    provider = catalog.provider(event.provider_id)
    method = (provider.delivery.get("method") if provider else None) or "POST"
    body = example_body(event, overrides)
    headers = delivery_headers(catalog, event, body, host)
    if scheme and secret:
        headers += sign_headers(
            scheme=scheme, secret=secret, body=body, now=now, header=header, url=url
        )
    return RawRequest(
        method=method,
        path="/",
        query_string="",
        headers=headers,
        body=body,
        remote_addr="receiver",
    )
