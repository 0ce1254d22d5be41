"""The inspector's tester's tools: a bin's response script (with presets) and scenario replay
from the current filter, with progress. Each endpoint answers the partial it renders; the pages
include the same partials."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import render_template
from flask import request
from flask.typing import ResponseReturnValue

from receiver.bins import lifecycle
from receiver.capture import listing
from receiver.delivery import scenarios
from receiver.delivery.http import OutgoingError
from receiver.exports.request_bodies import BodyError
from receiver.exports.request_bodies import check_body
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import Scenario
from receiver.storage.models import utcnow
from receiver.web.access import load_bin
from receiver.web.api.bins import apply_checked_settings
from receiver.web.api.scenarios import start_scenario

bp = Blueprint("toolkit", __name__)
RECENT_SCENARIOS = 5
PRESETS = ("fail_then_succeed", "time_out_once", "always_410", "custom", "clear")
FAILURES_MAX = 20
# the longest text a number field of the scenario form comes back with
FIELD_MAX = 32


def script_partial(found: Bin, *, error: str | None = None, saved: bool = False) -> str:
    """The response script panel: what is left of the script, and the presets."""
    max_delay = current_app.config["RECEIVER_MAX_RESPONSE_DELAY_MS"]
    remaining = lifecycle.remaining_script(found)
    return render_template(
        "partials/_response_script.html",
        bin=found,
        remaining=remaining,
        # steps are named by their index in the script as set, as captures' response.step are
        first_index=len(found.response_script or []) - len(remaining),
        error=error,
        saved=saved,
        max_delay_ms=max_delay,
        script_json=json.dumps(lifecycle.remaining_script(found), indent=2),
    )


@bp.get("/bins/<bin_id>/script")
def script_show(bin_id: str) -> str:
    """The response script panel (a partial: the bin page includes it)."""
    return script_partial(load_bin(bin_id))


def preset_changes(form: Any, max_delay_ms: int) -> dict[str, Any]:
    """The settings a preset of the script form stands for.

    :raise ValueError: a number that is not one, or custom steps that are not JSON.
    """
    preset = form.get("preset", "")
    if preset not in PRESETS:
        raise ValueError(f"choose one of the presets ({', '.join(PRESETS)})")
    if preset == "clear":
        return {"response_script": None}
    if preset == "always_410":
        # "always" is the bin's own answer, not a script: it outlasts any number of requests
        return {"response_script": None, "response": {"status": 410}}
    if preset == "custom":
        try:
            return {"response_script": json.loads(form.get("steps") or "[]")}
        except ValueError:
            raise ValueError("the steps are a JSON list of answers") from None
    try:
        if preset == "time_out_once":
            delay = int(form.get("delay_ms") or max_delay_ms)
            return {"response_script": [{"delay_ms": delay}]}
        failures = int(form.get("failures") or 3)
        status = int(form.get("failure_status") or 503)
    except ValueError:
        raise ValueError("the numbers of the preset are whole numbers") from None
    if not 1 <= failures <= FAILURES_MAX:
        raise ValueError(f"fail 1 to {FAILURES_MAX} times")
    return {"response_script": [{"status": status} for _ in range(failures)]}


@bp.post("/bins/<bin_id>/script")
def script_update(bin_id: str) -> ResponseReturnValue:
    """Apply a preset (or custom steps) to the bin's response script."""
    found = load_bin(bin_id)
    max_delay = current_app.config["RECEIVER_MAX_RESPONSE_DELAY_MS"]
    try:
        apply_checked_settings(found, preset_changes(request.form, max_delay))
    except ValueError as error:  # the form's, the document's (BodyError) or a BinError
        db.session.rollback()
        return script_partial(load_bin(bin_id), error=str(error)), 400
    db.session.commit()
    return script_partial(found, saved=True)


@dataclass(frozen=True)
class ScenarioForm:
    """The scenario form's fields as they were last sent (its defaults before that), so the form
    comes back as it was: text as typed, cut to ``FIELD_MAX``."""

    url: str = ""
    timing: str = "original"
    speed: str = "1"
    interval_ms: str = "100"
    duplicates: str = "0"
    shuffle_window: str = "0"
    resign: bool = False

    @classmethod
    def sent(cls, form: Any) -> ScenarioForm:
        """The fields of a posted form."""
        defaults = cls()

        def field(name: str, limit: int = FIELD_MAX) -> str:
            value = form.get(name)
            return getattr(defaults, name) if value is None else str(value).strip()[:limit]

        return cls(
            url=field("url", scenarios.URL_MAX),
            timing="interval" if form.get("timing") == "interval" else "original",
            speed=field("speed"),
            interval_ms=field("interval_ms"),
            duplicates=field("duplicates"),
            shuffle_window=field("shuffle_window"),
            resign=form.get("resign") == "on",
        )


