"""Shared fixtures: a real database per test (SQLite file, and PostgreSQL when configured),
the app, its client and CLI runner, and an actions helper for bins and captures.

The ``database_url`` fixture is parametrized over both backends, so every test that uses the
app runs on each. PostgreSQL tests need ``RECEIVER_TEST_DATABASE_URL`` (``.ci/run`` sets it).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Generator
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import servers
import sqlalchemy as sa
from actions import BinActions
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner

from receiver import create_app
from receiver.cli import main as receiver_cli
from receiver.storage.migrate import upgrade_database
from receiver.web.serving import RawHeaderRequestHandler
from receiver.web.serving import close_app

PG_ENV = "RECEIVER_TEST_DATABASE_URL"
TABLES = (
    "mock_delivery",
    "mock_webhook",
    "mock_token",
    "mock_tenant",
    "forward_job",
    "replay",
    "listener",
    "scenario",
    "request_search",
    "captured_request",
    "user_schema",
    "user_provider",
    "bin",
)


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the commands the tests start. A shell starts a background job with SIGINT
    ignored, and every process it starts would inherit that: the tests that stop ``receiver
    listen`` or ``forward-worker`` with Ctrl-C, as a person does, would wait for nothing. A
    handler of our own (even Python's default) is not inherited across exec: children start
    with SIGINT at its default."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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


def execute(url: str, *statements: str) -> None:
    """Run statements in one transaction on a short-lived engine, disposed whatever happens
    (an engine left to the garbage collector closes nothing: psycopg then warns, in whichever
    test happens to be running)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once keeps the suite fast)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    app = create_app(base_config(f"sqlite:///{path}"))
    try:
        upgrade_database(app)
        with app.app_context():
            from receiver.storage.db import db

            with db.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
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
    try:
        # the text search's extension is database-wide: kept in public, out of the way of the
        # per-process schemas that come and go (two processes may race to create it)
        execute(base, "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    except sa.exc.IntegrityError:
        pass
    execute(base, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csearch_path%3D{schema}"
    app = create_app(base_config(url))
    try:
        upgrade_database(app)
    finally:
        close_app(app)
    yield url
    execute(base, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "receiver.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    execute(url, f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    return url


@pytest.fixture(autouse=True)
def subprocesses_need_the_system_marker(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail a test that starts a process without the ``system`` marker (which ``make
    test-fast`` leaves out); such a test shows the process's output with `servers.run`."""
    if request.node.get_closest_marker("system") is not None:
        return

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"{request.node.nodeid} starts a process: mark it pytest.mark.system")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    servers.STARTED.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test's report shows the output of every process it started."""
    report = yield
    if report.failed:
        for process in servers.STARTED:
            report.sections.append((f"output of pid {process.pid}", process.describe()))
    return report


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


class ReceiverRunner(FlaskCliRunner):
    """Runs ``receiver`` commands (not the app's Flask CLI) against the test's app."""

    def invoke(self, cli: Any = None, args: Any = None, **kwargs: Any) -> Any:
        return super().invoke(cli or receiver_cli, args, **kwargs)


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return ReceiverRunner(app)


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
