"""The simulator's pages: for each simulated provider, its mock API's address and document, what
the provider documents and what it leaves open, tokens, "this event happened", and for one
tenant its webhooks, deliveries and settings. Each form posts to an endpoint that answers the
partial it renders (htmx), or the whole page when scripts are off."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from receiver.capture.bodies import json_text
from receiver.simulators import state
from receiver.simulators.model import MockError
from receiver.simulators.model import Simulator
from receiver.simulators.registry import SIMULATORS
from receiver.storage.db import db
from receiver.storage.models import utcnow
from receiver.web.htmx import fragment
from receiver.web.htmx import is_fragment_request
from receiver.web.htmx import varies
from receiver.web.mocks.common import catalog_events
from receiver.web.mocks.common import delivery_json
from receiver.web.mocks.common import mock_base
from receiver.web.mocks.common import token_answer
from receiver.web.mocks.common import trigger_event

bp = Blueprint("simulator_pages", __name__)
DELIVERIES_SHOWN = 25
# the event a page or a form says the list of deliveries should refresh on
DELIVERED_EVENT = "simulator-delivered"


def load_simulator(provider: str) -> Simulator:
    """:raise 404: no simulated provider of that id."""
    found = SIMULATORS.get(provider)
    if found is None:
        abort(404, description=f"no simulated provider {provider!r}")
    return found


def load_tenant(simulator: Simulator, tenant: str) -> str:
    """:raise 404: the provider has no such tenant."""
    if state.tenant_exists(db.session, simulator.id, tenant):
        return tenant
    abort(404, description=f"{simulator.name} has no {simulator.tenant_kind} {tenant!r} here")


def deliveries_context(simulator: Simulator, tenant: str) -> dict[str, Any]:
    """The newest deliveries of a tenant, as the API shows them."""
    rows = state.list_deliveries(
        db.session, simulator.id, tenant, webhook_id=None, limit=DELIVERIES_SHOWN
    )
    return {"deliveries": [delivery_json(row) for row in rows]}


def page_context(simulator: Simulator, tenant: str | None) -> dict[str, Any]:
    """Everything the provider page shows; ``tenant`` (or the newest one) is the one opened."""
    tenants = state.known_tenants(db.session, simulator.id)
    if tenant is None and tenants:
        tenant = tenants[0]["id"]
    context: dict[str, Any] = {
        "simulator": simulator,
        "simulators": SIMULATORS,
        "base_url": mock_base(simulator),
        "events": catalog_events(simulator),
        "tenants": tenants,
        "tenant": tenant,
        "token": None,
        "token_error": None,
        "fired": None,
        # the trigger form's last values, so that it stays filled in after a trigger
        "form": None,
        "trigger_error": None,
        "settings_error": None,
        "settings_saved": False,
    }
    if tenant is not None:
        rows = state.list_webhooks(db.session, simulator.id, tenant)
        context["webhooks"] = [
            {"row": row, "shown": json_text(simulator.webhook_json(row), indent=2)} for row in rows
        ]
        context["settings"] = state.tenant_settings(db.session, simulator, tenant)
        context.update(deliveries_context(simulator, tenant))
    return context


@bp.get("/simulator")
def simulator_index() -> ResponseReturnValue:
    """The simulated providers, with their addresses and how much each holds."""
    providers = [
        {"simulator": simulator, "base_url": mock_base(simulator), "tenants": len(tenants)}
        for simulator in SIMULATORS.values()
        for tenants in [state.known_tenants(db.session, simulator.id)]
    ]
    return render_template("pages/simulator_index.html", providers=providers)


@bp.get("/simulator/<provider>")
def simulator_show(provider: str) -> ResponseReturnValue:
    """One simulated provider: its API, tokens, triggers and a tenant's state."""
    simulator = load_simulator(provider)
    asked = request.args.get("tenant")
    tenant = load_tenant(simulator, asked) if asked else None
    return varies(render_template("pages/simulator.html", **page_context(simulator, tenant)))


def answer_with(
    partial: str, page_tenant: str | None, simulator: Simulator, *, status: int = 200, **values: Any
) -> Response:
    """The partial for htmx, else the whole page with the same values (scripts off).

    A refusal is a 200 partial saying why (htmx swaps only 2xx answers by default), and a
    ``status`` page otherwise.
    """
    context = {**page_context(simulator, page_tenant), **values}
    if is_fragment_request():
        return fragment(partial, **context)
    return make_response(render_template("pages/simulator.html", **context), status)


