"""Triggers ("this event happened"): every matching webhook gets a delivery, sent and recorded.

A trigger names an event of the provider's catalog and the attributes its filters read. Each
webhook the event reaches (``Simulator.matches``) gets the catalog's example as the provider
sends it: the event's time and attributes filled in where the example has a place for them, the
trigger's ``set`` over that, the webhook's custom headers and the provider's signature with the
webhook's secret. Everything is prepared before anything is sent, so a bad ``set`` sends
nothing.

Sending is synchronous, so that every delivery is recorded before the trigger answers: up to
``PARALLEL`` at once, each attempt bounded by the tenant's ``timeout_seconds``, the whole
trigger by its deadline (``RECEIVER_SIMULATOR_DEADLINE``), and at most
``DELIVERIES_PER_TRIGGER`` webhooks (the oldest first). The reads end before the network is
used, so no transaction waits on a slow webhook (one of receiver's own bins on the same server
included).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update

from receiver.catalog.model import Catalog
from receiver.catalog.samples import example_body
from receiver.catalog.samples import sample_delivery
from receiver.delivery.http import ANYWHERE
from receiver.delivery.http import OutgoingError
from receiver.delivery.http import OutgoingPolicy
from receiver.delivery.http import OutgoingRequest
from receiver.delivery.http import SendOutcome
from receiver.delivery.http import prepare_outgoing
from receiver.delivery.http import send
from receiver.simulators import documents
from receiver.simulators.documents import DELIVERIES_KEPT
from receiver.simulators.documents import DELIVERIES_PER_TRIGGER
from receiver.simulators.model import MockError
from receiver.simulators.model import Simulator
from receiver.simulators.model import Target
from receiver.simulators.model import Trigger
from receiver.simulators.model import bad_request
from receiver.simulators.state import tenant_settings
from receiver.storage.db import AnySession
from receiver.storage.models import MockDelivery
from receiver.storage.models import MockWebhook
from receiver.storage.models import utcnow

# the default of RECEIVER_SIMULATOR_DEADLINE
DEADLINE_SECONDS = 60
PARALLEL = 8


@dataclass(frozen=True)
class Planned:
    """A delivery ready to go, or the reason it will not be sent (``outgoing`` is None)."""

    target: Target
    settings: dict[str, Any]
    outgoing: OutgoingRequest | None
    reason: str | None = None


@dataclass(frozen=True)
class Attempt:
    """One attempt of a planned delivery and what came of it."""

    planned: Planned
    number: int
    at: datetime
    outcome: SendOutcome | None
    error: str | None


@dataclass(frozen=True)
class Fired:
    """What a trigger did: how many webhooks matched, how many were beyond the bound, and every
    attempt recorded (flushed, not committed)."""

    trigger_id: str
    trigger: Trigger
    matched: int
    skipped: int
    deliveries: list[MockDelivery]


def parse_trigger(simulator: Simulator, events: Sequence[str], body: Any) -> Trigger:
    """A trigger from a request body (or the command's options, as the same fields).

    :raise MockError: 400 for an unknown event or an attribute that breaks the document.
    """
    if isinstance(body, dict):
        simulator.check_attributes(body)
    documents.check_body(simulator, events, "TriggerRequest", body)
    attributes = {
        attribute.name: body[attribute.name]
        for attribute in simulator.attributes
        if body.get(attribute.name) is not None
    }
    return Trigger(body["event"], attributes, dict(body.get("set") or {}))


def fire(
    session: AnySession,
    catalog: Catalog,
    simulator: Simulator,
    trigger: Trigger,
    *,
    deadline: float = DEADLINE_SECONDS,
    clock: Callable[[], datetime] = utcnow,
    policy: OutgoingPolicy = ANYWHERE,
) -> Fired:
    """Deliver ``trigger`` to every webhook it reaches (where ``policy`` lets it connect), and
    record each attempt.

    The session must hold no changes: its reads end (a rollback) before anything is sent. The
    deliveries are flushed into it afterwards; the caller commits them. Sending ends within
    ``deadline`` seconds.

    :raise MockError: 400 for an event the catalog does not have, or a ``set`` that cannot be
        applied to the example (nothing is sent then).
    """
    event = catalog.get(simulator.id, trigger.event)
    if event is None:
        raise MockError(
            400, "unknown_event", f"{simulator.name} has no event {trigger.event!r} in the catalog"
        )
    now = clock()
    overrides = {**simulator.overrides(trigger, event.example, now), **trigger.overrides}
    try:
        example_body(event, overrides)
    except ValueError as error:
        raise bad_request(f"set: {error}") from None
    query = (
        select(MockWebhook)
        .where(MockWebhook.provider == simulator.id, *simulator.candidates(trigger))
        .order_by(MockWebhook.created_at, MockWebhook.id)
    )
    matching = [row for row in session.execute(query).scalars() if simulator.matches(row, trigger)]
    targets = [Target.of(row) for row in matching[:DELIVERIES_PER_TRIGGER]]
    settings = {
        tenant: tenant_settings(session, simulator, tenant)
        for tenant in dict.fromkeys(target.tenant for target in targets)
    }
    plans = []
    for target in targets:
        reason = simulator.not_sent(target)
        if reason is not None:
            plans.append(Planned(target, settings[target.tenant], None, reason))
            continue
        sample = sample_delivery(
            catalog,
            event,
            now=now,
            overrides=overrides,
            custom_headers=simulator.custom_headers(target),
        )
        try:
            outgoing = prepare_outgoing(sample, target.url, append_path=False, now=now)
        except OutgoingError as error:
            plans.append(
                Planned(target, settings[target.tenant], None, f"not sent: {error.message}")
            )
            continue
        signature = simulator.signature(
            target, outgoing.url, outgoing.body, settings[target.tenant]
        )
        outgoing = replace(outgoing, headers=[*outgoing.headers, *signature])
        plans.append(Planned(target, settings[target.tenant], outgoing))
    session.rollback()  # nothing is held while the webhooks answer

    attempts = send_all(plans, clock, deadline, policy)
    trigger_id = secrets.token_hex(8)
    rows = record(session, simulator, trigger_id, trigger, attempts)
    return Fired(trigger_id, trigger, len(matching), len(matching) - len(targets), rows)


def send_all(
    plans: list[Planned],
    clock: Callable[[], datetime],
    seconds: float = DEADLINE_SECONDS,
    policy: OutgoingPolicy = ANYWHERE,
) -> list[Attempt]:
    """Send every planned delivery (``PARALLEL`` at once), retrying per its settings, all
    within ``seconds``; never raises for the network."""
    deadline = time.monotonic() + seconds

    def deliver(planned: Planned) -> list[Attempt]:
        if planned.outgoing is None:
            return [Attempt(planned, 1, clock(), None, planned.reason)]
        made = []
        for number in range(1, planned.settings["retries"] + 2):
            left = deadline - time.monotonic()
            if left <= 0:
                ran_out = f"not sent: the trigger's {seconds:g} s ran out"
                made.append(Attempt(planned, number, clock(), None, ran_out))
                break
            at = clock()
            timeout = min(planned.settings["timeout_seconds"], left)
            outcome = send(planned.outgoing, timeout=timeout, policy=policy)
            made.append(Attempt(planned, number, at, outcome, outcome.error))
            if not should_retry(outcome):
                break
        return made

    if not plans:
        return []
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(plans))) as pool:
        return [attempt for made in pool.map(deliver, plans) for attempt in made]


def should_retry(outcome: SendOutcome) -> bool:
    """A transport error or a 5xx answer is tried again (when the settings allow)."""
    return outcome.error is not None or (outcome.status_code or 0) >= 500


def record(
    session: AnySession,
    simulator: Simulator,
    trigger_id: str,
    trigger: Trigger,
    attempts: list[Attempt],
) -> list[MockDelivery]:
    """Store every attempt, update each webhook the provider keeps a record on (a webhook
    deleted meanwhile is left alone), and keep each tenant's newest ``DELIVERIES_KEPT``."""
    rows = []
    last: dict[str, Attempt] = {}
    for attempt in attempts:
        planned, outgoing, outcome = attempt.planned, attempt.planned.outgoing, attempt.outcome
        rows.append(
            MockDelivery(
                provider=simulator.id,
                tenant=planned.target.tenant,
                webhook_id=planned.target.id,
                trigger_id=trigger_id,
                event=trigger.event,
                attributes=dict(trigger.attributes),
                attempt=attempt.number,
                url=outgoing.url if outgoing else planned.target.url,
                method=outgoing.method if outgoing else "POST",
                request_headers=[list(pair) for pair in outgoing.headers] if outgoing else [],
                request_body=outgoing.body if outgoing else b"",
                status_code=outcome.status_code if outcome else None,
                response_headers=[list(pair) for pair in outcome.response_headers]
                if outcome
                else [],
                response_body=outcome.response_body if outcome else b"",
                elapsed_ms=outcome.elapsed_ms if outcome else None,
                error=attempt.error,
                created_at=attempt.at,
            )
        )
        if outgoing is not None:
            last[planned.target.id] = attempt
    session.add_all(rows)
    for webhook_id, attempt in last.items():
        outcome = attempt.outcome
        answer = attempt.error or (
            outcome.response_body.decode("utf-8", "replace") if outcome else ""
        )
        status = outcome.status_code if outcome else None
        changes = simulator.delivered(status, answer, attempt.at, attempt.planned.settings)
        if changes:
            session.execute(
                update(MockWebhook).where(MockWebhook.id == webhook_id).values(**changes)
            )
    session.flush()
    for tenant in dict.fromkeys(row.tenant for row in rows):
        prune(session, simulator.id, tenant)
    return rows


def prune(session: AnySession, provider: str, tenant: str) -> None:
    """Delete a tenant's deliveries beyond its newest ``DELIVERIES_KEPT``."""
    oldest_kept = session.execute(
        select(MockDelivery.id)
        .where(MockDelivery.provider == provider, MockDelivery.tenant == tenant)
        .order_by(MockDelivery.id.desc())
        .offset(DELIVERIES_KEPT - 1)
        .limit(1)
    ).scalar()
    if oldest_kept is not None:
        session.execute(
            delete(MockDelivery).where(
                MockDelivery.provider == provider,
                MockDelivery.tenant == tenant,
                MockDelivery.id < oldest_kept,
            )
        )
