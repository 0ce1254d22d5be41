"""receiver: a self-hosted webhook receiver and test inspector."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    # imported where it is used: commands that need no app (mcp, listen) start without Flask
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
    from receiver.resources import resource_dir
    from receiver.storage import db
    from receiver.storage import migrate
    from receiver.web import register_blueprints
    from receiver.web.ingest import Ingest
    from receiver.web.services import EXTENSION as SERVICES
    from receiver.web.services import build_services

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
    app.extensions[SERVICES] = build_services(app, engine)
    register_blueprints(app)
    # ingest is served in front of Flask (see web.ingest): a capture needs none of its machinery
    app.wsgi_app = Ingest(app.wsgi_app, app.extensions[SERVICES], app.config)  # type: ignore[method-assign]
    return app
