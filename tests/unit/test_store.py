"""The capture store's own DBAPI connections: how many stay open, and that closing is final.

The store keeps connections outside SQLAlchemy's pool (one reader per thread, one writer), so
nothing but the store itself closes them. These tests count them through the store's list.
"""

from __future__ import annotations

import json
import threading
import time
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


# -- driver values and failure paths ----------------------------------------------------------


@pytest.mark.parametrize("dialect_name", ["sqlite", "postgresql"])
def test_row_values_are_what_the_column_types_would_bind(dialect_name):
    from datetime import UTC
    from datetime import datetime

    from sqlalchemy.dialects import postgresql
    from sqlalchemy.dialects import sqlite

    from receiver.capture.statements import JSON_COLUMNS
    from receiver.capture.statements import ROW_COLUMNS
    from receiver.capture.statements import Statements
    from receiver.capture.statements import requests_table

    dialect = (sqlite if dialect_name == "sqlite" else postgresql.psycopg).dialect()
    row = {
        "bin_id": "b",
        "received_at": datetime(2026, 12, 7, 5, 0, 0, 0, tzinfo=UTC),
        "method": "POST",
        "path": "/",
        "query_string": "a=1",
        "headers": [["Content-Type", "application/json"], ["X-É", "ü"]],
        "body": b"\x00\xff{}",
        "content_type": "application/json",
        "size": 4,
        "remote_addr": "127.0.0.1",
        "event_provider": None,
        "event_id": None,
        "validation_status": "not_json",
        "validation": {"status": "not_json", "errors": [], "note": "ü\u2028"},
        "signature_status": "not_configured",
        "signature": {"status": "not_configured", "scheme": None},
    }

    values = Statements(dialect).row_values(row)

    for name in ROW_COLUMNS:
        column_type = requests_table.c[name].type.dialect_impl(dialect)
        processor = column_type.bind_processor(dialect)
        expected = processor(row[name]) if processor and row[name] is not None else row[name]
        got = values[name]
        if name in JSON_COLUMNS:  # JSON is text on both; compared by the value it holds
            expected = expected.obj if hasattr(expected, "obj") else json.loads(expected)
            got = json.loads(got)
        if isinstance(expected, memoryview | bytearray):
            expected = bytes(expected)
        assert got == expected, name


def fill_the_disk(app: Flask) -> None:
    """Make the SQLite file refuse to grow, on the store's own writer connection (SQLite's own
    "database or disk is full": a real storage failure, not a stand-in)."""
    connection = store_of(app)._writer_connection()
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")


def test_a_database_that_cannot_be_written_answers_503_and_the_next_capture_reconnects(
    app, client, bins
):
    if store_of(app).engine.dialect.name != "sqlite":
        pytest.skip(
            "SQLite's page limit stands for a full disk; PostgreSQL outages are tested in "
            "tests/system/test_database_outage.py"
        )
    bin_id = bins.create()["id"]
    fill_the_disk(app)

    refused = bins.ingest(bin_id, body=b"x" * 8000)

    assert refused.status_code == 503
    assert refused.headers["Retry-After"]
    assert refused.get_json()["error"]["code"] == "database_unavailable"
    assert bins.requests(bin_id)["requests"] == []
    # the failed writer connection was dropped: the next capture opens a fresh one
    assert bins.ingest(bin_id, body=b"{}").status_code == 200
    assert [r["size"] for r in bins.requests(bin_id)["requests"]] == [2]


def test_a_batch_that_fails_is_retried_row_by_row_so_one_bad_row_fails_alone(app, bins):
    from receiver.capture.request import RawRequest
    from receiver.capture.request import build_row
    from receiver.capture.store import BinGone
    from receiver.capture.store import _Pending
    from receiver.storage.models import utcnow

    kept, deleted = bins.create()["id"], bins.create()["id"]
    assert bins.client.delete(f"/api/bins/{deleted}").status_code == 204

    def pending(bin_id: str) -> _Pending:
        row = build_row(RawRequest("POST", "/", "", [], b"{}"), bin_id, utcnow())
        row.update(forward_url=None, rejection=None)
        return _Pending(row, -1, None)

    batch = [pending(kept), pending(deleted), pending(kept)]
    store_of(app)._commit_batch(batch)

    assert [entry.done for entry in batch] == [True, True, True]
    assert isinstance(batch[1].error, BinGone)
    assert batch[0].result is not None and batch[2].result is not None
    assert (batch[0].result.seq, batch[2].result.seq) == (1, 2)
    assert len(bins.requests(kept)["requests"]) == 2


def test_rows_analysed_with_old_settings_go_back_and_the_others_are_stored(app, bins):
    from receiver.capture.request import RawRequest
    from receiver.capture.request import build_row
    from receiver.capture.store import StaleAnalysis
    from receiver.capture.store import _Pending
    from receiver.storage.models import utcnow

    current, changed = bins.create()["id"], bins.create()["id"]
    store = store_of(app)
    versions = {
        bin_id: store.lookup(bin_id, utcnow()).settings_version for bin_id in (current, changed)
    }
    assert bins.client.patch(f"/api/bins/{changed}", json={"provider": "qovery"}).status_code == 200

    def pending(bin_id: str) -> _Pending:
        row = build_row(RawRequest("POST", "/", "", [], b"{}"), bin_id, utcnow())
        row.update(forward_url=None, rejection=None)
        return _Pending(row, versions[bin_id], store.known_catalog_version())

    batch = [pending(current), pending(changed), pending(current)]
    store._commit_batch(batch)

    assert isinstance(batch[1].error, StaleAnalysis)
    assert batch[0].result is not None and batch[2].result is not None
    assert [r["bin_id"] for r in bins.requests(current)["requests"]] == [current, current]
    assert bins.requests(changed)["requests"] == []


