"""Bins: create (with any of the settings), read, change settings, delete; regenerate a token.

Changing, deleting and regenerating need the owner (a share link's read-only holder is refused
with 403 before these views run: see ``web.access``)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import current_app
from flask import jsonify
from flask import url_for

from receiver.bins import lifecycle
from receiver.bins.tokens import OWNER
from receiver.exports.request_bodies import check_body
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import utcnow
from receiver.web.access import bin_role
from receiver.web.access import load_bin
from receiver.web.api.common import ApiError
from receiver.web.api.common import bp
from receiver.web.api.common import json_body
from receiver.web.shapes import bin_json


def apply_checked_settings(found: Bin, changes: dict[str, Any]) -> None:
    """Check ``changes`` against the API document's ``BinSettings`` schema, then apply them
    (the inspector's settings and script forms build the body ``PATCH`` takes).

    :raise BodyError: the document refuses a field.
    :raise lifecycle.BinError: what the schema cannot say (see ``apply_settings``).
    """
    max_delay_ms = current_app.config["RECEIVER_MAX_RESPONSE_DELAY_MS"]
    check_body("BinSettings", changes, max_delay_ms=max_delay_ms)
    lifecycle.apply_settings(found, changes)


@bp.post("/bins")
def bin_create() -> tuple[Response, int, dict[str, str]]:
    """Create a bin: ``{id?}`` plus any of the settings ``PATCH`` takes.

    The body is checked against the API document's ``BinCreate`` schema; the bin is created
    and the settings are applied by the same code as ``PATCH``, in one transaction: a setting
    that is refused creates nothing.
    """
    body = json_body("invalid_settings", required=False)
    settings = {key: value for key, value in body.items() if key != "id"}
    try:
        created = lifecycle.create_bin(
            db.session,
            now=utcnow(),
            ttl_days=current_app.config["RECEIVER_BIN_TTL_DAYS"],
            bin_id=body.get("id"),
        )
        lifecycle.apply_settings(created, settings)
    except lifecycle.BinError:
        db.session.rollback()
        raise
    db.session.commit()
    location = url_for("api.bin_show", bin_id=created.id)
    return jsonify(bin_json(created, OWNER)), 201, {"Location": location}


@bp.get("/bins/<bin_id>")
def bin_show(bin_id: str) -> Response:
    """One bin with its settings, as the caller's token shows it (``access``)."""
    found = load_bin(bin_id)
    return jsonify(bin_json(found, bin_role(found) or OWNER))


@bp.patch("/bins/<bin_id>")
def bin_update(bin_id: str) -> Response:
    """Change any subset of the settings."""
    found = load_bin(bin_id)
    lifecycle.apply_settings(found, json_body("invalid_settings"))
    db.session.commit()
    # a bin made private here answers with its token: whoever did it must be able to open it
    # (only the owner gets here: a share link's holder is refused before, see web.access)
    return jsonify(bin_json(found, OWNER))


@bp.post("/bins/<bin_id>/token")
def bin_token_regenerate(bin_id: str) -> Response:
    """Give the bin a new token: every token and share link given out before stops working."""
    found = load_bin(bin_id)
    if not found.private:
        raise ApiError(409, "not_private", "a public bin has no token: make it private first")
    db.session.execute(
        db.update(Bin).where(Bin.id == found.id).values(token_version=Bin.token_version + 1)
    )
    db.session.commit()
    db.session.refresh(found)
    return jsonify(bin_json(found, OWNER))


@bp.delete("/bins/<bin_id>")
def bin_delete(bin_id: str) -> tuple[str, int]:
    """Delete a bin with all its requests."""
    found = load_bin(bin_id)
    db.session.delete(found)
    db.session.commit()
    return "", 204
