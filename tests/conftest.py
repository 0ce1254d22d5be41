"""Shared fixtures: a real database per test (SQLite file, and PostgreSQL when configured),
the app, its client and CLI runner, and an actions helper for bins and captures.

The ``database_url`` fixture is parametrized over both backends, so every test that uses the
app runs on each. PostgreSQL tests need ``RECEIVER_TEST_DATABASE_URL`` (``.ci/run`` sets it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from actions import BinActions
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner

from receiver import create_app
from receiver.storage.migrate import upgrade_database
from receiver.web.serving import RawHeaderRequestHandler

PG_ENV = "RECEIVER_TEST_DATABASE_URL"
TABLES = ("forward_job", "replay", "captured_request", "user_schema", "bin")


def close_app(app: Flask) -> None:
    """Stop the app's writer and forwarder threads and close its pooled connections."""
    app.extensions["receiver.forwarder"].stop()
    app.extensions["receiver.capture"].close()
    with app.app_context():
        from receiver.storage.db import db

        db.engine.dispose()


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def base_config(url: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "RECEIVER_AUTO_MIGRATE": False,
        "RECEIVER_FORWARD_WORKER": False,
    }


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once keeps the suite fast)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    app = create_app(base_config(f"sqlite:///{path}"))
    upgrade_database(app)
    with app.app_context():
        from receiver.storage.db import db

        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    close_app(app)
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL schema of this test process's own, migrated once per session, then dropped.

    The process id keeps parallel runs (xdist workers, or two sessions on one machine) apart.
    """
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1/test)")
    schema = f"receiver_test_{worker_id()}_{os.getpid()}"
    base = "postgresql+psycopg://" + base.split("://", 1)[1]
    engine = sa.create_engine(base)
    try:
        # the text search's extension is database-wide: kept in public, out of the way of the
        # per-process schemas that come and go (two processes may race to create it)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    except sa.exc.IntegrityError:
        pass
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csearch_path%3D{schema}"
    app = create_app(base_config(url))
    upgrade_database(app)
    close_app(app)
    yield url
    engine = sa.create_engine(base)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "receiver.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    engine.dispose()
    return url


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Per-test config overrides; a test module may override this fixture."""
    return {}


@pytest.fixture
def app(database_url: str, app_config: dict[str, Any]) -> Iterator[Flask]:
    """The app on the test's database; the writer thread and the pool are closed after."""
    application = create_app({**base_config(database_url), **app_config})
    yield application
    close_app(application)


@pytest.fixture
def make_app(database_url: str) -> Iterator[Any]:
    """Build extra apps on the test's database with config overrides; closed after the test."""
    made: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        application = create_app({**base_config(database_url), **overrides})
        made.append(application)
        return application

    yield build
    for application in made:
        close_app(application)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


@pytest.fixture
def bins(client: FlaskClient) -> BinActions:
    return BinActions(client)


@pytest.fixture
def target(httpserver: Any) -> Iterator[Any]:
    """A replay/forward target: pytest-httpserver keeping the unfolded header pairs of each
    request in its environ (through our raw-header request handler)."""
    server = httpserver.server
    assert server is not None
    original = server.RequestHandlerClass
    server.RequestHandlerClass = RawHeaderRequestHandler
    yield httpserver
    server.RequestHandlerClass = original


HTMX = {"HX-Request": "true"}


@pytest.fixture
def htmx_headers() -> dict[str, str]:
    """Headers of an htmx (non-boosted) request."""
    return dict(HTMX)
