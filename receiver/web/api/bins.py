"""Bins: create, read, change settings, delete."""

from __future__ import annotations

from flask import Response
from flask import current_app
from flask import jsonify
from flask import url_for

from receiver.bins import lifecycle
from receiver.bins.tokens import bin_token
from receiver.storage.db import db
from receiver.storage.models import utcnow
from receiver.web.access import load_bin
from receiver.web.api.common import ApiError
from receiver.web.api.common import bp
from receiver.web.api.common import json_body
from receiver.web.shapes import bin_json


@bp.post("/bins")
def bin_create() -> tuple[Response, int, dict[str, str]]:
    """Create a bin: ``{id?, label?, private?, provider?, event?}``."""
    body = json_body(required=False)
    unknown = set(body) - {"id", "label", "private", "provider", "event"}
    if unknown:
        raise ApiError(400, "invalid_settings", f"unknown field(s): {', '.join(sorted(unknown))}")
    if "private" in body and not isinstance(body["private"], bool):
        raise ApiError(400, "invalid_settings", "private is true or false")
    for key in ("provider", "event"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise ApiError(400, "invalid_settings", f"{key} is a catalog id")
    created = lifecycle.create_bin(
        db.session,
        now=utcnow(),
        ttl_days=current_app.config["RECEIVER_BIN_TTL_DAYS"],
        bin_id=body.get("id"),
        label=body.get("label") or "",
        private=bool(body.get("private", False)),
        provider=body.get("provider"),
        event=body.get("event"),
    )
    db.session.commit()
    shape = bin_json(created)
    if created.private:
        shape["token"] = bin_token(current_app.config["SECRET_KEY"], created.id)
    location = url_for("api.bin_show", bin_id=created.id)
    return jsonify(shape), 201, {"Location": location}


@bp.get("/bins/<bin_id>")
def bin_show(bin_id: str) -> Response:
    """One bin with its settings."""
    return jsonify(bin_json(load_bin(bin_id)))


@bp.patch("/bins/<bin_id>")
def bin_update(bin_id: str) -> Response:
    """Change any subset of the settings."""
    found = load_bin(bin_id)
    lifecycle.apply_settings(
        found, json_body(), max_delay_ms=current_app.config["RECEIVER_MAX_RESPONSE_DELAY_MS"]
    )
    db.session.commit()
    shape = bin_json(found)
    if found.private:  # whoever made it private must be able to open it again
        shape["token"] = bin_token(current_app.config["SECRET_KEY"], found.id)
    return jsonify(shape)


@bp.delete("/bins/<bin_id>")
def bin_delete(bin_id: str) -> tuple[str, int]:
    """Delete a bin with all its requests."""
    found = load_bin(bin_id)
    db.session.delete(found)
    db.session.commit()
    return "", 204
