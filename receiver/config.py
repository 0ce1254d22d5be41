"""The settings table: every knob, its default, its environment variable, its bounds, its help.

One table is the single source for loading (environment -> ``app.config``), for the README's
settings section and for the limits the inspector shows. A test fails when a setting is not
documented in the README.
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class Setting:
    """One configurable value: ``name`` is the app.config key, ``env`` the environment variable."""

    name: str
    default: Any
    help: str
    kind: type = int
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] | None = None
    # never shown in pages or logs (the secret key, a database URL with its password)
    secret: bool = False
    # read by `receiver serve` (the server), not by the app itself
    server: bool = False

    @property
    def env(self) -> str:
        return self.name

    def parse(self, raw: str) -> Any:
        """Turn an environment string into a value; raise ValueError when out of bounds."""
        if self.kind is bool:
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(f"{self.name}: expected a boolean, got {raw!r}")
        if self.kind is int:
            try:
                number = int(raw.replace("_", ""))
            except ValueError:
                raise ValueError(f"{self.name}: expected a whole number, got {raw!r}") from None
            return self.check(number)
        text = raw.strip()
        if self.choices and text not in self.choices:
            raise ValueError(f"{self.name}: expected one of {', '.join(self.choices)}, got {raw!r}")
        return text

    def check(self, value: Any) -> Any:
        """Raise ValueError when a numeric value is outside the setting's bounds."""
        if self.kind is int:
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"{self.name}: {value} is below the minimum {self.minimum}")
            if self.maximum is not None and value > self.maximum:
                raise ValueError(f"{self.name}: {value} is above the maximum {self.maximum}")
        return value


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        "",
        "SQLAlchemy URL of the database; postgresql://… selects PostgreSQL (psycopg 3). Empty "
        "means the SQLite file receiver.db in the instance folder.",
        kind=str,
        secret=True,
    ),
    Setting(
        "SECRET_KEY",
        "",
        "Signs bin tokens and the browser's cookies. Empty means a key generated once into the "
        "instance folder (secret_key); set the same key on every host of a deployment.",
        kind=str,
        secret=True,
    ),
    Setting(
        "RECEIVER_INSTANCE_PATH",
        "",
        "Folder of the SQLite database and the generated secret key. Empty means instance/ in a "
        "clone, or <virtualenv>/var/receiver-instance when installed.",
        kind=str,
    ),
    Setting(
        "RECEIVER_BODY_LIMIT",
        10 * MIB,
        "Largest body a bin accepts, in bytes; a larger one gets 413 and nothing is stored.",
        minimum=1024,
        maximum=512 * MIB,
    ),
    Setting(
        "RECEIVER_DRAIN_LIMIT",
        64 * MIB,
        "How many bytes of an oversized body are read and discarded so that the sender sees the "
        "413 rather than a broken pipe; past it the connection is closed.",
        minimum=0,
        maximum=1024 * MIB,
    ),
    Setting(
        "RECEIVER_MAX_REQUESTS_PER_BIN",
        1000,
        "Captured requests kept per bin; the oldest are evicted beyond it.",
        minimum=1,
        maximum=10_000_000,
    ),
    Setting(
        "RECEIVER_MAX_BYTES_PER_BIN",
        256 * MIB,
        "Bytes of bodies kept per bin; the oldest requests are evicted beyond it (the newest "
        "always stays).",
        minimum=MIB,
        maximum=64 * 1024 * MIB,
    ),
    Setting(
        "RECEIVER_BIN_TTL_DAYS",
        7,
        "A bin expires this many days after its creation or its last request.",
        minimum=1,
        maximum=3650,
    ),
    Setting(
        "RECEIVER_REPLAY_TIMEOUT",
        10,
        "Seconds a replay or forward waits for the target before it is recorded as timed out.",
        minimum=1,
        maximum=120,
    ),
    Setting(
        "RECEIVER_SIMULATOR_DEADLINE",
        60,
        "Longest one simulated event (POST /mock/<provider>/events, receiver simulate) takes to "
        "deliver to its webhooks, in seconds; attempts not done by then are recorded as such.",
        minimum=1,
        maximum=300,
    ),
    Setting(
        "RECEIVER_VALIDATION_BUDGET_MS",
        250,
        "Longest one schema check may take, in milliseconds; a check that would run longer is "
        "stopped and its verdict is timed_out.",
        minimum=10,
        maximum=10_000,
    ),
    Setting(
        "RECEIVER_MAX_RESPONSE_DELAY_MS",
        10_000,
        "Upper bound of a bin's custom response delay, in milliseconds.",
        minimum=0,
        maximum=60_000,
    ),
    Setting(
        "RECEIVER_POLL_SECONDS",
        1,
        "How often the inspector asks for new requests.",
        minimum=1,
        maximum=60,
    ),
    Setting(
        "RECEIVER_SQLITE_SYNCHRONOUS",
        "NORMAL",
        "SQLite durability: NORMAL survives a killed process; FULL also survives a power cut, "
        "at a cost in write throughput (see the README).",
        kind=str,
        choices=("NORMAL", "FULL"),
    ),
    Setting(
        "RECEIVER_PUBLIC_URL",
        "",
        "Base URL that ingest URLs are built from (e.g. https://hooks.example.com); empty means "
        "the host of the request that asks.",
        kind=str,
    ),
    Setting(
        "RECEIVER_FORWARD_WORKER",
        True,
        "Run a forwarding thread in each server process (turn off when `receiver forward-worker` "
        "runs instead).",
        kind=bool,
    ),
    Setting(
        "RECEIVER_FORWARD_ATTEMPTS",
        5,
        "Attempts per forwarded request before it is marked failed (backoff 1 s, 2 s, 4 s, …).",
        minimum=1,
        maximum=50,
    ),
    Setting(
        "RECEIVER_AUTO_MIGRATE",
        True,
        "Create or upgrade the database tables when a server or a command that needs them "
        "starts (receiver serve upgrades once, before its workers start).",
        kind=bool,
    ),
    Setting(
        "RECEIVER_ACCESS_TOKEN",
        "",
        "Team access: when set, every page and /api route needs this token (Authorization: "
        "Bearer, or the cookie the /login page sets); ingest (/b/…), static files and /healthz "
        "stay open. Empty means no login.",
        kind=str,
        secret=True,
    ),
    Setting(
        "RECEIVER_PUBLIC",
        False,
        "A public deployment: replay, forwarding, scenario replay and send refuse loopback, "
        "private, link-local and cloud-metadata addresses, checked after DNS resolution on "
        "every connection. Off: localhost targets are allowed.",
        kind=bool,
    ),
    Setting(
        "RECEIVER_RATE_PER_BIN",
        0,
        "Requests per second one bin accepts, in bursts of up to as many; more get 429 with "
        "Retry-After (nothing stored). Shared by the workers of one host. 0 means no limit.",
        minimum=0,
        maximum=1_000_000,
    ),
    Setting(
        "RECEIVER_RATE_PER_CLIENT",
        0,
        "Requests per second ingest accepts from one client address (IPv6 by its /64), in "
        "bursts of up to as many; more get 429 with Retry-After. 0 means no limit.",
        minimum=0,
        maximum=1_000_000,
    ),
    Setting(
        "RECEIVER_READ_TIMEOUT",
        30,
        "Seconds a sender has to send one request, head and body, from its first byte, and a "
        "second more for every 64 KiB that arrives; a slower one gets 408 (or, during the "
        "head, a closed connection).",
        minimum=1,
        maximum=3600,
        server=True,
    ),
    Setting(
        "RECEIVER_BIND",
        "127.0.0.1:5000",
        "Where receiver serve (and the development server) listen: HOST:PORT, or unix:PATH.",
        kind=str,
        server=True,
    ),
    Setting(
        "RECEIVER_WORKERS",
        2,
        "Server processes receiver serve starts.",
        minimum=1,
        maximum=64,
        server=True,
    ),
    Setting(
        "RECEIVER_THREADS",
        4,
        "Request threads per server process.",
        minimum=1,
        maximum=256,
        server=True,
    ),
    Setting(
        "RECEIVER_FEED_WAITERS",
        16,
        "Change-feed long polls (receiver listen) each server process holds at once, on "
        "threads of their own added to RECEIVER_THREADS, so waiting listeners never take a "
        "sender's thread; a poll beyond it is answered at once. 0 turns long polls off.",
        minimum=0,
        maximum=256,
    ),
    Setting(
        "RECEIVER_ACCESS_LOG",
        "",
        "Where receiver serve writes its access log: a file, or - for standard output; empty "
        "means none.",
        kind=str,
        server=True,
    ),
)


