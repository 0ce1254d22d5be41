"""The capture store's own DBAPI connections: how many stay open, and that closing is final.

The store keeps connections outside SQLAlchemy's pool (one reader per thread, one writer), so
nothing but the store itself closes them. These tests count them through the store's list.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from receiver.capture.store import CaptureStore
from receiver.capture.store import StoreClosed
from receiver.web.services import services
from receiver.web.serving import RAW_HEADERS_KEY
from receiver.web.serving import close_app


def store_of(app: Flask) -> CaptureStore:
    return services(app).capture


def in_a_thread(work: Callable[[], Any]) -> Any:
    """Run ``work`` in a short-lived thread, as a thread-per-connection server does."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(work())
        except BaseException as error:  # handed to the test's thread
            outcome.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    [result] = outcome
    if isinstance(result, BaseException):
        raise result
    return result


def test_readers_of_finished_threads_are_closed(app, client, bins):
    bin_id = bins.create()["id"]

    def ingest() -> int:
        return client.post(f"/b/{bin_id}", data=b"{}", environ_overrides={RAW_HEADERS_KEY: []})

    for _ in range(20):
        assert in_a_thread(ingest).status_code == 200

    # the writer, and the reader of the last thread: 20 threads did not leave 20 readers open
    assert len(store_of(app)._connections) <= 3
    assert len(bins.requests(bin_id, limit=100)["requests"]) == 20


def test_a_request_after_close_opens_no_connection(make_app):
    app = make_app()
    client = app.test_client()
    bin_id = client.post("/api/bins", json={}).get_json()["id"]
    close_app(app)

    # a request thread still running when its server closed the app: answered 500, not stored
    late = in_a_thread(lambda: client.post(f"/b/{bin_id}", data=b"{}"))

    assert late.status_code == 500
    assert store_of(app)._connections == []
    with pytest.raises(StoreClosed):
        store_of(app).user_schema_version()
