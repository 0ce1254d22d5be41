"""What the views share: the capture store, the merged catalog, and samples sent into a bin."""

from __future__ import annotations

from flask import abort
from flask import request

from receiver.capture.record import record_sample
from receiver.capture.store import BinGone
from receiver.capture.store import CaptureStore
from receiver.catalog.model import Catalog
from receiver.catalog.model import Event
from receiver.storage.db import db
from receiver.storage.models import utcnow
from receiver.web.services import services
from receiver.web.urls import public_base


def capture_store() -> CaptureStore:
    """The app's capture store (lean lookups and group commit)."""
    return services().capture


def current_catalog() -> Catalog:
    """The shipped catalog with every user schema over it, as of now."""
    return services().catalog.current(db.session, capture_store().user_schema_version())


def load_event(provider: str, event: str) -> Event:
    """A catalog event.

    :raise 404: unknown provider or event.
    """
    found = current_catalog().get(provider, event)
    if found is None:
        abort(404, description=f"no event {event!r} for provider {provider!r} in the catalog")
    return found


def deliver_sample(event: Event, bin_id: str) -> int:
    """Capture the catalog example of ``event`` in a bin, as its provider would send it.

    :raise 404: the bin does not exist or has expired.
    """
    try:
        recorded = record_sample(
            capture_store(),
            current_catalog(),
            event,
            bin_id,
            now=utcnow(),
            host=request.host,
            base_url=public_base(),
        )
    except BinGone:
        abort(404, description="no such bin, or it has expired")
    except ValueError as error:  # the bin's key cannot sign (a whpk_ public key, say)
        abort(400, description=f"the sample cannot be signed with this bin's key: {error}")
    return recorded.request_id