def instance_path(configured: str = "") -> str:
    """The instance folder (SQLite file, secret key): ``RECEIVER_INSTANCE_PATH`` when set, else
    where Flask puts an app's instance folder (``instance/`` beside the package in a clone,
    ``<prefix>/var/receiver-instance`` when installed), worked out without importing Flask so
    that the commands that need no server can find the database too."""
    if configured:
        return os.path.abspath(configured)
    package_path = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    prefix = os.path.abspath(sys.prefix)
    if Path(package_path).is_relative_to(prefix):
        return os.path.join(prefix, "var", "receiver-instance")
    site_parent, site_folder = os.path.split(package_path)
    if site_folder.lower() == "site-packages":
        parent, folder = os.path.split(site_parent)
        if folder.lower() == "lib":
            installed = parent
        elif os.path.basename(parent).lower() == "lib":
            installed = os.path.dirname(parent)
        else:
            installed = site_parent
        return os.path.join(installed, "var", "receiver-instance")
    return os.path.join(package_path, "instance")


def database_url(configured: str, instance_path: str) -> str:
    """The SQLAlchemy URL: the configured one (``postgres://`` and ``postgresql://`` mean
    psycopg 3), or the embedded default, a SQLite file in the instance folder."""
    if not configured:
        return "sqlite:///" + str(Path(instance_path) / "receiver.db")
    if configured.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + configured.split("://", 1)[1]
    return configured


def load_settings(environ: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    """Read every setting from ``environ``; raise ValueError naming the bad variable."""
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        values[setting.name] = setting.parse(raw) if raw else setting.default
    return values


def load_secret_key(instance_path: str) -> str:
    """The key in ``instance/secret_key``, created once (``SECRET_KEY`` wins when set)."""
    path = Path(instance_path) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # write then link: link fails when another worker won the race, and never exposes a half file
    temporary = path.with_name(f".secret_key.{os.getpid()}")
    temporary.write_text(key)
    os.chmod(temporary, 0o600)
    try:
        os.link(temporary, path)
    except FileExistsError:
        key = path.read_text().strip()
    finally:
        temporary.unlink()
    return key
