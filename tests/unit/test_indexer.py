"""The text index, built in the background: every queued capture is indexed once, by whichever
indexer takes it; what goes is not indexed; compressed bodies are indexed decoded."""

from __future__ import annotations

import gzip
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from actions import index_all
from actions import store_captures
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from receiver.capture import listing
from receiver.capture.indexer import SearchIndexer
from receiver.capture.indexer import captures_to_index
from receiver.capture.indexer import index_pending
from receiver.capture.indexer import oldest_queued
from receiver.capture.request import RawRequest
from receiver.capture.request import build_row
from receiver.storage.db import db
from receiver.storage.models import SearchQueue
from receiver.storage.models import utcnow
from receiver.web.services import services


def queued_count(app) -> int:
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
    assert (queued_count(app), indexed(app)) == (5, 0)
    assert found(app, bin_id, "/n/3") == [ids[3]]  # found while still queued
    assert index_all(app) == 5
    assert (queued_count(app), indexed(app)) == (0, 5)
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
    assert (queued_count(app), indexed(app)) == (0, 200)


def test_a_deleted_capture_leaves_the_queue_and_the_index(app, client, bins):
    bin_id = bins.create()["id"]
    first, second = store_captures(
        app,
        bin_id,
        [RawRequest("POST", "/gone", "", [], b""), RawRequest("POST", "/kept", "", [], b"")],
    )
    assert client.delete(f"/api/bins/{bin_id}/requests/{first}").status_code == 204
    assert queued_count(app) == 1
    index_all(app)
    assert client.delete(f"/api/bins/{bin_id}/requests/{second}").status_code == 204
    # a deleted capture is never found, also while its text is still in the index (SQLite
    # takes it out in the background, PostgreSQL at once)
    assert found(app, bin_id, "kept") == []
    index_all(app)
    assert (queued_count(app), indexed(app)) == (0, 0)


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
            assert (queued_count(app), indexed(app)) == (0, 1)
        finally:
            connection.execute(text(f"SELECT {ELECTION_UNLOCK}"), {"key": ELECTION_KEY})
    other.dispose()
    assert found(app, bin_id, "hello indexer") == [rid]


def test_the_next_batch_is_read_without_walking_the_captures_already_indexed(app, bins):
    """The indexer's read costs as much with a million captures indexed as with none: it
    reads the queue's oldest entries, then their captures by id, and no other capture."""
    bin_id = bins.create()["id"]
    store = services(app).capture
    rows = []
    for i in range(600):
        row = build_row(RawRequest("POST", f"/i/{i}", "", [], b"x" * 200), bin_id, utcnow())
        rows.append(row | {"forward_url": None, "rejection": None})
    store.store_batch(rows[:536])
    assert index_all(app) == 536
    store.store_batch(rows[536:])
    with app.app_context():
        connection = db.session.connection()
        ids = list(connection.execute(oldest_queued(64)).scalars())
        assert ids == sorted(ids) and len(ids) == 64
        read = captures_to_index(ids)
        statement = str(
            read.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
        )
        if db.engine.dialect.name == "sqlite":
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}").all()
            details = [str(row[-1]) for row in plan]
            assert not [line for line in details if line.startswith("SCAN captured_request")]
            assert any("SEARCH captured_request USING INTEGER PRIMARY KEY" in d for d in details)
        else:
            # as on a big table: on this small one the planner may well read it all at once
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}")
            walked = _rows_read(plan.scalar()[0]["Plan"], "captured_request")
            assert walked == 64, walked
        paths = [row.path for row in connection.execute(read)]
    assert paths == [f"/i/{i}" for i in range(536, 600)]


def _rows_read(node: dict, table: str) -> int:
    """How many rows of ``table`` a PostgreSQL plan's scans returned, over all their loops."""
    own = node["Actual Rows"] * node["Actual Loops"] if node.get("Relation Name") == table else 0
    return own + sum(_rows_read(child, table) for child in node.get("Plans", []))


def test_the_indexer_counts_the_databases_work_on_postgresql(app):
    """Its pace is a share of a core. SQLite indexes inside the indexer's thread, whose CPU time
    is the cost; PostgreSQL does most of the work in its own process on the same cores, which
    only the wall clock sees."""
    with app.app_context():
        indexer = SearchIndexer(db.engine, services(app).write_lock)
        sqlite = db.engine.dialect.name == "sqlite"
    assert indexer.work_clock is (time.thread_time if sqlite else time.monotonic)
