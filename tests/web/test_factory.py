"""The app factory: configuration, the instance folder, the secret key and the folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver import config
from receiver import create_app
from receiver.web.serving import close_app

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_in_a_clone_templates_and_static_resolve_at_the_project_root(app):
    assert Path(app.template_folder) == PROJECT_ROOT / "templates"
    assert Path(app.static_folder) == PROJECT_ROOT / "static"


def test_body_limit_also_sets_max_content_length(make_app):
    assert make_app(RECEIVER_BODY_LIMIT=4096).config["MAX_CONTENT_LENGTH"] == 4096


def test_settings_come_from_the_environment():
    values = config.load_settings(
        {"RECEIVER_MAX_REQUESTS_PER_BIN": "25", "RECEIVER_BIN_TTL_DAYS": ""}
    )
    assert values["RECEIVER_MAX_REQUESTS_PER_BIN"] == 25
    assert values["RECEIVER_BIN_TTL_DAYS"] == 7


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("RECEIVER_BODY_LIMIT", "10"),
        ("RECEIVER_MAX_REQUESTS_PER_BIN", "0"),
        ("RECEIVER_REPLAY_TIMEOUT", "many"),
        ("RECEIVER_SQLITE_SYNCHRONOUS", "OFF"),
        ("RECEIVER_AUTO_MIGRATE", "perhaps"),
    ],
)
def test_out_of_bounds_settings_are_refused_by_name(name, raw):
    with pytest.raises(ValueError, match=name):
        config.load_settings({name: raw})


def test_secret_key_is_generated_once_into_the_instance_folder(tmp_path):
    first = config.load_secret_key(str(tmp_path))
    second = config.load_secret_key(str(tmp_path))
    assert first == second and len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_secret_key_from_the_environment_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "from-env")
    monkeypatch.setenv("RECEIVER_INSTANCE_PATH", str(tmp_path / "elsewhere"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})
    try:
        assert app.config["SECRET_KEY"] == "from-env"
        assert app.instance_path == str(tmp_path / "elsewhere")
        assert not (tmp_path / "elsewhere" / "secret_key").exists()
    finally:
        close_app(app)


def test_the_instance_path_holds_the_default_database_and_the_generated_key(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("RECEIVER_INSTANCE_PATH", str(tmp_path / "inst"))
    app = create_app()
    try:
        assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/inst/receiver.db"
        assert (tmp_path / "inst" / "secret_key").read_text() == app.config["SECRET_KEY"]
    finally:
        close_app(app)


@pytest.mark.parametrize(
    ("configured", "used"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/r.db", "sqlite:////tmp/r.db"),
    ],
)
def test_database_urls_select_psycopg_3(configured, used):
    assert config.database_url(configured, "/instance") == used


def test_every_setting_is_documented_in_the_readme():
    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [s.name for s in config.SETTINGS if f"`{s.name}`" not in readme]
    assert not missing, f"settings missing from README.md: {missing}"


def test_migrations_create_the_same_schema_as_the_models(app):
    """Alembic's autogenerate finds nothing to do: the migration scripts match the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from receiver.storage.db import db
    from receiver.storage.migrate import include_name

    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": False, "include_name": include_name}
        )
        diff = compare_metadata(context, db.metadata)
    assert diff == []
