"""The stored concepts: bins, captured requests, replays, forward jobs, listeners, scenarios,
user schemas and providers, and the simulated providers' tenants, tokens, webhooks and deliveries.

Raw data is kept exactly as it arrived (body bytes, raw query, header pairs); the derived columns
(event, validation status, signature status) exist because the list filters on them. The text
search index (``request_search``) is not a model: it is a full-text table of its own on each
database (SQLite FTS5, PostgreSQL pg_trgm), filled in the background from ``search_queue`` by
``capture.indexer`` and read by listing.
"""

from __future__ import annotations

import secrets
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import ForeignKeyConstraint
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import event
from sqlalchemy import inspect
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import WriteOnlyMapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from sqlalchemy.types import TypeDecorator

from receiver.storage.db import Base
from receiver.storage.db import db

# Flask-SQLAlchemy builds db.Model at run time (automatic table names); the type checker sees Base
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model

# sqlite only aliases rowid (and so autoincrements) for a column declared exactly INTEGER
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time in UTC, timezone-aware, with microseconds."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_settings_version() -> int:
    """A fresh, unguessable settings version (see ``Bin.settings_version``)."""
    return secrets.randbits(62) + 1


class Bin(Model):
    """A capture target: its id is the secret part of the ingest URL."""

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_request_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    # bumped to revoke every token issued for a private bin so far
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    request_count: Mapped[int] = mapped_column(Integer, default=0)
    # bytes of the bodies kept, bounded like the count (oldest evicted first)
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # the capture sequence: each commit takes the next numbers under the bin's row lock, so the
    # numbers become visible in order (the change feed's cursor; ids can commit out of order)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)

    # expected provider/event: detection uses them before looking at the payload
    provider: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[str | None] = mapped_column(String(128))
    strict_validation: Mapped[bool] = mapped_column(Boolean, default=False)

    response_status: Mapped[int] = mapped_column(Integer, default=200)
    response_headers: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    response_body: Mapped[str | None] = mapped_column(Text)
    response_delay_ms: Mapped[int] = mapped_column(Integer, default=0)
    # answers the next captures take in order, one step each; step k answers seq base + k + 1
    response_script: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    script_base_seq: Mapped[int] = mapped_column(BigInteger, default=0)

    signature_scheme: Mapped[str | None] = mapped_column(String(32))
    signature_secret: Mapped[str | None] = mapped_column(String(512))
    signature_header: Mapped[str | None] = mapped_column(String(128))
    # secrets being rotated out: still accepted when verifying, never used to sign
    signature_previous_secrets: Mapped[list[str] | None] = mapped_column(JSON)

    forward_url: Mapped[str | None] = mapped_column(Text)
    # new whenever a setting the capture path reads changes: capture keeps bins in memory and
    # checks this at commit (see capture.store); random, so a bin deleted and made again under
    # the same id does not pass for the old one
    settings_version: Mapped[int] = mapped_column(BigInteger, default=new_settings_version)

    requests: WriteOnlyMapped[CapturedRequest] = relationship(
        back_populates="bin", cascade="all, delete-orphan", passive_deletes=True
    )


# the settings the capture path reads before its commit (capture.store.IngestTarget)
INGEST_SETTINGS = (
    "expires_at",
    "provider",
    "event",
    "strict_validation",
    "signature_scheme",
    "signature_secret",
    "signature_header",
    "signature_previous_secrets",
    "forward_url",
)


@event.listens_for(Bin, "before_update")
def _new_settings_version(_mapper: Any, _connection: Any, changed: Bin) -> None:
    """A bin whose ingest settings change gets a new settings version, in the same UPDATE."""
    state = inspect(changed)
    if any(state.attrs[name].history.has_changes() for name in INGEST_SETTINGS):
        changed.settings_version = new_settings_version()


class CapturedRequest(Model):
    """One request as it arrived at a bin, byte for byte."""

    __tablename__ = "captured_request"
    __table_args__ = (
        Index("ix_captured_request_bin_id_id", "bin_id", "id"),
        Index("ix_captured_request_bin_id_event_id", "bin_id", "event_id", "id"),
        Index("ix_captured_request_bin_id_validation_status", "bin_id", "validation_status", "id"),
        Index("ix_captured_request_bin_id_seq", "bin_id", "seq", unique=True),
        # ids are cursors for pollers: never hand out the id of a deleted request again
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bin_id: Mapped[str] = mapped_column(ForeignKey("bin.id", ondelete="CASCADE"))
    # this capture's number in its bin's sequence (see Bin.last_seq)
    seq: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text, default="/")
    query_string: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    content_type: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer, default=0)
    remote_addr: Mapped[str | None] = mapped_column(String(64))

    event_provider: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(128))
    validation_status: Mapped[str | None] = mapped_column(String(16))
    validation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    signature_status: Mapped[str | None] = mapped_column(String(16))
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # what the bin answered when it was not its default answer: {status, headers, body (head),
    # body_size, delay_ms, step}; null means the default 200 {"ok": true, "request_id": ...}
    # (see bins.responses); {"unknown": true} for captures older than this column
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    bin: Mapped[Bin] = relationship(back_populates="requests")