def test_a_gathering_leader_commits_as_soon_as_its_batch_is_full(app, bins, monkeypatch):
    """The leader waits for more rows while other threads are sending; only a full batch ends
    that wait early (the rows before it do not wake it). The gathering wait is an hour here:
    the test ends only if the full batch wakes the leader."""
    from receiver.capture import store as store_module
    from receiver.capture.request import RawRequest
    from receiver.capture.request import build_row
    from receiver.storage.models import utcnow

    monkeypatch.setattr(store_module, "MAX_BATCH", 4)
    monkeypatch.setattr(store_module, "GATHER_SECONDS", 3600.0)
    monkeypatch.setattr(store_module, "BUSY_SECONDS", 3600.0)
    bin_id = bins.create()["id"]
    store = store_of(app)
    commits: list[int] = []
    store.on_commit.append(lambda committed: commits.append(committed.captures))
    store._queued_at[-1] = time.monotonic()  # another sender, busy just now

    def send() -> int:
        row = build_row(RawRequest("POST", "/", "", [], b"{}"), bin_id, utcnow())
        row.update(forward_url=None, rejection=None)
        return store.store(row).seq

    senders = [threading.Thread(target=send) for _ in range(4)]
    for sender in senders:
        sender.start()
    given = time.monotonic() + 60  # a bound on a hang, not on speed
    for sender in senders:
        sender.join(timeout=max(0.0, given - time.monotonic()))
    stuck = any(sender.is_alive() for sender in senders)
    if stuck:  # let the leader go, so that the app can close
        with store._group:
            store._arrivals.notify_all()
    assert not stuck
    assert commits == [4]
    assert len(bins.requests(bin_id)["requests"]) == 4


def test_column_arrays_keep_each_statements_bodies_within_the_bound(monkeypatch):
    from receiver.capture import statements
    from receiver.capture.statements import INSERT_COLUMNS
    from receiver.capture.statements import Statements

    monkeypatch.setattr(statements, "ARRAY_BYTES", 1000)
    bodies = [b"a" * 600, None, b"b" * 400, b"c" * 2500, b"d" * 10, b"e" * 995]
    values = [dict.fromkeys(INSERT_COLUMNS, n) | {"body": body} for n, body in enumerate(bodies)]

    arrays = list(Statements.column_arrays(values))

    # 600 + 0 + 400 fit; a body over the bound goes alone; 10 + 995 do not fit together
    assert [chunk["id"] for chunk in arrays] == [[0, 1, 2], [3], [4], [5]]
    assert all(set(chunk) == set(INSERT_COLUMNS) for chunk in arrays)
    assert [body for chunk in arrays for body in chunk["body"]] == bodies


def test_a_batch_in_several_statements_is_stored_whole_and_queued_for_the_index(
    app, bins, monkeypatch
):
    from receiver.capture import statements
    from receiver.capture.request import RawRequest
    from receiver.capture.request import build_row
    from receiver.storage.models import SearchQueue
    from receiver.storage.models import db
    from receiver.storage.models import utcnow

    monkeypatch.setattr(statements, "ARRAY_BYTES", 1000)
    bin_id = bins.create()["id"]
    bodies = [b'{"n": "%s"}' % (b"x" * size) for size in (600, 300, 2500, 10, 990)]
    rows = [build_row(RawRequest("POST", "/", "", [], body), bin_id, utcnow()) for body in bodies]

    stored = store_of(app).store_batch(rows)

    assert [item.seq for item in stored] == [1, 2, 3, 4, 5]
    listed = bins.requests(bin_id, limit=10)["requests"]
    assert sorted(item["size"] for item in listed) == sorted(len(body) for body in bodies)
    for item in stored:
        raw = bins.client.get(f"/api/bins/{bin_id}/requests/{item.id}/raw")
        assert raw.data == bodies[item.seq - 1]
    with app.app_context():
        queued = {row.request_id for row in db.session.query(SearchQueue)}
    assert {item.id for item in stored} <= queued


def test_postgresql_plans_the_capture_statements_once(app, client, bins):
    """The writer's statements are prepared with one generic plan each: the bin update takes
    the batch's ids from a series as long as the batch, and PostgreSQL, left to choose, made a
    custom plan for it at every commit."""
    store = store_of(app)
    if store.is_sqlite:
        pytest.skip("SQLite has no plan cache to choose from")
    bin_id = bins.create()["id"]
    for _ in range(12):  # psycopg prepares a statement from its sixth execution
        assert client.post(f"/b/{bin_id}", data=b"{}").status_code == 200
    writer = store._writer_connection()  # the requests are answered: it is idle now
    plans = writer.execute(
        "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
    ).fetchall()
    writer.rollback()
    touches = [(generic, custom) for text, generic, custom in plans if "UPDATE bin" in text]
    assert touches and all(generic >= 1 and custom == 0 for generic, custom in touches), plans