@bp.post("/simulator/<provider>/tokens")
def simulator_token(provider: str) -> ResponseReturnValue:
    """Issue a token from the page's form (a new tenant when the field is empty)."""
    simulator = load_simulator(provider)
    body: dict[str, Any] = {}
    named = request.form.get("tenant", "").strip()
    if named:
        body[simulator.tenant_kind] = named
    scopes = request.form.getlist("scopes")
    if scopes:
        body["scopes"] = scopes
    try:
        answer = token_answer(simulator, body)
    except MockError as error:
        db.session.rollback()
        return answer_with(
            "partials/_sim_token.html", None, simulator, status=400, token_error=error.message
        )
    tenant = answer[simulator.tenant_kind]
    return answer_with("partials/_sim_token.html", tenant, simulator, token=answer)


def trigger_body(simulator: Simulator, form: MultiDict[str, str]) -> dict[str, Any]:
    """The trigger the page's form describes.

    :raise MockError: 400 when ``set`` is not a JSON object.
    """
    body: dict[str, Any] = {"event": form.get("event", "")}
    for attribute in simulator.attributes:
        value = form.get(attribute.name, "").strip()
        if value:
            body[attribute.name] = value
    text = form.get("set", "").strip()
    if text:
        try:
            overrides = json.loads(text)
        except ValueError:
            overrides = None
        if not isinstance(overrides, dict):
            raise MockError(400, "invalid_request", 'set is a JSON object: {"/pointer": value}')
        body["set"] = overrides
    return body


@bp.post("/simulator/<provider>/events")
def simulator_trigger(provider: str) -> ResponseReturnValue:
    """Trigger an event from the page's form ("this event happened"); the deliveries made."""
    simulator = load_simulator(provider)
    tenant = request.form.get("tenant") or None
    try:
        fired = trigger_event(simulator, trigger_body(simulator, request.form))
    except MockError as error:
        db.session.rollback()
        return answer_with(
            "partials/_sim_fired.html",
            tenant,
            simulator,
            status=400,
            trigger_error=error.message,
            form=request.form,
        )
    response = answer_with(
        "partials/_sim_fired.html", tenant, simulator, fired=fired, form=request.form
    )
    if is_fragment_request():
        response.headers["HX-Trigger"] = DELIVERED_EVENT
    return response


@bp.get("/simulator/<provider>/tenants/<tenant>/deliveries")
def simulator_deliveries(provider: str, tenant: str) -> ResponseReturnValue:
    """A tenant's newest deliveries (the partial the page refreshes after a trigger)."""
    simulator = load_simulator(provider)
    load_tenant(simulator, tenant)
    return fragment(
        "partials/_sim_deliveries.html",
        simulator=simulator,
        tenant=tenant,
        **deliveries_context(simulator, tenant),
    )


@bp.post("/simulator/<provider>/tenants/<tenant>/settings")
def simulator_settings(provider: str, tenant: str) -> ResponseReturnValue:
    """Change a tenant's settings from the page's form."""
    simulator = load_simulator(provider)
    load_tenant(simulator, tenant)
    changes: dict[str, Any] = {}
    try:
        for setting in simulator.settings:
            if setting.name not in request.form:
                continue
            raw = request.form[setting.name].strip()
            if setting.choices:
                changes[setting.name] = raw
            elif raw == "" and setting.nullable:
                changes[setting.name] = None
            else:
                try:
                    changes[setting.name] = int(raw)
                except ValueError:
                    raise MockError(
                        400, "invalid_request", f"{setting.name} is a whole number"
                    ) from None
        state.change_settings(db.session, simulator, tenant, changes, utcnow())
    except MockError as error:
        db.session.rollback()
        return answer_with(
            "partials/_sim_settings.html",
            tenant,
            simulator,
            status=400,
            settings_error=error.message,
        )
    db.session.commit()
    return answer_with("partials/_sim_settings.html", tenant, simulator, settings_saved=True)


@bp.post("/simulator/<provider>/tenants/<tenant>/reset")
def simulator_reset(provider: str, tenant: str) -> ResponseReturnValue:
    """Forget a tenant's webhooks, deliveries and settings; back to its page."""
    simulator = load_simulator(provider)
    load_tenant(simulator, tenant)
    state.reset_tenant(db.session, simulator.id, tenant)
    db.session.commit()
    target = url_for("simulator_pages.simulator_show", provider=provider, tenant=tenant)
    if request.headers.get("HX-Request") == "true":
        # a 303 would be followed by the browser and swapped into the target (a trap)
        return "", 200, {"HX-Redirect": target}
    return redirect(target, code=303)
