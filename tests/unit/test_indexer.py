"""The text index, built in the background: every queued capture is indexed once, by whichever
indexer takes it; what goes is not indexed; compressed bodies are indexed decoded."""

from __future__ import annotations

import gzip
from concurrent.futures import ThreadPoolExecutor

import pytest
from actions import index_all
from actions import store_captures
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from receiver.capture import listing
from receiver.capture.indexer import index_pending
from receiver.capture.request import RawRequest
from receiver.storage.db import db
from receiver.storage.models import SearchQueue
from receiver.web.services import services


def queued(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(SearchQueue))


def indexed(app) -> int:
    with app.app_context():
        return db.session.scalar(text("SELECT count(*) FROM request_search"))


def found(app, bin_id: str, q: str) -> list[int]:
    with app.app_context():
        page = listing.list_requests(
            db.session, bin_id, filters=listing.parse_filter(None, None, None, q)
        )
        return [item.id for item in page.requests]


def test_captures_are_queued_then_indexed_once(app, bins):
    bin_id = bins.create()["id"]
    ids = store_captures(
        app, bin_id, [RawRequest("POST", f"/n/{i}", "", [], b"") for i in range(5)]
    )
    assert (queued(app), indexed(app)) == (5, 0)
    assert found(app, bin_id, "/n/3") == [ids[3]]  # found while still queued
    assert index_all(app) == 5
    assert (queued(app), indexed(app)) == (0, 5)
    assert found(app, bin_id, "/n/3") == [ids[3]]  # and from the index
    assert index_all(app) == 0


def test_concurrent_indexers_index_each_capture_once(app, make_app, bins):
    bin_id = bins.create()["id"]
    store_captures(app, bin_id, [RawRequest("POST", f"/c/{i}", "", [], b"x") for i in range(200)])
    others = [make_app(), make_app()]

    def drain(other) -> int:
        total = 0
        with other.app_context():
            lock = services(other).write_lock
            while done := index_pending(db.engine, lock, limit=16):
                total += done
        return total

    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(drain, others))
    assert sum(counts) == 200
    assert (queued(app), indexed(app)) == (0, 200)


def test_a_deleted_capture_leaves_the_queue_and_the_index(app, client, bins):
    bin_id = bins.create()["id"]
    first, second = store_captures(
        app,
        bin_id,
        [RawRequest("POST", "/gone", "", [], b""), RawRequest("POST", "/kept", "", [], b"")],
    )
    assert client.delete(f"/api/bins/{bin_id}/requests/{first}").status_code == 204
    assert queued(app) == 1
    index_all(app)
    assert client.delete(f"/api/bins/{bin_id}/requests/{second}").status_code == 204
    # a deleted capture is never found, also while its text is still in the index (SQLite
    # takes it out in the background, PostgreSQL at once)
    assert found(app, bin_id, "kept") == []
    index_all(app)
    assert (queued(app), indexed(app)) == (0, 0)


def test_a_gzip_body_is_searchable_by_its_decoded_text(app, bins):
    bin_id = bins.create()["id"]
    body = gzip.compress(b'{"customer": "Ada Lovelace"}')
    (rid,) = store_captures(
        app, bin_id, [RawRequest("POST", "/", "", [("Content-Encoding", "gzip")], body)]
    )
    index_all(app)
    assert found(app, bin_id, "ada lovelace") == [rid]


def test_a_percent_encoded_query_is_searchable_decoded(app, bins):
    bin_id = bins.create()["id"]
    (rid,) = store_captures(app, bin_id, [RawRequest("GET", "/", "who=ada%20lovelace", [], b"")])
    index_all(app)
    assert found(app, bin_id, "ada lovelace") == [rid]


def test_an_indexer_in_another_schema_of_the_database_does_not_hold_this_one_back(app, bins):
    """PostgreSQL's advisory locks belong to the whole database: the election is per schema, so
    receivers in other schemas of one database (the tests' workers, several deployments) each
    index their own captures."""
    from sqlalchemy import create_engine

    from receiver.capture.indexer import ELECTION_KEY
    from receiver.capture.indexer import ELECTION_LOCK
    from receiver.capture.indexer import ELECTION_UNLOCK

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite elects its indexer through a file beside its own database")
        other = create_engine(db.engine.url)
    bin_id = bins.create()["id"]
    (rid,) = store_captures(app, bin_id, [RawRequest("POST", "/", "", [], b"hello indexer")])
    with other.connect() as connection:
        connection.execute(text("SET search_path TO public"))  # another receiver's schema
        assert connection.execute(text(f"SELECT {ELECTION_LOCK}"), {"key": ELECTION_KEY}).scalar()
        try:
            index_all(app)
            assert (queued(app), indexed(app)) == (0, 1)
        finally:
            connection.execute(text(f"SELECT {ELECTION_UNLOCK}"), {"key": ELECTION_KEY})
    other.dispose()
    assert found(app, bin_id, "hello indexer") == [rid]
