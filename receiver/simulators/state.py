"""The simulators' state in the database: tenants, tokens, webhooks, settings and resets.

Everything lives in the same database as the rest of receiver (SQLite or PostgreSQL), so any
number of workers and servers share it. Functions here take a session and leave committing to
the caller, except where they say otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from receiver.simulators import documents
from receiver.simulators.model import MockError
from receiver.simulators.model import Simulator
from receiver.simulators.model import Tenant
from receiver.storage.db import AnySession
from receiver.storage.models import MockDelivery
from receiver.storage.models import MockTenant
from receiver.storage.models import MockToken
from receiver.storage.models import MockWebhook

TOKEN_PREFIX = "rsim_"
HINT_LENGTH = 12


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def ensure_tenant(session: AnySession, provider: str, tenant: str, now: datetime) -> MockTenant:
    """The tenant's row, created when it does not exist yet. Two requests creating the same
    tenant at once get the same row (the loser's transaction is rolled back: call this first)."""
    found = session.get(MockTenant, (provider, tenant))
    if found is not None:
        return found
    created = MockTenant(provider=provider, tenant=tenant, revision=0, created_at=now)
    session.add(created)
    try:
        session.flush()
    except IntegrityError:  # created by another request meanwhile
        session.rollback()
        found = session.get(MockTenant, (provider, tenant))
        if found is None:
            raise
        return found
    return created


def issue_token(
    session: AnySession,
    simulator: Simulator,
    tenant: str,
    *,
    scopes: tuple[str, ...],
    now: datetime,
) -> str:
    """A new token for ``tenant`` (created if new); only its hash is kept."""
    ensure_tenant(session, simulator.id, tenant, now)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        MockToken(
            token_hash=token_hash(token),
            provider=simulator.id,
            tenant=tenant,
            scopes=list(scopes),
            hint=token[:HINT_LENGTH],
            created_at=now,
        )
    )
    return token


@dataclass(frozen=True)
class Issued:
    """A token just issued: shown once, never stored."""

    token: str
    tenant: str
    scopes: tuple[str, ...]


def issue_token_for(
    session: AnySession,
    simulator: Simulator,
    events: Sequence[str],
    body: dict[str, Any],
    now: datetime,
) -> Issued:
    """A token for the tenant a token request names (``organization`` or ``user``, and ApiTree's
    ``scopes``), or for a new tenant when it names none.

    :raise MockError: 400 for a request that breaks the mock's document.
    """
    documents.check_body(simulator, events, "TokenRequest", body)
    named = body.get(simulator.tenant_kind)
    tenant = simulator.check_tenant(named) if named is not None else simulator.new_tenant()
    scopes = simulator.token_scopes(body.get("scopes"))
    return Issued(issue_token(session, simulator, tenant, scopes=scopes, now=now), tenant, scopes)


def authenticate(session: AnySession, provider: str, token: str | None) -> Tenant | None:
    """The tenant a token of ``provider`` stands for, or None (no token, or not one of ours)."""
    if not token or len(token) > 512:
        return None
    digest = token_hash(token)
    found = session.get(MockToken, digest)
    if (
        found is None
        or found.provider != provider
        or not hmac.compare_digest(found.token_hash, digest)
    ):
        return None
    return Tenant(provider, found.tenant, tuple(found.scopes or ()))


def tenant_exists(session: AnySession, provider: str, tenant: str) -> bool:
    """Whether the provider has this tenant (one a token was issued for)."""
    return session.get(MockTenant, (provider, tenant)) is not None


def tenant_settings(session: AnySession, simulator: Simulator, tenant: str) -> dict[str, Any]:
    """Every setting of a tenant: its changes over the defaults (a stored value the current
    bounds refuse counts as unset)."""
    found = session.get(MockTenant, (simulator.id, tenant))
    return merged_settings(simulator, found.settings if found is not None else None)


def merged_settings(simulator: Simulator, stored: dict[str, Any] | None) -> dict[str, Any]:
    """The defaults with the stored changes that are still allowed."""
    values = simulator.defaults()
    for name, value in (stored or {}).items():
        setting = simulator.setting(name)
        if setting is None:
            continue
        try:
            values[name] = setting.check(value)
        except MockError:
            continue
    return values


