"""Per-app objects the views share: the capture store and the merged catalog."""

from __future__ import annotations

from flask import abort
from flask import current_app

from ..capture_store import CaptureStore
from ..catalog import Catalog
from ..catalog import Event
from ..db import db
from ..user_schemas import CatalogCache


def capture_store() -> CaptureStore:
    """The app's capture store (lean lookups and group commit)."""
    return current_app.extensions["receiver.capture"]


def current_catalog() -> Catalog:
    """The shipped catalog with every user schema over it, as of now."""
    cache: CatalogCache = current_app.extensions["receiver.catalog"]
    return cache.current(db.session, capture_store().user_schema_version())


def load_event(provider: str, event: str) -> Event:
    """A catalog event.

    :raise 404: unknown provider or event.
    """
    found = current_catalog().get(provider, event)
    if found is None:
        abort(404, description=f"no event {event!r} for provider {provider!r} in the catalog")
    return found
