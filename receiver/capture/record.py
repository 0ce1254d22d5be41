"""The capture use case: analyse a request once, commit it, and decide what the bin answers.

The web layer hands over a `RawRequest` and the bin's `IngestTarget`; everything the answer
depends on comes in as arguments (the catalog, the public base URL, the delay cap), so this
module never reaches for Flask. Nothing before the commit may answer 2xx: `record` returns only
once the row is durable, or raises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from receiver.bins.responses import BinResponse
from receiver.bins.responses import bin_response
from receiver.capture.analysis import Analysis
from receiver.capture.analysis import analyze
from receiver.capture.request import RawRequest
from receiver.capture.request import build_row
from receiver.capture.store import BinGone
from receiver.capture.store import CaptureStore
from receiver.capture.store import IngestTarget
from receiver.catalog.model import Catalog
from receiver.catalog.model import Event
from receiver.catalog.samples import sample_delivery
from receiver.signatures import apitree

# the remote address a sample delivered from inside the app is stored with
SAMPLE_REMOTE_ADDR = "receiver"


@dataclass(frozen=True)
class Recorded:
    """A committed capture: its id, what was derived from it, and what the bin answers
    (``rejected`` when a strict bin refuses an invalid payload)."""

    request_id: int
    analysis: Analysis
    answer: BinResponse
    rejected: bool = False


def record(
    store: CaptureStore,
    target: IngestTarget,
    raw: RawRequest,
    *,
    now: datetime,
    catalog: Catalog,
    base_url: str,
    max_delay_ms: int,
) -> Recorded:
    """Analyse and commit one capture; returns once the row is durable.

    ``base_url`` is the public base the sender used (ApiTree's inferred signature covers the URL).

    :raise BinGone: the bin disappeared before the commit; nothing was stored.
    """
    row = build_row(raw, target.id, now)
    url = sent_url(base_url, target.id, raw) if target.signature_scheme == apitree.NAME else None
    analysis = analyze(raw, target, now, catalog, url)
    row.update(analysis.columns)
    row["forward_url"] = target.forward_url
    request_id = store.store(row)
    if target.strict_validation and analysis.validation.status == "invalid":
        return Recorded(request_id, analysis, strict_rejection(request_id, analysis), True)
    return Recorded(request_id, analysis, bin_response(target, request_id, max_delay_ms))


def record_sample(
    store: CaptureStore,
    catalog: Catalog,
    event: Event,
    bin_id: str,
    *,
    now: datetime,
    host: str,
    base_url: str,
    max_delay_ms: int,
) -> Recorded:
    """Deliver a catalog example into a bin as its provider would, signed with the bin's secret.

    :raise BinGone: no such bin, or it has expired.
    """
    target = store.lookup(bin_id, now)
    if target is None:
        raise BinGone(bin_id)
    sample = sample_delivery(
        catalog,
        event,
        now=now,
        host=host,
        scheme=target.signature_scheme,
        secret=target.signature_secret,
        header=target.signature_header,
        url=f"{base_url}/b/{bin_id}",
    )
    raw = RawRequest(
        method=sample.method,
        path=sample.path,
        query_string=sample.query_string,
        headers=sample.headers,
        body=sample.body,
        remote_addr=SAMPLE_REMOTE_ADDR,
    )
    return record(
        store, target, raw, now=now, catalog=catalog, base_url=base_url, max_delay_ms=max_delay_ms
    )


def sent_url(base_url: str, bin_id: str, raw: RawRequest) -> str:
    """The URL the sender used, as signatures that cover the URL (ApiTree's) computed it."""
    url = f"{base_url}/b/{bin_id}" + (raw.path if raw.path != "/" else "")
    return url + ("?" + raw.query_string if raw.query_string else "")


def strict_rejection(request_id: int, analysis: Analysis) -> BinResponse:
    """A strict bin's answer to an invalid payload: 422 with the errors (the request is stored)."""
    errors = analysis.validation.errors
    body = {
        "error": {
            "code": "invalid_payload",
            "message": f"the payload breaks {len(errors)} rule(s) of its documented schema",
        },
        "request_id": str(request_id),
        "validation": analysis.validation.to_dict(),
    }
    return BinResponse(
        status=422,
        headers=[("Content-Type", "application/json")],
        body=json.dumps(body).encode("utf-8"),
        delay_ms=0,
    )
