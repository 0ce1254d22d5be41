"""Fixtures for tests against real servers: the dev server in a thread, a gunicorn subprocess,
and Debian's Chromium driven through Playwright's sync API.

Every server listens on a free port of its own and uses the test's own database, so these tests
run side by side under pytest-xdist. No browser is ever downloaded: Playwright launches
``/usr/bin/chromium``, and browser tests are skipped when it is missing.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from werkzeug.serving import make_server

from receiver.web.serving import RawHeaderRequestHandler

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GUNICORN = PROJECT_ROOT / ".venv" / "bin" / "gunicorn"
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


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen[bytes] | None, log: Path | None) -> None:
    """Poll ``url`` until it answers; fail with the server's log when it dies or hangs."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            text = log.read_text(errors="replace") if log else ""
            pytest.fail(f"server exited with {process.returncode}:\n{text}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    text = log.read_text(errors="replace") if log else ""
    pytest.fail(f"server at {url} did not answer within 60 s:\n{text}")


def wait_until_workers_serve(base: str, workers: int, log: Path) -> None:
    """Send concurrent requests until ``workers`` distinct workers have answered one.

    A worker that is still importing the app would otherwise skew the first timings.
    """
    deadline = time.monotonic() + 30
    with ThreadPoolExecutor(max_workers=2 * workers) as pool:
        while time.monotonic() < deadline:
            list(pool.map(lambda _: httpx.get(base + "/", timeout=5), range(2 * workers)))
            pids = set(re.findall(r"^pid=<(\d+)> ", log.read_text(errors="replace"), re.M))
            if len(pids) >= workers:
                return
    pytest.fail(f"fewer than {workers} workers answered within 30 s:\n{log.read_text()}")


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The test's app on Werkzeug's threaded dev server (keeping raw headers); its base URL."""
    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=RawHeaderRequestHandler
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def gunicorn_server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A real gunicorn with three workers on the test's database; its base URL.

    The master migrates once (``on_starting``); the workers share nothing but the database.
    """
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "system-test-secret",
        "RECEIVER_AUTO_MIGRATE": "1",
    }
    for name in ("RECEIVER_BIND", "RECEIVER_WORKERS", "GUNICORN_CMD_ARGS"):
        env.pop(name, None)
    command = [
        str(GUNICORN),
        "-c",
        "gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "3",
        # a browser keeps connections alive; do not let them hold up the teardown
        "--graceful-timeout",
        "3",
        # the worker pid on each access line tells when every worker serves
        "--access-logfile",
        "-",
        "--access-logformat",
        'pid=%(p)s "%(r)s" %(s)s',
        "app:app",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/", process, log)
        wait_until_workers_serve(base, 3, log)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium per test process (Debian's, never a downloaded one)."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (Debian package 'chromium')")
    from playwright.sync_api import sync_playwright

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
        context.set_default_timeout(10_000)
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
