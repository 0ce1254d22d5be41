"""What every simulated provider shares: its errors, tenants, triggers, the settings for what
its documentation leaves open, and the `Simulator` base class the three providers fill in.

A *tenant* is whoever owns webhooks at the provider: an organization (Akinon ABP, Qovery) or a
user (ApiTree). Tokens, webhooks, deliveries and settings belong to one tenant, and a tenant's
token never reaches another's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement

from receiver.storage.models import MockWebhook

# the simulator's own bounds on what it stores (the documents give none unless they say so)
TEXT_MAX = 1000
URL_MAX = 2048
EVENTS_MAX = 100
FILTERS_MAX = 100
HEADERS_MAX = 50
HEADER_NAME_MAX = 256
HEADER_VALUE_MAX = 8192
CUSTOM_MAX = 16 * 1024
OVERRIDES_MAX = 50
# an identifier people choose (ApiTree's user ids, the `user` of a token): printable, no spaces
PLAIN_ID = re.compile(r"[A-Za-z0-9._:@-]{1,64}")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
UUID4 = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
)


class MockError(Exception):
    """A request a mock refuses: ``status`` and a short ``code``, ``message`` in words. The web
    layer renders it in the provider's error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str) -> MockError:
    """A 400 for a body, id or parameter that breaks a rule."""
    return MockError(400, "invalid_request", message)


@dataclass(frozen=True)
class Tenant:
    """The owner a token stands for; ``scopes`` are ApiTree's OAuth scopes (empty elsewhere)."""

    provider: str
    id: str
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attribute:
    """One attribute of a trigger that the provider's filters look at (``organization_id``…).

    Its name is the trigger's JSON field and, in kebab case, the ``receiver simulate`` option.
    """

    name: str
    label: str
    help: str
    required: bool = False
    choices: tuple[str, ...] = ()

    @property
    def option(self) -> str:
        """The command-line option: ``--organization-id``."""
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Trigger:
    """A trigger ("this event happened"): the event, the attributes the filters read, and
    changes to the example (JSON Pointer or dotted path -> value) asked for with ``set``."""

    event: str
    attributes: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SimulatorSetting:
    """Something a provider's documentation leaves open, made a setting of each tenant.

    ``undocumented`` says what the documentation does not say (the page and the README show it
    beside the setting); ``help`` says what the setting does.
    """

    name: str
    default: Any
    help: str
    undocumented: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    # an integer setting that may also be null ("off")
    nullable: bool = False

    def check(self, value: Any) -> Any:
        """The value when it is allowed.

        :raise MockError: 400, saying what is allowed.
        """
        if value is None and self.nullable:
            return None
        if self.choices:
            if value not in self.choices:
                raise bad_request(f"{self.name} is one of {', '.join(self.choices)}")
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            empty = " or null" if self.nullable else ""
            raise bad_request(f"{self.name} is a whole number{empty}")
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            raise bad_request(f"{self.name} is between {self.minimum} and {self.maximum}")
        return value

    def json_schema(self) -> dict[str, Any]:
        """The setting's JSON Schema, for the mock's OpenAPI document."""
        schema: dict[str, Any]
        if self.choices:
            schema = {"type": "string", "enum": list(self.choices)}
        else:
            schema = {"type": ["integer", "null"] if self.nullable else "integer"}
            if self.minimum is not None:
                schema["minimum"] = self.minimum
            if self.maximum is not None:
                schema["maximum"] = self.maximum
        return {
            **schema,
            "default": self.default,
            "description": f"{self.help} {self.undocumented}",
        }


RETRIES = SimulatorSetting(
    "retries",
    0,
    "Further attempts, made at once, after a transport error or a 5xx answer; each attempt "
    "is a delivery of its own.",
    "The provider does not document retries.",
    minimum=0,
    maximum=3,
)
TIMEOUT = SimulatorSetting(
    "timeout_seconds",
    10,
    "How long one attempt waits for the webhook's answer.",
    "The provider does not document how long it waits.",
    minimum=1,
    maximum=30,
)


@dataclass(frozen=True)
class Target:
    """A webhook as a delivery reads it: plain values copied from its row, so that sending
    never touches a row another request may change or delete meanwhile."""

    id: str
    provider: str
    tenant: str
    url: str
    secret: str | None
    headers: dict[str, str]
    fields: dict[str, Any]

    @classmethod
    def of(cls, row: MockWebhook) -> Target:
        return cls(
            row.id,
            row.provider,
            row.tenant,
            row.url,
            row.secret,
            dict(row.headers or {}),
            dict(row.fields or {}),
        )


