"""Errors as JSON under /api, /b and /mock (in each simulated provider's shape), as HTML pages
elsewhere."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask import Response
from flask import jsonify
from flask import render_template
from flask import request
from gunicorn.http.errors import NoMoreData
from gunicorn.http.errors import ParseException
from sqlalchemy.exc import DataError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import ObjectDeletedError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import InternalServerError
from werkzeug.exceptions import NotFound
from werkzeug.exceptions import RequestTimeout
from werkzeug.exceptions import ServiceUnavailable

from receiver.capture.store import DatabaseUnavailable
from receiver.web import serving
from receiver.web.deadlines import SlowSender

JSON_PREFIXES = ("/api/", "/b/", "/mock/")
MOCK_PREFIX = "/mock/"
# what a client that waits should wait before trying again while the database is away
RETRY_AFTER_SECONDS = 5


def error_code(error: HTTPException) -> str:
    """A stable snake_case code for an HTTP error (``not_found``, ``payload_too_large``…)."""
    name = (error.name or "error").lower()
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def json_error(status: int, code: str, message: str) -> Response:
    """The API's error shape: ``{"error": {"code", "message"}}``."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def error_for_path(status: int, code: str, message: str) -> Response:
    """A JSON error in the shape of the surface the request went to: a simulated provider's own
    under ``/mock/<provider>`` (ApiTree's is ``{code, message}``), else the API's."""
    if request.path.startswith(MOCK_PREFIX):
        from receiver.web.mocks.common import mock_error

        return mock_error(status, code, message)
    return json_error(status, code, message)


def handle_http_error(error: HTTPException) -> Response | HTTPException | tuple[str, int]:
    """Render an HTTP error for the surface the request went to."""
    status = error.code or 500
    if request.path.startswith(JSON_PREFIXES) or request.path == "/api":
        response = error_for_path(status, error_code(error), error.description or error.name)
        if request.path.startswith("/b/"):
            response.headers["Access-Control-Allow-Origin"] = "*"
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response
    return render_template("pages/error.html", error=error), status


def handle_unexpected(error: Exception) -> Response | HTTPException | tuple[str, int]:
    """Never leak a traceback: log it and answer a 500 in the surface's format."""
    from flask import current_app

    current_app.logger.exception("unhandled error", exc_info=error)
    return handle_http_error(InternalServerError())


def handle_database_error(error: Exception) -> Response | HTTPException | tuple[str, int]:
    """The database cannot be reached or written (stopped, unreachable, disk full): 503 in the
    surface's format with ``Retry-After``, never a 500; the next request reconnects.

    SQLAlchemy wraps what the driver raised (``OperationalError``, ``InterfaceError``); the
    capture store raises its own `DatabaseUnavailable`. Other database errors are bugs, and stay
    500s with their traceback.
    """
    from flask import current_app

    if isinstance(error, DataError) and "NUL (0x00)" in str(error.orig):
        # PostgreSQL's text cannot hold NUL; SQLite's can: the sender's text is refused alike
        db_rollback()
        return handle_http_error(BadRequest("text values cannot contain a NUL character"))
    if isinstance(error, DBAPIError) and not _is_outage(error):
        return handle_unexpected(error)
    current_app.logger.error("database unavailable: %s", str(error).splitlines()[0])
    response = handle_http_error(
        ServiceUnavailable("the database is not available right now; try again shortly")
    )
    answer = response if isinstance(response, Response) else _as_response(response)
    answer.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return answer


def handle_deleted_meanwhile(error: Exception) -> Response | HTTPException | tuple[str, int]:
    """A row this request loaded was deleted by another request before it was written or read
    again (a bin deleted while its settings change): 404, as if the delete had come first."""
    db_rollback()
    return handle_http_error(NotFound("it was deleted meanwhile"))


def db_rollback() -> None:
    """End the request's failed transaction before answering."""
    from receiver.storage.db import db

    db.session.rollback()


def _is_outage(error: DBAPIError) -> bool:
    """An error that says the database is away, not that a statement is wrong."""
    from sqlalchemy.exc import InterfaceError
    from sqlalchemy.exc import OperationalError

    if error.connection_invalidated or isinstance(error, InterfaceError):
        return True
    if not isinstance(error, OperationalError):
        return False
    # SQLite reports a missing table or column as an OperationalError too: those are bugs
    message = str(error.orig).lower()
    return not message.startswith(("no such table", "no such column", "near ", "syntax error"))


def _as_response(value: Any) -> Response:
    from flask import make_response

    return make_response(value)


def handle_unreadable_body(error: Exception) -> Response | HTTPException | tuple[str, int]:
    """A body that broke its framing mid-way, or came too slowly, outside ingest (which answers
    these itself): 400 or 408, and the connection is closed (where the next request starts is
    unknown)."""
    refused: HTTPException
    if isinstance(error, SlowSender):
        refused = RequestTimeout(f"{error}")
    else:
        refused = BadRequest(f"the body could not be read ({error or type(error).__name__})")
    answer = _as_response(handle_http_error(refused))
    answer.headers["Connection"] = "close"
    serving.close_after_answer(request.environ)
    return answer


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(DatabaseUnavailable, handle_database_error)
    app.register_error_handler(DBAPIError, handle_database_error)
    app.register_error_handler(ObjectDeletedError, handle_deleted_meanwhile)
    app.register_error_handler(StaleDataError, handle_deleted_meanwhile)
    app.register_error_handler(ParseException, handle_unreadable_body)
    app.register_error_handler(NoMoreData, handle_unreadable_body)
    app.register_error_handler(Exception, handle_unexpected)
