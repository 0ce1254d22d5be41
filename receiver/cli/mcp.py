"""``receiver mcp``: a Model Context Protocol server on stdio, for coding agents::

    receiver mcp                                            # the local `receiver serve`
    receiver mcp --server https://hooks.example.com --token "$RECEIVER_ACCESS_TOKEN"

An MCP client (Claude Code, an IDE, …) starts it and talks to it over stdin and stdout; the
tools it offers call the receiver server's JSON API and change feed. It needs no database and
no app: it is a client of any receiver server, local or shared. The MCP SDK is imported only
once the command runs (see ``receiver.mcp.server``).
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

import click

from receiver.config import SETTINGS

LOCAL_BIND = next(setting.default for setting in SETTINGS if setting.name == "RECEIVER_BIND")
DEFAULT_SERVER = f"http://{LOCAL_BIND}"


@click.command("mcp")
@click.option(
    "--server",
    "server_url",
    envvar="RECEIVER_MCP_SERVER",
    default=DEFAULT_SERVER,
    show_default=True,
    metavar="URL",
    help="The receiver server to work with (also RECEIVER_MCP_SERVER); the default is where "
    "a local `receiver serve` listens.",
)
@click.option(
    "--token",
    envvar="RECEIVER_MCP_TOKEN",
    help="The deployment's access token, for a server with RECEIVER_ACCESS_TOKEN set (also "
    "RECEIVER_MCP_TOKEN). Private bins' tokens are given per call, or remembered.",
)
def mcp_command(server_url: str, token: str | None) -> None:
    """Serve the Model Context Protocol on stdin and stdout: tools that create bins, wait for
    requests, read their verdicts and schema errors, send catalog events and replay captures,
    through the receiver server at URL."""
    parsed = urlsplit(server_url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise click.UsageError(f"--server must be an http:// or https:// URL, not {server_url!r}")
    if parsed.username or parsed.password or parsed.query or parsed.fragment:
        raise click.UsageError("--server is the server's base URL: no credentials, query or #")
    from receiver.mcp.server import run

    run(server_url, (token or "").strip() or None)
    # the client closed stdin and nothing is left to clean up: leaving without the
    # interpreter's module-by-module teardown saves a tenth of a second of CPU per session
    # (bench/mcp_startup.py), which an agent pays each time it starts the server
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
