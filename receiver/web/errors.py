"""Errors as JSON under /api and /b, as HTML pages elsewhere."""

from __future__ import annotations

from flask import Flask
from flask import Response
from flask import jsonify
from flask import render_template
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import InternalServerError

JSON_PREFIXES = ("/api/", "/b/")


def error_code(error: HTTPException) -> str:
    """A stable snake_case code for an HTTP error (``not_found``, ``payload_too_large``…)."""
    name = (error.name or "error").lower()
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def json_error(status: int, code: str, message: str) -> Response:
    """The API's error shape: ``{"error": {"code", "message"}}``."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def handle_http_error(error: HTTPException) -> Response | HTTPException | tuple[str, int]:
    """Render an HTTP error for the surface the request went to."""
    status = error.code or 500
    if request.path.startswith(JSON_PREFIXES) or request.path == "/api":
        response = json_error(status, error_code(error), error.description or error.name)
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


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
