"""Database wiring: the declarative base, the Flask-SQLAlchemy extension and SQLite pragmas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose constraint names are stable across SQLite and PostgreSQL."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# what the core's functions take: a Session, or Flask-SQLAlchemy's scoped session proxying one
AnySession = Session | scoped_session[Any]


def sqlite_pragmas(synchronous: str) -> Any:
    """A connect listener that sets WAL, a busy timeout, foreign keys and the durability level."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    return on_connect


def engine_options(database_url: str) -> dict[str, Any]:
    """Engine options per backend: SQLite gets a timeout and thread sharing for the writer."""
    if database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": 10, "check_same_thread": False}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}


def autovacuum_is_off(engine: Engine) -> bool:
    """Whether the engine's PostgreSQL server runs without autovacuum (always False on SQLite).

    Every capture's commit updates its bin's row and queues it for the text index, so without
    vacuum their dead row versions pile up and each capture costs the database more than the
    last: ``receiver serve`` says so when it starts.
    """
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as connection:
        return connection.exec_driver_sql("SHOW autovacuum").scalar() == "off"


def init_app(app: Flask) -> Engine:
    """Bind the extension to the app's database and return its engine.

    A SQLite file's folder is created, and every new SQLite connection gets the pragmas.
    """
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(url))
    db.init_app(app)
    with app.app_context():
        engine: Engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", sqlite_pragmas(app.config["RECEIVER_SQLITE_SYNCHRONOUS"]))
    return engine
