"""The ``receiver`` command in processes of its own: what it imports before it does anything
(``--help``, ``send`` and ``listen`` import no Flask, SQLAlchemy or Alembic; checked on the
modules loaded, never on a clock: bench/startup.py has the CPU figures), and ``receiver send``
with no database, with a SQLite database read by the standard library, and with one whose
tables are not up to date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from servers import clean_env
from servers import run

from receiver import create_app
from receiver.cli import COMMANDS
from receiver.config import instance_path
from receiver.storage.migrate import upgrade_database
from receiver.web.serving import close_app

pytestmark = pytest.mark.system

HEAVY = ("flask", "werkzeug", "jinja2", "sqlalchemy", "flask_sqlalchemy", "alembic", "gunicorn")
# runs the receiver command in this process, then says which of HEAVY it imported
PROBE = f"""
import sys
from receiver.cli import main
try:
    main(sys.argv[1:], prog_name="receiver")
except SystemExit as stop:
    code = stop.code
heavy = sorted({{name.split(".")[0] for name in sys.modules}} & set({HEAVY!r}))
print("imported: " + " ".join(heavy), file=sys.stderr)
sys.exit(code)
"""


def probe(*args: str, cwd: Path, instance: Path | None = None, check: bool = True):
    """Run ``receiver ARGS`` in a fresh interpreter; its result, and the heavy modules loaded."""
    env = clean_env({"RECEIVER_INSTANCE_PATH": str(instance)} if instance else None)
    result = run([sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, check=check)
    line = [text for text in result.stderr.splitlines() if text.startswith("imported:")][-1]
    return result, line.removeprefix("imported:").split()


# Flask's own commands and Flask-Migrate's are the server's stack
STACK_COMMANDS = {"db", "flask"}


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"]]
    + [[name, "--help"] for name in COMMANDS if name not in STACK_COMMANDS],
)
def test_help_and_version_import_no_server_stack(tmp_path, args):
    result, heavy = probe(*args, cwd=tmp_path)

    assert heavy == []
    if args == ["--help"]:
        assert "-A, --app" not in result.stdout and "\n  routes " not in result.stdout


def test_listen_starts_without_the_server_stack(tmp_path):
    """A usage error is found after the command's module and the relay are loaded."""
    result, heavy = probe(
        "listen", "http://127.0.0.1:9/b/abc", "--to", "ftp://x", cwd=tmp_path, check=False
    )

    assert result.returncode == 2, result.stderr
    assert "--to" in result.stderr
    assert heavy == []


def test_send_without_a_database_sends_the_shipped_example_and_creates_nothing(
    tmp_path, httpserver
):
    httpserver.expect_request("/hooks").respond_with_data("")
    instance = tmp_path / "instance"

    result, heavy = probe(
        "send",
        "appery",
        "PROJECT_BUILD_IOS_FAIL",
        "--to",
        httpserver.url_for("/hooks"),
        cwd=tmp_path,
        instance=instance,
    )

    assert "appery PROJECT_BUILD_IOS_FAIL -> 200" in result.stdout
    assert heavy == []
    assert not instance.exists()
    [(sent, _)] = httpserver.log
    assert sent.headers["User-Agent"].startswith("receiver-send/")


def instance_with_a_user_schema(folder: Path) -> Flask:
    """An instance folder whose SQLite database holds the user event ``acme/order.paid``."""
    app = create_app(
        {
            "SECRET_KEY": "k",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'receiver.db'}",
            "RECEIVER_FORWARD_WORKER": False,
        }
    )
    upgrade_database(app)
    document = {
        "schema": {"type": "object"},
        "example": {"order": "A-1"},
        "headers": [["X-Acme-Event", "order.paid"]],
    }
    answer = app.test_client().put("/api/catalog/acme/order.paid", json=document)
    assert answer.status_code == 201, answer.get_json()
    return app


def send_acme(folder: Path, httpserver: Any):
    """``receiver send acme order.paid`` to the target, with ``folder`` as the instance."""
    httpserver.expect_request("/hooks").respond_with_data("")
    target = httpserver.url_for("/hooks")
    return probe("send", "acme", "order.paid", "--to", target, cwd=folder, instance=folder)


def test_send_reads_a_sqlite_databases_user_schemas_without_sqlalchemy(tmp_path, httpserver):
    close_app(instance_with_a_user_schema(tmp_path))

    result, heavy = send_acme(tmp_path, httpserver)

    assert "acme order.paid -> 200" in result.stdout
    assert heavy == []
    [(sent, _)] = httpserver.log
    assert json.loads(sent.get_data()) == {"order": "A-1"}
    assert sent.headers["X-Acme-Event"] == "order.paid"


def test_send_upgrades_a_database_whose_tables_are_not_up_to_date(tmp_path, httpserver):
    import flask_migrate

    app = instance_with_a_user_schema(tmp_path)
    with app.app_context():
        flask_migrate.downgrade(revision="91ee4e447b83")
    close_app(app)

    result, heavy = send_acme(tmp_path, httpserver)

    assert "acme order.paid -> 200" in result.stdout
    assert "sqlalchemy" in heavy  # the server's stack migrated the tables, then read them
    assert json.loads(httpserver.log[0][0].get_data()) == {"order": "A-1"}


def test_the_instance_folder_is_where_flask_would_put_it():
    assert instance_path() == Flask("receiver").instance_path
    assert instance_path("some/where") == str(Path("some/where").resolve())
