"""The capture use case: analyse a request once, commit it, and decide what the bin answers.

The web layer hands over a `RawRequest` and the bin's `IngestTarget`; everything else comes in as
arguments (the catalog, the public base URL), so this module never reaches for Flask. Nothing
before the commit may answer 2xx: `record` returns only once the row is durable, or raises. The
answer itself is decided in the commit's transaction (see ``capture.store``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from receiver.bins.responses import BinResponse
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
    """A committed capture: its id and number, what was derived from it, and what the bin
    answers (``rejected`` when a strict bin refuses the payload)."""

    request_id: int
    seq: int
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
) -> Recorded:
    """Analyse and commit one capture; returns once the row is durable.

    ``base_url`` is the public base the sender used (ApiTree's inferred signature covers the URL).

    :raise BinGone: the bin disappeared before the commit; nothing was stored.
    :raise DatabaseUnavailable: the database could not be reached or written; nothing was stored.
    """
    row = build_row(raw, target.id, now)
    url = sent_url(base_url, target.id, raw) if target.signature_scheme == apitree.NAME else None
    analysis = analyze(raw, target, now, catalog, url)
    rejected = target.strict_validation and analysis.breaks_expectation
    row.update(analysis.columns)
    row["forward_url"] = target.forward_url
    row["rejection"] = analysis.validation.to_dict() if rejected else None
    stored = store.store(row)
    return Recorded(stored.id, stored.seq, analysis, stored.answer, rejected)


def record_sample(
    store: CaptureStore,
    catalog: Catalog,
    event: Event,
    bin_id: str,
    *,
    now: datetime,
    host: str,
    base_url: str,
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
    return record(store, target, raw, now=now, catalog=catalog, base_url=base_url)


def sent_url(base_url: str, bin_id: str, raw: RawRequest) -> str:
    """The URL the sender used, as signatures that cover the URL (ApiTree's) computed it."""
    url = f"{base_url}/b/{bin_id}" + (raw.path if raw.path != "/" else "")
    return url + ("?" + raw.query_string if raw.query_string else "")