class Simulator:
    """One provider's rules. The three providers subclass it; nothing here knows HTTP.

    Class attributes describe the provider for the pages, the documents and the command;
    methods turn request bodies into stored columns and back, decide which webhooks an event
    reaches, and shape each delivery.
    """

    id = ""
    name = ""
    # "organization" or "user": whom tokens, webhooks and settings belong to
    tenant_kind = "organization"
    attributes: tuple[Attribute, ...] = ()
    settings: tuple[SimulatorSetting, ...] = (RETRIES, TIMEOUT)
    # what the provider documents (sentences), and what it leaves open and what the simulator
    # does there instead: the page and the README show both
    documented: tuple[str, ...] = ()
    undocumented: tuple[str, ...] = ()
    # the webhook id's shape, checked before any lookup
    webhook_id_pattern: re.Pattern[str] = UUID
    # the scopes a token may carry (ApiTree's), and the provider's webhook list below the
    # mock's base for a tenant (the page's ready curl line)
    scopes: tuple[str, ...] = ()
    list_path = ""
    # errors as the provider's documented {code, message} (ApiTree), else receiver's own shape
    code_message_errors = False

    # --- tenants and tokens ---------------------------------------------------------------

    def check_tenant(self, value: str) -> str:
        """A tenant id as stored (normalised), or a 400 when it breaks the provider's pattern."""
        raise NotImplementedError

    def new_tenant(self) -> str:
        """A fresh tenant id, for a token asked for without one."""
        raise NotImplementedError

    def token_scopes(self, requested: Any) -> tuple[str, ...]:
        """The scopes a new token gets (only ApiTree has any)."""
        return ()

    # --- triggers -------------------------------------------------------------------------

    def check_attributes(self, given: dict[str, Any]) -> None:
        """:raise MockError: 400 when a trigger leaves out an attribute its events need."""
        for attribute in self.attributes:
            if attribute.required and given.get(attribute.name) is None:
                raise bad_request(
                    f"{attribute.name} ({attribute.option}) is required: {attribute.help}"
                )

    # --- webhooks -------------------------------------------------------------------------

    def webhook_json(self, row: MockWebhook) -> dict[str, Any]:
        """The webhook as the provider's API shows it."""
        raise NotImplementedError

    def webhook_id(self, value: str) -> str:
        """A webhook id from a path, normalised; a 400 when it is not of the provider's shape."""
        if not self.webhook_id_pattern.fullmatch(value):
            raise bad_request(f"{value[:80]!r} is not a webhook id of {self.name}")
        return value.lower()

    # --- deliveries -----------------------------------------------------------------------

    def candidates(self, trigger: Trigger) -> list[ColumnElement[bool]]:
        """Conditions that narrow the webhooks `matches` looks at, in the database."""
        return []

    def matches(self, row: MockWebhook, trigger: Trigger) -> bool:
        """Whether the event reaches this webhook (subscribed, active, through its filters)."""
        raise NotImplementedError

    def overrides(self, trigger: Trigger, example: Any, now: datetime) -> dict[str, Any]:
        """The fields of the example the trigger fills in (JSON Pointer -> value): the event's
        time and attributes, where the example has a documented place for them."""
        return {}

    def custom_headers(self, target: Target) -> list[tuple[str, str]]:
        """The headers the webhook was registered with, sent with each delivery."""
        return []

    def signature(
        self, target: Target, url: str, body: bytes, settings: dict[str, Any]
    ) -> list[tuple[str, str]]:
        """The signature headers of a delivery to ``url`` with this final body."""
        return []

    def not_sent(self, target: Target) -> str | None:
        """Why a matching webhook gets no delivery (words), or None."""
        return None

    def delivered(
        self, status: int | None, answer: str, now: datetime, settings: dict[str, Any]
    ) -> dict[str, Any]:
        """The webhook's columns a delivery changes (ApiTree's lastDelivery), given the answer's
        status (None when none came) and its body or the error in words; none by default."""
        return {}

    # --- settings -------------------------------------------------------------------------

    def setting(self, name: str) -> SimulatorSetting | None:
        """The setting called ``name``."""
        return next((found for found in self.settings if found.name == name), None)

    def defaults(self) -> dict[str, Any]:
        """Every setting at its default."""
        return {found.name: found.default for found in self.settings}


def iso_seconds(moment: datetime) -> str:
    """``2019-04-17T11:25:37Z``: ApiTree's and Qovery's documented timestamps."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(moment: datetime) -> str:
    """``2025-12-06T14:35:53.765Z``: Akinon's documented timestamps."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
