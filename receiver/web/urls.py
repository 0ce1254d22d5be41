"""Absolute URLs shown to people: ingest and inspect links honour RECEIVER_PUBLIC_URL."""

from __future__ import annotations

from flask import current_app
from flask import request
from flask import url_for


def public_base() -> str:
    """The configured public base URL, or the host this request came to."""
    configured = current_app.config.get("RECEIVER_PUBLIC_URL") or ""
    return configured.rstrip("/") if configured else request.host_url.rstrip("/")


def ingest_url(bin_id: str) -> str:
    """Where a provider should send its webhooks."""
    return f"{public_base()}{request.script_root}/b/{bin_id}"


def inspect_url(bin_id: str) -> str:
    """The inspector page of a bin."""
    return public_base() + url_for("inspector.bin_show", bin_id=bin_id)
