"""receiver: a self-hosted webhook receiver and test inspector."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, database, capture writer, blueprints, CLI and security headers."""
    from . import cli
    from . import config
    from . import db
    from . import migrate
    from .capture_store import CaptureStore
    from .forwarding import ForwardWorker
    from .user_schemas import CatalogCache
    from .web import register_blueprints

    # project-root templates/ and static/: relative folders would resolve inside the package
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_mapping(config.load_settings(os.environ))
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get(
        "DATABASE_URL"
    ) or config.default_database_url(app.instance_path)
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config.load_secret_key(app.instance_path, os.environ)
    url = db_url = app.config["SQLALCHEMY_DATABASE_URI"]
    if db_url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + db_url.split("://", 1)[1]
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", db.engine_options(url))
    # the json api reads bodies through flask; ingest reads its own stream with its own bound
    app.config["MAX_CONTENT_LENGTH"] = app.config["RECEIVER_BODY_LIMIT"]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app)
    with app.app_context():
        engine = db.db.engine
        lock = engine.url.database + ".writelock" if url.startswith("sqlite:///") else None
        app.extensions["receiver.capture"] = CaptureStore(
            engine,
            keep_per_bin=app.config["RECEIVER_MAX_REQUESTS_PER_BIN"],
            ttl_days=app.config["RECEIVER_BIN_TTL_DAYS"],
            lock_path=lock,
        )
    app.extensions["receiver.catalog"] = CatalogCache()
    register_blueprints(app)
    cli.init_app(app)
    if app.config["RECEIVER_AUTO_MIGRATE"]:
        migrate.upgrade_database(app)
    # started by the serving entry points (gunicorn.conf.py, app.py), not by every flask command
    app.extensions["receiver.forwarder"] = ForwardWorker(engine, forward_policy(app.config))
    return app


def forward_policy(config: dict[str, Any]) -> Any:
    """The forwarding policy from the settings."""
    from .forwarding import ForwardPolicy

    return ForwardPolicy(
        max_attempts=config["RECEIVER_FORWARD_ATTEMPTS"],
        timeout=float(config["RECEIVER_REPLAY_TIMEOUT"]),
    )
