"""The capture use case: analyse a request once, commit it, and decide what the bin answers.

The web layer hands over a `RawRequest` and the bin's `IngestTarget`; everything else comes in as
arguments (the catalog, the public base URL), so this module never reaches for Flask. Nothing
before the commit may answer 2xx: `record` returns only once the row is durable, or raises. The
answer itself is decided in the commit's transaction (see ``capture.store``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from receiver.bins.responses import BinResponse
from receiver.capture.analysis import Analysis
from receiver.capture.analysis import analyze
from receiver.capture.request import RawRequest
from receiver.capture.request import build_row
from receiver.capture.store import BinGone
from receiver.capture.store import CaptureStore
from receiver.capture.store import IngestTarget
from receiver.capture.store import StaleAnalysis
from receiver.catalog.model import Catalog
from receiver.catalog.model import Event
from receiver.catalog.samples import sample_delivery
from receiver.signatures import apitree

# the remote address a sample delivered from inside the app is stored with
SAMPLE_REMOTE_ADDR = "receiver"
# how many times a capture is analysed when its bin or the catalog keeps changing under it
ANALYSES = 4


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
    catalog_for: Callable[[Any], Catalog],
    base_url: Callable[[], str],
) -> Recorded:
    """Analyse and commit one capture; returns once the row is durable.

    ``catalog_for`` gives the merged catalog for a user-catalog change marker;
    ``base_url`` the public base the sender used (ApiTree's inferred signature covers the URL,
    so it is asked for only then). The target may come from the store's memory: when the commit
    finds the bin's settings or the user catalog changed since, the capture is analysed again
    with fresh ones (a few times at most; then it is stored with the last analysis).

    :raise BinGone: the bin disappeared before the commit; nothing was stored.
    :raise DatabaseUnavailable: the database could not be reached or written; nothing was stored.
    """
    base = build_row(raw, target.id, now)
    for attempt in range(1, ANALYSES + 1):
        catalog_version = store.known_catalog_version()
        url = (
            sent_url(base_url(), target.id, raw)
            if target.signature_scheme == apitree.NAME
            else None
        )
        analysis = analyze(raw, target, now, catalog_for(catalog_version), url)
        rejected = target.strict_validation and analysis.breaks_expectation
        row = base | analysis.columns
        row["forward_url"] = target.forward_url
        row["rejection"] = analysis.validation.to_dict() if rejected else None
        checked = attempt < ANALYSES
        try:
            stored = store.store(
                row,
                settings_version=target.settings_version if checked else -1,
                catalog_version=catalog_version if checked else None,
            )
        except StaleAnalysis:
            fresh = store.refresh(target.id, now)
            if fresh is None:
                raise BinGone(target.id) from None
            target = fresh
            continue
        return Recorded(stored.id, stored.seq, analysis, stored.answer, rejected)
    raise AssertionError("unreachable: the last attempt is stored unchecked")


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
    target = store.refresh(bin_id, now)
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
        store, target, raw, now=now, catalog_for=lambda _version: catalog, base_url=lambda: base_url
    )


def sent_url(base_url: str, bin_id: str, raw: RawRequest) -> str:
    """The URL the sender used, as signatures that cover the URL (ApiTree's) computed it."""
    url = f"{base_url}/b/{bin_id}" + (raw.path if raw.path != "/" else "")
    return url + ("?" + raw.query_string if raw.query_string else "")
