"""The app's services: built in one place (`build_services`, from ``create_app``), started by
the serving entry points (`Services.start`), closed in one place (`Services.close`).

Every long-lived object of a process lives here, typed: the capture store and the write lock it
shares with the other SQLite writers, the merged catalog, the text indexer, the forwarder, the
scenario runner, the change feed's watcher, the ingest rate table and the outgoing-address
policy. Views reach them through `services()`; nothing is looked up by a string key, and nothing
is made lazily behind a module lock. ``docs/concurrency.md`` lists their threads and locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask import current_app
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from receiver.capture.feed import FeedWatcher
from receiver.capture.feed import SharedReads
from receiver.capture.feed import UnmatchedRuns
from receiver.capture.indexer import SearchIndexer
from receiver.capture.store import CaptureStore
from receiver.catalog.model import Catalog
from receiver.catalog.user_schemas import CatalogCache
from receiver.delivery.forwarding import ForwardPolicy
from receiver.delivery.forwarding import ForwardWorker
from receiver.delivery.http import OutgoingPolicy
from receiver.delivery.scenarios import ScenarioRunner
from receiver.storage.checkpoints import WRITER_AUTOCHECKPOINT
from receiver.storage.checkpoints import Checkpointer
from receiver.storage.writelock import WriteLock
from receiver.web.ratelimit import RateTable

EXTENSION = "receiver"


@dataclass
class Services:
    """The long-lived objects of one app (one per server process)."""

    engine: Engine
    write_lock: WriteLock
    # SQLite: the WAL's checkpoints, off the capture path
    checkpointer: Checkpointer | None
    capture: CaptureStore
    catalog: CatalogCache
    indexer: SearchIndexer
    forwarder: ForwardWorker
    scenarios: ScenarioRunner
    feed: FeedWatcher
    feed_reads: SharedReads
    feed_unmatched: UnmatchedRuns
    rates: RateTable | None
    outgoing: OutgoingPolicy
    forward_in_process: bool

    def catalog_for(self, version: Any) -> Catalog:
        """The merged catalog for the user catalog's change marker ``version``."""
        found = self.catalog.cached(version)
        if found is None:
            with Session(self.engine) as session:
                found = self.catalog.current(session, version)
        return found

    def start(self) -> None:
        """Start the threads of a serving process: the text indexer, the scenario runner, and
        the forwarder unless the settings give forwarding to ``receiver forward-worker``."""
        self.indexer.start()
        self.scenarios.start()
        if self.checkpointer is not None:
            self.checkpointer.start()
        if self.forward_in_process:
            self.forwarder.start()

    def close(self) -> None:
        """Stop every thread and close every connection and file (a server done with it)."""
        self.feed.close()
        self.forwarder.stop()
        self.indexer.stop()
        self.scenarios.stop()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.capture.close()
        if self.rates is not None:
            self.rates.close()
        self.write_lock.close()
        self.engine.dispose()


def build_services(app: Flask, engine: Engine) -> Services:
    """Every service of the app, from its settings (nothing starts yet)."""
    config = app.config
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    write_lock = WriteLock.for_database(engine.dialect.name, database)
    checkpointer = Checkpointer(engine) if database else None
    capture = CaptureStore(
        engine,
        write_lock=write_lock,
        wal_autocheckpoint=WRITER_AUTOCHECKPOINT if checkpointer else None,
        keep_per_bin=config["RECEIVER_MAX_REQUESTS_PER_BIN"],
        max_bytes_per_bin=config["RECEIVER_MAX_BYTES_PER_BIN"],
        ttl_days=config["RECEIVER_BIN_TTL_DAYS"],
        max_delay_ms=config["RECEIVER_MAX_RESPONSE_DELAY_MS"],
    )
    indexer = SearchIndexer(engine, write_lock)
    outgoing = OutgoingPolicy(public=config["RECEIVER_PUBLIC"])
    forwarder = ForwardWorker(
        engine,
        ForwardPolicy(
            max_attempts=config["RECEIVER_FORWARD_ATTEMPTS"],
            timeout=float(config["RECEIVER_REPLAY_TIMEOUT"]),
            outgoing=outgoing,
        ),
        write_lock=write_lock,
    )
    # commits wake the background work they queued, in this process (others poll slowly)
    capture.on_commit.append(indexer.notify)
    capture.on_commit.append(forwarder.notify)
    if checkpointer is not None:
        capture.on_commit.append(checkpointer.notify)
    limited = config["RECEIVER_RATE_PER_BIN"] or config["RECEIVER_RATE_PER_CLIENT"]
    return Services(
        engine=engine,
        write_lock=write_lock,
        checkpointer=checkpointer,
        capture=capture,
        catalog=CatalogCache(budget_ms=config["RECEIVER_VALIDATION_BUDGET_MS"]),
        indexer=indexer,
        forwarder=forwarder,
        scenarios=ScenarioRunner(
            engine, timeout=float(config["RECEIVER_REPLAY_TIMEOUT"]), outgoing=outgoing
        ),
        feed=FeedWatcher(engine, slots=config["RECEIVER_FEED_WAITERS"]),
        feed_reads=SharedReads(),
        feed_unmatched=UnmatchedRuns(),
        rates=RateTable(Path(app.instance_path) / "ingest-rates") if limited else None,
        outgoing=outgoing,
        forward_in_process=bool(config["RECEIVER_FORWARD_WORKER"]),
    )


def services(app: Flask | None = None) -> Services:
    """The services of ``app`` (the current app when omitted)."""
    found: Services = (app or current_app).extensions[EXTENSION]
    return found