class SearchQueue(Model):
    """A capture waiting for the text index (the indexer works through these in the background,
    and a search looks at queued captures directly, so it never misses one)."""

    __tablename__ = "search_queue"
    __table_args__ = (Index("ix_search_queue_bin_id", "bin_id"),)

    request_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("captured_request.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    bin_id: Mapped[str] = mapped_column(String(64))


class Replay(Model):
    """One re-send of a captured request (``kind``: replay, forward, scenario or listen), with the
    target's answer or the transport error."""

    __table_args__ = (Index("ix_replay_request_id_id", "request_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("captured_request.id", ondelete="CASCADE"),
    )
    kind: Mapped[str] = mapped_column(String(16), default="replay")
    url: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(16))
    request_headers: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    response_body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    elapsed_ms: Mapped[float | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the scenario run or the listener (relay) that made this attempt, when one did
    scenario_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("scenario.id", ondelete="CASCADE"),
    )
    listener_name: Mapped[str | None] = mapped_column(String(64))


class UserSchema(Model):
    """A schema a person added or replaced through the API; shared by every worker."""

    __tablename__ = "user_schema"
    __table_args__ = (UniqueConstraint("provider", "event", name="uq_user_schema_provider_event"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    # null when only the example is the user's (over a shipped schema)
    schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    example: Mapped[Any | None] = mapped_column(JSON)
    # [[name, value], …]: the headers the provider's description requires of a delivery
    headers: Mapped[list[list[str]] | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(Text, default="user")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CatalogMarker(Model):
    """The user catalog's change marker: one row whose version triggers move on every write to
    ``user_schema`` and ``user_provider`` (see the migration), so a process that keeps the
    merged catalog in memory can tell it is current with one read by key."""

    __tablename__ = "catalog_marker"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class ForwardJob(Model):
    """One captured request waiting to be forwarded to its bin's forward URL (or done with)."""

    __tablename__ = "forward_job"
    __table_args__ = (
        Index("ix_forward_job_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_forward_job_bin_id_id", "bin_id", "id"),
        # a capture's deletion finds its jobs (the cascade) without reading them all
        Index("ix_forward_job_request_id", "request_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("captured_request.id", ondelete="CASCADE"),
    )
    bin_id: Mapped[str] = mapped_column(ForeignKey("bin.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserProvider(Model):
    """A provider people added: its name, how to recognise its webhooks, how it signs."""

    __tablename__ = "user_provider"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    detection: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Listener(Model):
    """A named relay client following a bin (``receiver listen``): where it is, how it fares."""

    __table_args__ = (UniqueConstraint("bin_id", "name", name="uq_listener_bin_id_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bin_id: Mapped[str] = mapped_column(ForeignKey("bin.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    # the seq of the last capture the listener delivered (its cursor)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # when it last said it was stopping (receiver listen, Ctrl-C): disconnected until seen again
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_request_id: Mapped[int | None] = mapped_column(BigInteger)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_elapsed_ms: Mapped[float | None] = mapped_column()


class Scenario(Model):
    """A replay of a set of captures in order, with their timing; progress lives here."""

    __table_args__ = (Index("ix_scenario_bin_id_id", "bin_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bin_id: Mapped[str] = mapped_column(ForeignKey("bin.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    # what was asked: request ids, filter, timing, duplicates, shuffle window, re-signing
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    # sends of ``done`` that got no answer, or an answer of 400 or more
    failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def tenant_key() -> ForeignKeyConstraint:
    """The reference from a simulated provider's row to its tenant (gone with the tenant)."""
    return ForeignKeyConstraint(
        ["provider", "tenant"], ["mock_tenant.provider", "mock_tenant.tenant"], ondelete="CASCADE"
    )


class MockTenant(Model):
    """An organization (Akinon, Qovery) or a user (ApiTree) of a simulated provider: the owner of
    mock tokens and webhooks, and of the simulator settings that apply to its deliveries.

    ``revision`` is bumped by every webhook creation, which takes the row's lock first: counting
    a tenant's webhooks after it is exact on both databases, with any number of workers.
    """

    __tablename__ = "mock_tenant"

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    # the simulator settings changed from their defaults (what the provider leaves undocumented)
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MockToken(Model):
    """A bearer token of a simulated provider's API, stored as its SHA-256 only."""

    __tablename__ = "mock_token"
    __table_args__ = (
        tenant_key(),
        Index("ix_mock_token_provider_tenant", "provider", "tenant"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str] = mapped_column(String(64))
    # ApiTree's OAuth scopes (webhook, webhook.readonly); empty for the others
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # the first characters of the token, so people can tell their tokens apart
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MockWebhook(Model):
    """A webhook registered with a simulated provider's API.

    The columns are what matching reads (scope, state, events, target); ``fields`` holds the
    rest of the provider's own representation (Akinon's name, ApiTree's custom, Qovery's kind,
    description and filters).
    """

    __tablename__ = "mock_webhook"
    __table_args__ = (
        tenant_key(),
        Index("ix_mock_webhook_provider_tenant", "provider", "tenant", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str] = mapped_column(String(64))
    # Akinon: the project the webhook belongs to
    project_id: Mapped[str | None] = mapped_column(String(64))
    # ApiTree: the API, or the user/organization, whose events the webhook receives
    api_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    url: Mapped[str] = mapped_column(Text)
    # ApiTree's generated secret, Qovery's target_secret
    secret: Mapped[str | None] = mapped_column(Text)
    # Akinon's custom headers, sent with every delivery
    headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # ApiTree's lastDelivery, kept up to date by deliveries
    last_delivery: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MockDelivery(Model):
    """One attempt to deliver a simulated event to a webhook: what was sent, what came back.

    It outlives its webhook (a deleted webhook's history stays until its tenant is reset).
    """

    __tablename__ = "mock_delivery"
    __table_args__ = (
        tenant_key(),
        Index("ix_mock_delivery_provider_tenant_id", "provider", "tenant", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str] = mapped_column(String(64))
    webhook_id: Mapped[str] = mapped_column(String(36))
    # the deliveries of one trigger share it
    trigger_id: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(128))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    url: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(16))
    request_headers: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    request_body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    response_body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    elapsed_ms: Mapped[float | None] = mapped_column()
    # a transport error in words, or why nothing was sent
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
