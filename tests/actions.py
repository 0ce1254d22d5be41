"""The actions helper: repeated steps of many tests (create a bin, send into it, read back)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from receiver.capture.request import RawRequest
from receiver.capture.request import build_row
from receiver.storage.models import utcnow
from receiver.web.services import services
from receiver.web.serving import RAW_HEADERS_KEY


class BinActions:
    """Repeated steps: create a bin, send a request into it, read what was stored."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def create(self, **fields: Any) -> dict[str, Any]:
        response = self.client.post("/api/bins", json=fields)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def ingest(
        self,
        bin_id: str,
        *,
        method: str = "POST",
        path: str = "",
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        query: str = "",
    ) -> Any:
        """Send a request into a bin, handing the exact header pairs over as a server would."""
        headers = headers or []
        url = f"/b/{bin_id}{path}" + (f"?{query}" if query else "")
        return self.client.open(
            url,
            method=method,
            data=body,
            headers=headers,
            environ_overrides={RAW_HEADERS_KEY: headers},
        )

    def capture(self, bin_id: str, **fields: Any) -> int:
        """Send a request into a bin (as `ingest`), expecting it captured; its id."""
        response = self.ingest(bin_id, **fields)
        assert response.status_code == 200, response.data
        return int(response.headers["X-Receiver-Request-Id"])

    def capture_json(
        self, bin_id: str, payload: Any, headers: list[tuple[str, str]] | None = None
    ) -> int:
        """Send a JSON payload into a bin, expecting it captured; its id."""
        pairs = [("Content-Type", "application/json"), *(headers or [])]
        return self.capture(bin_id, body=json.dumps(payload).encode(), headers=pairs)

    def requests(self, bin_id: str, **params: Any) -> dict[str, Any]:
        response = self.client.get(f"/api/bins/{bin_id}/requests", query_string=params)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def request(self, bin_id: str, request_id: int) -> dict[str, Any]:
        response = self.client.get(f"/api/bins/{bin_id}/requests/{request_id}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()


def store_captures(
    app: Flask, bin_id: str, raws: list[RawRequest], received_at: datetime | None = None
) -> list[int]:
    """Commit captures through the app's real capture store (numbered, indexed, answered), as
    ingest does but without HTTP: fast setup for paging and polling tests."""
    store = services(app).capture
    ids = []
    for raw in raws:
        row = build_row(raw, bin_id, received_at or utcnow())
        row.update(forward_url=None, rejection=None)
        ids.append(store.store(row).id)
    return ids


def numbered_captures(
    app: Flask,
    bin_id: str,
    count: int,
    *,
    spacing_ms: float = 0,
    method: str = "POST",
    start: datetime | None = None,
) -> list[int]:
    """``count`` JSON captures ``{"n": i}`` under ``/sub``, received ``spacing_ms`` apart from
    ``start`` (five minutes ago by default), committed through the capture store; their ids."""
    first = start or utcnow() - timedelta(minutes=5)
    return [
        store_captures(
            app,
            bin_id,
            [
                RawRequest(
                    method,
                    "/sub",
                    "a=1",
                    [("Content-Type", "application/json"), ("X-N", str(n))],
                    json.dumps({"n": n}).encode(),
                )
            ],
            received_at=first + timedelta(milliseconds=n * spacing_ms),
        )[0]
        for n in range(count)
    ]


def assert_json_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The API's error shape, ``{"error": {"code", "message"}}`` as JSON, with this status (and
    this code, when given); the error."""
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def logged_above_info(caplog: Any) -> list[str]:
    """What was logged above INFO (background work whose data went away logs nothing more)."""
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno > logging.INFO]


def index_all(app: Flask) -> int:
    """Run the text indexer until nothing is queued (the serving processes do it in the
    background); returns how many captures it indexed."""
    from receiver.capture.indexer import index_pending
    from receiver.storage.db import db

    total = 0
    with app.app_context():
        while done := index_pending(db.engine, services(app).write_lock):
            total += done
    return total