def change_settings(
    session: AnySession, simulator: Simulator, tenant: str, changes: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Apply ``changes`` to a tenant's settings; returns every setting after.

    :raise MockError: 400 for an unknown setting or a value out of its bounds (nothing changes).
    """
    checked = {}
    for name, value in changes.items():
        setting = simulator.setting(name)
        if setting is None:
            known = ", ".join(found.name for found in simulator.settings)
            raise MockError(400, "invalid_request", f"no setting {name[:80]!r} (known: {known})")
        checked[name] = setting.check(value)
    row = ensure_tenant(session, simulator.id, tenant, now)
    row.settings = {**(row.settings or {}), **checked}
    return merged_settings(simulator, row.settings)


def reset_tenant(session: AnySession, provider: str, tenant: str) -> None:
    """Forget a tenant's webhooks, deliveries and settings; its tokens stay valid."""
    session.execute(
        delete(MockWebhook).where(MockWebhook.provider == provider, MockWebhook.tenant == tenant)
    )
    session.execute(
        delete(MockDelivery).where(MockDelivery.provider == provider, MockDelivery.tenant == tenant)
    )
    session.execute(
        update(MockTenant)
        .where(MockTenant.provider == provider, MockTenant.tenant == tenant)
        .values(settings=None)
    )


# --- webhooks ------------------------------------------------------------------------------------


def list_webhooks(
    session: AnySession, provider: str, tenant: str, *conditions: ColumnElement[bool]
) -> list[MockWebhook]:
    """A tenant's webhooks (narrowed by ``conditions``), oldest first."""
    query = (
        select(MockWebhook)
        .where(MockWebhook.provider == provider, MockWebhook.tenant == tenant, *conditions)
        .order_by(MockWebhook.created_at, MockWebhook.id)
    )
    return list(session.execute(query).scalars())


def get_webhook(session: AnySession, provider: str, tenant: str, webhook_id: str) -> MockWebhook:
    """One of a tenant's webhooks.

    :raise MockError: 404 when the tenant has no such webhook (another tenant's is not seen).
    """
    found = session.get(MockWebhook, webhook_id)
    if found is None or found.provider != provider or found.tenant != tenant:
        raise MockError(404, "not_found", "no such webhook")
    return found


def add_webhook(
    session: AnySession,
    provider: str,
    tenant: str,
    columns: dict[str, Any],
    *,
    now: datetime,
    limit: int | None = None,
    limit_message: str = "",
) -> MockWebhook:
    """Store a new webhook of a tenant.

    The tenant's row is updated first, which takes its lock on both databases (a row lock on
    PostgreSQL, the write lock on SQLite), so counting its webhooks for ``limit`` is exact
    however many requests create at once.

    :raise MockError: 400 with ``limit_message`` when the tenant already has ``limit``.
    """
    ensure_tenant(session, provider, tenant, now)
    session.execute(
        update(MockTenant)
        .where(MockTenant.provider == provider, MockTenant.tenant == tenant)
        .values(revision=MockTenant.revision + 1)
    )
    if limit is not None:
        count = session.execute(
            select(func.count())
            .select_from(MockWebhook)
            .where(MockWebhook.provider == provider, MockWebhook.tenant == tenant)
        ).scalar_one()
        if count >= limit:
            raise MockError(400, "limit_reached", limit_message)
    row = MockWebhook(provider=provider, tenant=tenant, created_at=now, updated_at=now, **columns)
    session.add(row)
    session.flush()
    return row


# --- deliveries ----------------------------------------------------------------------------------


def list_deliveries(
    session: AnySession, provider: str, tenant: str, *, webhook_id: str | None, limit: int
) -> list[MockDelivery]:
    """A tenant's deliveries, newest first."""
    query = select(MockDelivery).where(
        MockDelivery.provider == provider, MockDelivery.tenant == tenant
    )
    if webhook_id is not None:
        query = query.where(MockDelivery.webhook_id == webhook_id)
    return list(session.execute(query.order_by(MockDelivery.id.desc()).limit(limit)).scalars())


def get_delivery(session: AnySession, provider: str, tenant: str, delivery_id: int) -> MockDelivery:
    """One of a tenant's deliveries.

    :raise MockError: 404 when the tenant has no such delivery.
    """
    found = session.get(MockDelivery, delivery_id) if delivery_id < 2**63 else None
    if found is None or found.provider != provider or found.tenant != tenant:
        raise MockError(404, "not_found", "no such delivery")
    return found


def known_tenants(session: AnySession, provider: str, limit: int = 200) -> list[dict[str, Any]]:
    """The provider's tenants, newest first, with how many tokens, webhooks and deliveries each
    has (for the simulator's page)."""
    tenants = session.execute(
        select(MockTenant)
        .where(MockTenant.provider == provider)
        .order_by(MockTenant.created_at.desc(), MockTenant.tenant)
        .limit(limit)
    ).scalars()
    counts: dict[str, dict[str, int]] = {}
    for model, key in (
        (MockToken, "tokens"),
        (MockWebhook, "webhooks"),
        (MockDelivery, "deliveries"),
    ):
        rows = session.execute(
            select(model.tenant, func.count())
            .where(model.provider == provider)
            .group_by(model.tenant)
        )
        for tenant, count in rows:
            counts.setdefault(tenant, {})[key] = count
    return [
        {
            "id": row.tenant,
            "created_at": row.created_at,
            "tokens": counts.get(row.tenant, {}).get("tokens", 0),
            "webhooks": counts.get(row.tenant, {}).get("webhooks", 0),
            "deliveries": counts.get(row.tenant, {}).get("deliveries", 0),
        }
        for row in tenants
    ]
