"""receiver: a self-hosted webhook receiver and test inspector."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, database, capture store, catalog, blueprints, CLI and headers.

    Wiring only: tables are created or upgraded by the entry points that serve or need them
    (``receiver serve``, the development server, the pytest plugin's server, commands that read
    the database), never here. Flask and everything below it are imported here, not when the
    package is: ``receiver --help``, ``receiver send`` and ``receiver listen`` never need them.
    """
    from flask import Flask

    from receiver import config
    from receiver.capture.indexer import SearchIndexer
    from receiver.capture.store import CaptureStore
    from receiver.catalog.user_schemas import CatalogCache
    from receiver.delivery.forwarding import ForwardWorker
    from receiver.resources import resource_dir
    from receiver.storage import db
    from receiver.storage import migrate
    from receiver.web import register_blueprints

    settings = config.load_settings(os.environ)
    app = Flask(
        __name__,
        instance_path=config.instance_path(settings["RECEIVER_INSTANCE_PATH"]),
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    app.config.from_mapping(settings)
    app.config["SQLALCHEMY_DATABASE_URI"] = config.database_url(
        settings["DATABASE_URL"], app.instance_path
    )
    if test_config:
        app.config.update(test_config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = config.load_secret_key(app.instance_path)
    # the json api reads bodies through flask; ingest reads its own stream with its own bound
    app.config["MAX_CONTENT_LENGTH"] = app.config["RECEIVER_BODY_LIMIT"]

    engine = db.init_app(app)
    migrate.init_app(app)
    app.extensions["receiver.capture"] = CaptureStore(
        engine,
        keep_per_bin=app.config["RECEIVER_MAX_REQUESTS_PER_BIN"],
        max_bytes_per_bin=app.config["RECEIVER_MAX_BYTES_PER_BIN"],
        ttl_days=app.config["RECEIVER_BIN_TTL_DAYS"],
        max_delay_ms=app.config["RECEIVER_MAX_RESPONSE_DELAY_MS"],
    )
    app.extensions["receiver.indexer"] = SearchIndexer(
        engine, app.extensions["receiver.capture"].lock_path
    )
    app.extensions["receiver.catalog"] = CatalogCache(
        budget_ms=app.config["RECEIVER_VALIDATION_BUDGET_MS"]
    )
    # these threads are started by the serving entry points, not by every command
    app.extensions["receiver.forwarder"] = ForwardWorker(engine, forward_policy(app.config))
    register_blueprints(app)
    return app


def forward_policy(config: dict[str, Any]) -> Any:
    """The forwarding policy from the settings."""
    from receiver.delivery.forwarding import ForwardPolicy

    return ForwardPolicy(
        max_attempts=config["RECEIVER_FORWARD_ATTEMPTS"],
        timeout=float(config["RECEIVER_REPLAY_TIMEOUT"]),
    )
