"""The web layer: the only modules that read ``flask.request``."""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from receiver.catalog.validation import VERDICTS
from receiver.httpspec import COMMON_METHODS
from receiver.signatures.registry import SCHEMES


def register_blueprints(app: Flask) -> None:
    """Register every surface, the security headers and the error handlers."""
    from receiver.web import access
    from receiver.web import api
    from receiver.web import catalog_pages
    from receiver.web import catalog_tools
    from receiver.web import compare_pages
    from receiver.web import converters
    from receiver.web import directory_pages
    from receiver.web import errors
    from receiver.web import inspector
    from receiver.web import mocks
    from receiver.web import relay_pages
    from receiver.web import security
    from receiver.web import simulator_pages
    from receiver.web import static_files
    from receiver.web import team
    from receiver.web import toolkit_pages

    converters.init_app(app)  # before any route: rules bind their converters when added
    api.register(app)
    mocks.register(app)
    app.register_blueprint(inspector.bp)
    app.register_blueprint(catalog_pages.bp)
    app.register_blueprint(catalog_tools.bp)
    app.register_blueprint(compare_pages.bp)
    app.register_blueprint(directory_pages.bp)
    app.register_blueprint(relay_pages.bp)
    app.register_blueprint(toolkit_pages.bp)
    app.register_blueprint(simulator_pages.bp)
    access.init_app(app)  # after every blueprint: it guards each one's owner-only routes
    security.init_app(app)
    static_files.init_app(app)
    team.init_app(app)  # its gate runs first, before the cross-site check
    app.session_interface = NoSessionInterface()
    app.add_template_filter(decode_preview)
    # the lists the pages offer come from the same sources the API validates against
    app.jinja_env.globals.update(
        common_methods=COMMON_METHODS,
        verdicts=VERDICTS,
        signature_schemes=SCHEMES,
        owns=access.owns,
    )
    errors.init_app(app)


def decode_preview(data: bytes | None) -> str:
    """Bytes as text for display when UTF-8, else a note saying how many bytes they are."""
    if not data:
        return ""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return f"({len(data)} bytes, not UTF-8 text)"


class NoSessionInterface(SecureCookieSessionInterface):
    """receiver keeps no Flask session (its cookies are its own signed values): skip building a
    signing serializer and parsing cookies on every request, ingest included."""

    def open_session(self, app: Flask, request: object) -> None:
        return None
