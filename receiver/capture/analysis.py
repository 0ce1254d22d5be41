"""What is derived from a capture before it is stored: event, validation and signature.

Pure: the capture use case passes in the catalog (shipped plus user schemas) and the URL the
sender used; the result's columns go into the same row as the raw request, so the list can filter
on them and nothing has to be recomputed to show them.

A body that is not JSON is only a schema problem where one applies: when the bin expects an
event, or when the content type says JSON. A form post to a bin that expects nothing is
``not_json`` without an error; the inspector shows it as the form it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace
from datetime import datetime
from typing import Any

from receiver.capture.bodies import decode_body
from receiver.capture.request import RawRequest
from receiver.capture.request import header_value
from receiver.catalog.model import Catalog
from receiver.catalog.samples import SAMPLE_HEADER
from receiver.catalog.validation import ValidationResult
from receiver.catalog.validation import validate_body
from receiver.signatures.common import SignatureResult
from receiver.signatures.registry import verify_signature

EVENT_SEPARATOR = "|"


@dataclass(frozen=True)
class Analysis:
    """The derived facts about one capture, and the column values that store them."""

    validation: ValidationResult
    signature: SignatureResult
    # whether the bin expects a JSON event (so a body that is not one breaks its contract)
    expects_event: bool = False

    @property
    def breaks_expectation(self) -> bool:
        """What a strict bin refuses: anything but a documented event, valid against its schema.

        A body that is not JSON (whatever its content type says), a JSON body that is no event
        of the catalog, and an invalid one are refused; a request without a body only where the
        bin expects a provider or an event (a CORS preflight or a ping to an open strict bin
        carries no payload to judge).
        """
        status = self.validation.status
        if status == "no_body":
            return self.expects_event
        return status != "valid"

    @property
    def event_key(self) -> str | None:
        """The stored event column: the event, or every candidate joined by ``|``."""
        if self.validation.event:
            return self.validation.event
        if self.validation.candidates:
            return EVENT_SEPARATOR.join(self.validation.candidates)
        return None

    @property
    def columns(self) -> dict[str, Any]:
        return {
            "event_provider": self.validation.provider,
            "event_id": self.event_key,
            "validation_status": self.validation.status,
            "validation": self.validation.to_dict(),
            "signature_status": self.signature.status,
            "signature": self.signature.to_dict(),
        }


def analyze(
    raw: RawRequest, target: Any, now: datetime, catalog: Catalog, url: str | None
) -> Analysis:
    """Detect the event, validate the (decoded) body, verify the signature on the raw bytes."""
    decoded = decode_body(raw.body, header_value(raw.headers, "Content-Encoding"))
    provider, event = target.provider, target.event
    sample = header_value(raw.headers, SAMPLE_HEADER)
    if provider is None and event is None and sample and "/" in sample:
        # our own catalog samples say which event they are; the bin's settings still win
        provider, event = sample.split("/", 1)
    validation = validate_body(
        catalog, decoded.data, provider=provider, event=event, headers=raw.headers
    )
    expects_event = target.provider is not None or target.event is not None
    if validation.status == "not_json" and not (expects_event or says_json(raw.headers)):
        # not JSON, and nothing says it should be: a form or a text, not a schema problem
        validation = replace(validation, errors=[])
    signature = verify_signature(
        scheme=target.signature_scheme,
        secret=target.signature_secret,
        previous_secrets=target.signature_previous_secrets,
        headers=raw.headers,
        body=raw.body,
        now=now,
        header=target.signature_header,
        url=url,
    )
    return Analysis(validation, signature, expects_event)


def says_json(headers: Any) -> bool:
    """True when the Content-Type is JSON (``application/json`` or any ``+json`` type)."""
    media = (header_value(headers, "Content-Type") or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")
