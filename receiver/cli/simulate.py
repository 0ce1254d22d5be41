"""``receiver simulate PROVIDER EVENT``: "this event happened" at a simulated provider, as
``POST /mock/<provider>/events`` does, on this instance's database::

    receiver simulate qovery DEPLOYMENT_FAILURE --organization-id 1a2b… --project-name shop \\
        --environment-type PRODUCTION
    receiver simulate apitree release.released --api-id 2f1c… --set /resource/id=\\"r-1\\"
    receiver simulate akinon --issue-token --organization-id 5f8d0d55b54764421b7156c3
    receiver simulate apitree --issue-token --user-id 10123 --scope webhook.readonly
    receiver simulate qovery --reset --organization-id 1a2b…

Every registered webhook the event reaches gets a delivery; one line per attempt,
``webhook ID URL -> STATUS (N ms)`` or the error. Exit status: 0 when every delivery was
answered below 400 (or none matched), 1 when one failed or was not sent, 2 for usage errors
(nothing is sent then). ``--issue-token`` prints the token as ``POST /mock/<provider>/tokens``
answers it (JSON); ``--reset`` forgets a tenant's webhooks, deliveries and settings.

Imports stay light here: the app, the database and the simulators load inside the command.
"""

from __future__ import annotations

import json
from typing import Any

import click

from receiver.cli.context import with_app

# the trigger attributes of every simulated provider, as options (a test keeps them in step
# with the simulators' own lists)
ATTRIBUTE_OPTIONS = (
    "organization_id",
    "project_id",
    "project_name",
    "environment_type",
    "api_id",
    "user_id",
)


@click.command("simulate")
@click.argument("provider")
@click.argument("event", required=False)
@click.option("--organization-id", help="Akinon, Qovery: the organization (tokens: its owner).")
@click.option("--project-id", help="Akinon: the project the event happened in.")
@click.option("--project-name", help="Qovery: matched against project_names_filter.")
@click.option("--environment-type", help="Qovery: matched against environment_types_filter.")
@click.option("--api-id", help="ApiTree: the API the event is about.")
@click.option("--user-id", help="ApiTree: the user/organization of the event (tokens: their user).")
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="PATH=VALUE",
    help="Change a field of the example: a JSON Pointer (/a/0) or dotted path (a.0); the value "
    "is JSON when it parses, else a string. Repeatable.",
)
@click.option("--issue-token", is_flag=True, help="Print a new token instead of triggering.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="ApiTree token scopes (webhook, webhook.readonly); repeatable.",
)
@click.option("--reset", is_flag=True, help="Forget a tenant's webhooks, deliveries, settings.")
@with_app
def simulate_command(
    provider: str,
    event: str | None,
    assignments: tuple[str, ...],
    issue_token: bool,
    scopes: tuple[str, ...],
    reset: bool,
    **attributes: str | None,
) -> None:
    """Deliver EVENT of a simulated PROVIDER (akinon, apitree, qovery) to every registered
    webhook it reaches; or issue a token, or reset a tenant."""
    from flask import current_app

    from receiver.simulators.model import MockError
    from receiver.simulators.registry import SIMULATORS
    from receiver.storage.migrate import prepare_database

    simulator = SIMULATORS.get(provider)
    if simulator is None:
        raise click.UsageError(
            f"no simulated provider {provider!r} (known: {', '.join(SIMULATORS)})"
        )
    given = {name: value for name, value in attributes.items() if value is not None}
    if issue_token + reset + (event is not None) != 1:
        raise click.UsageError("give an EVENT, or --issue-token, or --reset")
    prepare_database(current_app)
    try:
        if issue_token:
            _issue(simulator, given, scopes)
        elif reset:
            _reset(simulator, given)
        else:
            assert event is not None
            _trigger(simulator, event, given, assignments)
    except MockError as error:
        raise click.UsageError(error.message) from None


def _tenant_option(simulator: Any, given: dict[str, str]) -> tuple[str, str | None]:
    """The option that names a tenant of this provider, and its value (None when not given).

    :raise click.UsageError: an option this provider's tenants do not take.
    """
    option = "user_id" if simulator.tenant_kind == "user" else "organization_id"
    others = sorted(set(given) - {option})
    if others:
        shown = ", ".join("--" + name.replace("_", "-") for name in others)
        raise click.UsageError(f"{simulator.name} tokens and resets do not take {shown}")
    return option, given.get(option)


def _issue(simulator: Any, given: dict[str, str], scopes: tuple[str, ...]) -> None:
    from receiver.simulators import state
    from receiver.storage.db import db
    from receiver.storage.models import utcnow
    from receiver.web.mocks.common import catalog_events

    _, tenant = _tenant_option(simulator, given)
    body: dict[str, Any] = {} if tenant is None else {simulator.tenant_kind: tenant}
    if scopes:
        body["scopes"] = list(scopes)
    issued = state.issue_token_for(db.session, simulator, catalog_events(simulator), body, utcnow())
    db.session.commit()
    answer: dict[str, Any] = {"token": issued.token, simulator.tenant_kind: issued.tenant}
    if issued.scopes:
        answer["scopes"] = list(issued.scopes)
    click.echo(json.dumps(answer))


def _reset(simulator: Any, given: dict[str, str]) -> None:
    from receiver.simulators import state
    from receiver.storage.db import db

    option, tenant = _tenant_option(simulator, given)
    if tenant is None:
        raise click.UsageError(f"--reset needs --{option.replace('_', '-')}")
    tenant = simulator.check_tenant(tenant)
    state.reset_tenant(db.session, simulator.id, tenant)
    db.session.commit()
    click.echo(f"reset {simulator.tenant_kind} {tenant} of {simulator.name}")


def _trigger(
    simulator: Any, event: str, given: dict[str, str], assignments: tuple[str, ...]
) -> None:
    from receiver.delivery.sending import parse_assignment
    from receiver.storage.db import db
    from receiver.web.mocks.common import fire_described

    known = {attribute.name for attribute in simulator.attributes}
    foreign = sorted(set(given) - known)
    if foreign:
        shown = ", ".join("--" + name.replace("_", "-") for name in foreign)
        raise click.UsageError(f"{simulator.name} events do not take {shown}")
    try:
        overrides = dict(parse_assignment(text) for text in assignments)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    body: dict[str, Any] = {"event": event, **given}
    if overrides:
        body["set"] = overrides
    fired = fire_described(simulator, body)
    answered: dict[str, bool] = {}
    for delivery in fired.deliveries:
        ok = delivery.error is None and (delivery.status_code or 500) < 400
        answered[delivery.webhook_id] = ok  # the last attempt decides
        if delivery.error is None:
            outcome = f"{delivery.status_code} ({delivery.elapsed_ms or 0:.0f} ms)"
        else:
            outcome = delivery.error
        retry = f" (attempt {delivery.attempt})" if delivery.attempt > 1 else ""
        click.echo(f"webhook {delivery.webhook_id} {delivery.url}{retry} -> {outcome}")
    db.session.commit()
    failed = sum(not ok for ok in answered.values())
    skipped = f", {fired.skipped} beyond the limit not sent" if fired.skipped else ""
    click.echo(f"{event}: {fired.matched} webhook(s) matched{skipped}")
    if failed:
        raise click.exceptions.Exit(1)
