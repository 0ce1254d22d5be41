"""Fixtures for tests against real servers: the dev server in a thread, ``receiver serve``
(gunicorn) in a subprocess, and Debian's Chromium driven through Playwright's sync API.

Every server listens on a free port of its own and uses the test's own database, so these tests
run side by side under pytest-xdist. No browser is ever downloaded: Playwright launches
``/usr/bin/chromium``, and browser tests are skipped when it is missing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from servers import WAIT_SECONDS
from servers import serve_receiver
from werkzeug.serving import make_server
from werkzeug.wsgi import ClosingIterator

from receiver.web.serving import RawHeaderRequestHandler

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path("/tmp/receiver-shots")


class InFlight:
    """A WSGI wrapper that counts the requests being served, so teardown can wait for them.

    Werkzeug's request threads are daemons that ``shutdown()`` does not wait for (a browser's
    last poll, say). One still running when the ``app`` fixture closes the app would reopen
    database connections that nobody closes; psycopg then warns when they are garbage-collected,
    in whichever later test is running.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.serving = 0
        self.closing = False
        self.changed = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self.changed:
            if self.closing:
                start_response("503 Service Unavailable", [("Connection", "close")])
                return [b""]
            self.serving += 1
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self.done()
            raise
        return ClosingIterator(body, [self.done])

    def done(self) -> None:
        with self.changed:
            self.serving -= 1
            self.changed.notify_all()

    def drain(self, timeout: float) -> None:
        """Turn new requests away and wait until the ones being served have finished."""
        with self.changed:
            self.closing = True
            self.changed.wait_for(lambda: self.serving == 0, timeout)


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The test's app on Werkzeug's threaded dev server (keeping raw headers); its base URL."""
    gate = InFlight(app)
    server = make_server(
        "127.0.0.1", 0, gate, threaded=True, request_handler=RawHeaderRequestHandler
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    gate.drain(timeout=10)
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def gunicorn_server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """``receiver serve`` (gunicorn) with three workers on the test's database; its base URL.

    The master migrates once (``on_starting``); the workers share nothing but the database.
    """
    server = serve_receiver(tmp_path / "serve.log", workers=3, database_url=database_url)
    try:
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium per test process (Debian's, never a downloaded one)."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (Debian package 'chromium')")
    from playwright.sync_api import expect
    from playwright.sync_api import sync_playwright

    # what the page must come to show, it may take a busy machine a while to show
    expect.set_options(timeout=WAIT_SECONDS * 1000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class PageLog:
    """What a page did: console messages, uncaught errors, requests and CSP violations."""

    console: list[tuple[str, str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def console_errors(self) -> list[str]:
        """Every console error the page logged."""
        return [f"{text} ({url})" for kind, text, url in self.console if kind == "error"]

    def csp_violations(self) -> list[str]:
        return [
            text
            for _, text, _ in self.console
            if "Content Security Policy" in text or text.startswith("csp-violation")
        ]


# securitypolicyviolation events also catch what the console may word differently
REPORT_CSP = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("csp-violation " + event.violatedDirective + " " + event.blockedURI
                + " " + (event.sourceFile || "") + ":" + event.lineNumber);
});
"""


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., tuple[Any, PageLog]]]:
    """Open a page in a fresh browser context (own cookies); returns the page and its log."""
    contexts: list[Any] = []

    def open_page(**context_options: Any) -> tuple[Any, PageLog]:
        context = browser.new_context(**context_options)
        contexts.append(context)
        context.set_default_timeout(WAIT_SECONDS * 1000)
        context.add_init_script(REPORT_CSP)
        page = context.new_page()
        log = PageLog()
        page.on(
            "console",
            lambda message: log.console.append(
                (message.type, message.text, message.location.get("url", ""))
            ),
        )
        page.on("pageerror", lambda error: log.errors.append(str(error)))
        page.on("request", lambda sent: log.requests.append(sent.url))
        page.on("dialog", lambda dialog: (log.dialogs.append(dialog.message), dialog.accept()))
        return page, log

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def shots_dir() -> Path:
    """Where screenshots go for people to look at; nothing asserts on their pixels."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