def scenario_partial(
    found: Bin,
    filters: listing.RequestFilter,
    *,
    current: Scenario | None = None,
    error: str | None = None,
    chosen: ScenarioForm | None = None,
) -> str:
    """The scenario panel: the form (carrying the list's filter and the fields last sent), the
    current run's progress, and the bin's last runs."""
    recent = db.session.execute(
        db.select(Scenario)
        .where(Scenario.bin_id == found.id)
        .order_by(Scenario.id.desc())
        .limit(RECENT_SCENARIOS)
    ).scalars()
    return render_template(
        "partials/_scenario.html",
        bin=found,
        filters=filters,
        current=current,
        recent=list(recent),
        error=error,
        chosen=chosen or ScenarioForm(),
        unfinished=scenarios.UNFINISHED,
    )


def form_filters(source: Any) -> listing.RequestFilter:
    """The list's filter, as the form or the query carries it."""
    return listing.parse_filter(
        source.get("method"), source.get("event"), source.get("validation"), source.get("q")
    )


@bp.get("/bins/<bin_id>/scenarios")
def scenario_panel(bin_id: str) -> str:
    """The scenario panel for the list's current filter (its query arguments)."""
    return scenario_partial(load_bin(bin_id), form_filters(request.args))


@bp.post("/bins/<bin_id>/scenarios")
def scenario_start(bin_id: str) -> ResponseReturnValue:
    """Start a scenario of the captures the current filter shows."""
    found = load_bin(bin_id)
    form = request.form
    filters = form_filters(form)
    chosen = ScenarioForm.sent(form)
    url = chosen.url
    timing: dict[str, Any]
    try:
        if chosen.timing == "interval":
            timing = {"mode": "interval", "ms": int(chosen.interval_ms or 0)}
        else:
            timing = {"mode": "original", "speed": float(chosen.speed or 1)}
        body: dict[str, Any] = {
            "url": url,
            "timing": timing,
            "duplicates": int(chosen.duplicates or 0),
            "shuffle_window": int(chosen.shuffle_window or 0),
            "resign": chosen.resign,
        }
    except ValueError:
        error = "the numbers are numbers"
        return scenario_partial(found, filters, error=error, chosen=chosen), 400
    shown = {
        key: value
        for key, value in (
            ("method", filters.method),
            ("event", filters.event),
            ("validation", filters.validation),
            ("q", filters.q),
        )
        if value
    }
    if shown:
        body["filter"] = shown
    try:
        check_body(
            "ScenarioCreate",
            body,
            max_delay_ms=current_app.config["RECEIVER_MAX_RESPONSE_DELAY_MS"],
        )
        started = start_scenario(found.id, body)
    except (BodyError, scenarios.ScenarioError, OutgoingError) as error:
        db.session.rollback()
        return scenario_partial(found, filters, error=error.message, chosen=chosen), 400
    return scenario_partial(found, filters, current=started, chosen=chosen)


@bp.get("/bins/<bin_id>/scenarios/<int:scenario_id>/progress")
def scenario_progress(bin_id: str, scenario_id: int) -> ResponseReturnValue:
    """A run's progress; the partial polls itself while the run is unfinished."""
    found = load_bin(bin_id)
    scenario = db.session.get(Scenario, scenario_id)
    if scenario is None or scenario.bin_id != found.id:
        abort(404, description="no such scenario in this bin")
    return render_template(
        "partials/_scenario_progress.html",
        bin=found,
        scenario=scenario,
        attempts=scenarios.attempts(db.session, scenario),
        unfinished=scenarios.UNFINISHED,
    )


@bp.post("/bins/<bin_id>/scenarios/<int:scenario_id>/cancel")
def scenario_cancel(bin_id: str, scenario_id: int) -> ResponseReturnValue:
    """Stop a run before its next send; answers its progress."""
    found = load_bin(bin_id)
    scenario = db.session.get(Scenario, scenario_id)
    if scenario is None or scenario.bin_id != found.id:
        abort(404, description="no such scenario in this bin")
    scenarios.cancel(db.session, scenario, now=utcnow())
    db.session.commit()
    return scenario_progress(bin_id, scenario_id)
