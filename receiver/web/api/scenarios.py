"""Scenario replay: queue a replay of a set of captures with their timing, follow it, stop it.

A scenario is planned here and queued; a background runner of a serving process sends it (see
``delivery.scenarios``), so ``POST`` answers ``202`` at once with the scenario to poll.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify
from flask import url_for

from receiver.delivery import scenarios
from receiver.storage.db import db
from receiver.storage.models import Scenario
from receiver.storage.models import utcnow
from receiver.web.access import load_bin
from receiver.web.access import require_owner_to_resign
from receiver.web.api.common import ApiError
from receiver.web.api.common import bp
from receiver.web.api.common import json_body
from receiver.web.errors import json_error
from receiver.web.services import services
from receiver.web.shapes import iso

LIST_LIMIT = 50


@bp.errorhandler(scenarios.ScenarioError)
def handle_scenario_error(error: scenarios.ScenarioError) -> Response:
    return json_error(400, error.code, error.message)


def scenario_json(scenario: Scenario, *, with_attempts: bool = False) -> dict[str, Any]:
    """A scenario as the API shows it (its plan is left out; ``attempts`` on request)."""
    spec = {key: value for key, value in (scenario.spec or {}).items() if key != "plan"}
    shape: dict[str, Any] = {
        "id": scenario.id,
        "bin_id": scenario.bin_id,
        "url": scenario.url,
        "status": scenario.status,
        "total": scenario.total,
        "done": scenario.done,
        "failed": scenario.failed,
        "error": scenario.error,
        "spec": spec,
        "created_at": iso(scenario.created_at),
        "started_at": iso(scenario.started_at),
        "finished_at": iso(scenario.finished_at),
    }
    if with_attempts:
        shape["attempts"] = scenarios.attempts(db.session, scenario)
    return shape


def start_scenario(bin_id: str, body: dict[str, Any]) -> Scenario:
    """Plan and queue a scenario of a visible bin, and wake this process's runner (``body`` is
    checked against the API document's ``ScenarioCreate`` schema).

    :raise ScenarioError: a spec that cannot be planned.
    :raise OutgoingError: a target URL that cannot be used.
    """
    found = load_bin(bin_id)
    spec = scenarios.parse_spec(body)
    if spec.resign:
        require_owner_to_resign(found)
    scenario = scenarios.create_scenario(db.session, found, spec, now=utcnow())
    db.session.commit()
    services().scenarios.wake()
    return scenario


def load_scenario(bin_id: str, scenario_id: int) -> Scenario:
    """A scenario of a visible bin.

    :raise ApiError: 404 when it is not one of the bin's.
    """
    load_bin(bin_id)
    found = db.session.get(Scenario, scenario_id)
    if found is None or found.bin_id != bin_id:
        raise ApiError(404, "not_found", "no such scenario in this bin")
    return found


@bp.post("/bins/<bin_id>/scenarios")
def scenario_create(bin_id: str) -> tuple[Response, int, dict[str, str]]:
    """Queue a scenario: ``{url, request_ids? | filter?, timing?, duplicates?, shuffle_window?,
    seed?, resign?, append_path?}``."""
    scenario = start_scenario(bin_id, json_body("invalid_scenario"))
    location = url_for("api.scenario_show", bin_id=bin_id, scenario_id=scenario.id)
    return jsonify(scenario_json(scenario)), 202, {"Location": location}


@bp.get("/bins/<bin_id>/scenarios")
def scenario_list(bin_id: str) -> Response:
    """The bin's scenarios, newest first."""
    load_bin(bin_id)
    found = db.session.execute(
        db.select(Scenario)
        .where(Scenario.bin_id == bin_id)
        .order_by(Scenario.id.desc())
        .limit(LIST_LIMIT)
    ).scalars()
    return jsonify({"scenarios": [scenario_json(scenario) for scenario in found]})


@bp.get("/bins/<bin_id>/scenarios/<int:scenario_id>")
def scenario_show(bin_id: str, scenario_id: int) -> Response:
    """A scenario's progress and one attempt record per send made."""
    return jsonify(scenario_json(load_scenario(bin_id, scenario_id), with_attempts=True))


@bp.post("/bins/<bin_id>/scenarios/<int:scenario_id>/cancel")
def scenario_cancel(bin_id: str, scenario_id: int) -> Response:
    """Stop a scenario before its next send.

    :raise ApiError: 409 when it had already finished.
    """
    scenario = load_scenario(bin_id, scenario_id)
    stopped = scenarios.cancel(db.session, scenario, now=utcnow())
    db.session.commit()
    if not stopped:
        raise ApiError(409, "finished", f"the scenario has already finished ({scenario.status})")
    return jsonify(scenario_json(scenario, with_attempts=True))
