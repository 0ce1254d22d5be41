"""The ``receiver`` command: the app's Flask CLI group (``python -m receiver`` too).

Every ``flask --app app X`` command is also ``receiver X``: ``serve``, ``send``, ``prune``,
``forward-worker``, Flask-Migrate's ``db`` and Flask's own ``run``, ``shell`` and ``routes``.

``receiver send`` fires catalog examples (or saved recordings) at a URL::

    receiver send appery PROJECT_BUILD_IOS_FAIL --to http://localhost:8000/hooks
    receiver send qovery --all --to http://localhost:8000/hooks --secret s3cret
    receiver send appery PROJECT_BUILD_IOS_FAIL --to URL --set build.status=success --set /x=42
    receiver send --fixture tests/webhooks/ios-fail.json --to URL --secret whsec_… --scheme standard

One line per request, ``PROVIDER EVENT -> STATUS (N ms)``; ``-v`` adds the start of each response
body. Exit status: 0 when every target answered below 400, 1 when a send failed (transport error
or status >= 400), 2 for usage errors (unknown provider or event, a bad ``--set``, an unreadable
fixture, a target URL that cannot be used). Everything is prepared before the first send, so a
usage error sends nothing.

The request builders (`resolve_scheme`, `parse_assignment`, `catalog_outgoing`,
`recording_outgoing`) are plain functions shared with the pytest plugin.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from types import FrameType
from typing import Any

import click
from flask import Flask
from flask import current_app
from flask.cli import FlaskGroup
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from receiver.bins import retention
from receiver.catalog.model import Catalog
from receiver.catalog.model import Event
from receiver.config import load_settings
from receiver.delivery import recordings
from receiver.delivery.forwarding import ForwardPolicy
from receiver.delivery.forwarding import ForwardWorker
from receiver.delivery.forwarding import claim_jobs
from receiver.delivery.forwarding import deliver
from receiver.delivery.http import OutgoingError
from receiver.delivery.http import OutgoingRequest
from receiver.delivery.http import SendOutcome
from receiver.delivery.http import send
from receiver.delivery.sending import catalog_outgoing
from receiver.delivery.sending import parse_assignment
from receiver.delivery.sending import recording_outgoing
from receiver.signatures.registry import ALIASES
from receiver.signatures.registry import SCHEME_NAMES
from receiver.storage.db import db
from receiver.storage.migrate import prepare_database
from receiver.storage.models import utcnow
from receiver.web.serving import serve
from receiver.web.state import current_catalog

BODY_EXCERPT = 500


@click.command("prune")
@with_appcontext
def prune_command() -> None:
    """Delete expired bins and everything captured in them."""
    prepare_database(current_app)
    removed = retention.prune_expired(db.session, utcnow())
    db.session.commit()
    click.echo(f"pruned {removed} expired bin{'' if removed == 1 else 's'}")


# --- receiver send -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Planned:
    """One request to send and the label its result line starts with."""

    label: str
    outgoing: OutgoingRequest


@click.command("send")
@click.argument("provider", required=False)
@click.argument("event", required=False)
@click.option("--to", "url", required=True, metavar="URL", help="Where to send (http or https).")
@click.option("--all", "send_all", is_flag=True, help="Send every event of PROVIDER.")
@click.option(
    "--fixture",
    "fixtures",
    multiple=True,
    metavar="FILE",
    help="A recording file (a request's 'Save as recording' download); repeatable.",
)
@click.option("--secret", help="Sign with this secret.")
@click.option(
    "--scheme",
    type=click.Choice([*SCHEME_NAMES, *ALIASES]),
    help="Signature scheme (default: the provider's documented one, else standard-webhooks).",
)
@click.option("--header", metavar="NAME", help="Signature header name, for schemes that allow it.")
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="PATH=VALUE",
    help="Change a field of the example: a JSON Pointer (/a/0) or dotted path (a.0); the value "
    "is JSON when it parses, else a string. Repeatable.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for each answer (default: RECEIVER_REPLAY_TIMEOUT).",
)
@click.option("-v", "--verbose", is_flag=True, help="Print the start of each response body.")
@with_appcontext
def send_command(
    provider: str | None,
    event: str | None,
    url: str,
    send_all: bool,
    fixtures: Sequence[str],
    secret: str | None,
    scheme: str | None,
    header: str | None,
    assignments: Sequence[str],
    timeout: float | None,
    verbose: bool,
) -> None:
    """Send catalog examples or recorded requests to URL, signed when a secret is given.

    \b
      flask send PROVIDER EVENT --to URL
      flask send PROVIDER --all --to URL
      flask send --fixture FILE [--fixture FILE ...] --to URL
    """
    if scheme and not secret:
        raise click.UsageError("--scheme needs --secret (the key to sign with)")
    prepare_database(current_app)
    overrides = _parse_assignments(assignments)
    now = utcnow()
    catalog = current_catalog()
    if fixtures:
        if provider or send_all:
            raise click.UsageError("give either --fixture FILE or PROVIDER EVENT / --all, not both")
        if overrides:
            raise click.UsageError(
                "--set changes catalog examples; a recording is sent byte for byte"
            )
        plan = [_plan_fixture(path, url, now, catalog, secret, scheme, header) for path in fixtures]
    else:
        events = _chosen_events(catalog, provider, event, send_all)
        plan = [
            _plan_event(catalog, found, url, now, secret, scheme, header, overrides)
            for found in events
        ]
    limit = float(timeout or current_app.config["RECEIVER_REPLAY_TIMEOUT"])
    failed = 0
    for item in plan:
        outcome = send(item.outgoing, timeout=limit)
        failed += not _report(item.label, outcome, verbose)
    if failed:
        click.echo(f"{failed} of {len(plan)} sends failed", err=True)
        raise click.exceptions.Exit(1)


def _parse_assignments(assignments: Sequence[str]) -> dict[str, Any]:
    """``--set`` values as overrides (a later value for the same path wins)."""
    overrides: dict[str, Any] = {}
    for text in assignments:
        try:
            path, value = parse_assignment(text)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--set") from None
        overrides[path] = value
    return overrides


def _chosen_events(
    catalog: Catalog, provider_id: str | None, event_id: str | None, send_all: bool
) -> list[Event]:
    """The events named on the command line."""
    if not provider_id:
        raise click.UsageError("give PROVIDER EVENT, PROVIDER --all, or --fixture FILE")
    provider = catalog.provider(provider_id)
    if provider is None:
        known = ", ".join(catalog.providers) or "none"
        raise click.UsageError(f"unknown provider {provider_id!r} (known: {known})")
    if send_all:
        if event_id:
            raise click.UsageError("give EVENT or --all, not both")
        sendable = [found for found in provider.events.values() if found.example is not None]
        if not sendable:
            raise click.UsageError(f"provider {provider_id!r} has no event with an example")
        return sendable
    if not event_id:
        raise click.UsageError(f"give an EVENT of {provider_id!r}, or --all")
    found = provider.events.get(event_id)
    if found is None:
        known = ", ".join(provider.events) or "none"
        raise click.UsageError(
            f"no event {event_id!r} for provider {provider_id!r} (known: {known})"
        )
    if found.example is None:
        raise click.UsageError(f"{provider_id} {event_id} has no example payload to send")
    return [found]


def _plan_event(
    catalog: Catalog,
    found: Event,
    url: str,
    now: datetime,
    secret: str | None,
    scheme: str | None,
    header: str | None,
    overrides: dict[str, Any],
) -> _Planned:
    """Prepare the catalog example of one event, turning problems into usage errors."""
    label = f"{found.provider_id} {found.id}"
    try:
        outgoing = catalog_outgoing(
            catalog,
            found,
            url,
            now=now,
            secret=secret,
            scheme=scheme,
            header=header,
            overrides=overrides,
        )
    except OutgoingError as error:
        _raise_replay_error(error, label)
    except ValueError as error:
        hint = "--set" if _is_pointer_error(error) else None
        raise click.BadParameter(f"{label}: {error}", param_hint=hint) from None
    return _Planned(label, outgoing)


def _is_pointer_error(error: ValueError) -> bool:
    """True for the errors `samples.set_pointer` raises."""
    text = str(error)
    return "is not an index" in text or "cannot descend" in text


def _plan_fixture(
    path: str,
    url: str,
    now: datetime,
    catalog: Catalog,
    secret: str | None,
    scheme: str | None,
    header: str | None,
) -> _Planned:
    """Prepare one recording file, turning problems into usage errors."""
    try:
        recording = recordings.load(path)
    except recordings.RecordingError as error:
        raise click.BadParameter(str(error), param_hint="--fixture") from None
    recorded = recording.event or {}
    known = " ".join(str(recorded[key]) for key in ("provider", "event") if recorded.get(key))
    label = f"{path} ({known})" if known else path
    try:
        outgoing = recording_outgoing(
            recording, url, now=now, catalog=catalog, secret=secret, scheme=scheme, header=header
        )
    except OutgoingError as error:
        _raise_replay_error(error, label)
    except ValueError as error:
        raise click.BadParameter(f"{label}: {error}", param_hint="--secret") from None
    return _Planned(label, outgoing)


def _raise_replay_error(error: OutgoingError, label: str) -> None:
    """A request that cannot be prepared is a usage error naming the option at fault."""
    hint = {"invalid_url": "--to", "invalid_signature": "--secret"}.get(error.code)
    raise click.BadParameter(f"{label}: {error.message}", param_hint=hint) from None


def _report(label: str, outcome: SendOutcome, verbose: bool) -> bool:
    """Print the result line (and, with ``-v``, the body excerpt); True when the send succeeded."""
    elapsed = f"({round(outcome.elapsed_ms)} ms)"
    if outcome.error is not None:
        click.echo(f"{label} -> error: {outcome.error} {elapsed}")
        ok = False
    else:
        click.echo(f"{label} -> {outcome.status_code} {elapsed}")
        ok = outcome.status_code is not None and outcome.status_code < 400
    if verbose and outcome.response_body:
        text = outcome.response_body.decode("utf-8", "replace")
        excerpt = text[:BODY_EXCERPT]
        more = len(text) > BODY_EXCERPT or outcome.truncated
        click.echo("    " + excerpt.replace("\n", "\n    ") + (" …" if more else ""))
    return ok


# --- receiver forward-worker --------------------------------------------------------------------


@click.command("forward-worker")
@click.option("--once", is_flag=True, help="Forward what is due now, then exit.")
@with_appcontext
def forward_worker_command(once: bool) -> None:
    """Forward captured requests to their bins' forward URLs until Ctrl-C (or SIGTERM).

    Run it instead of the per-process forwarding threads (RECEIVER_FORWARD_WORKER=0); several
    workers may run at once, each job is claimed by one of them.
    """
    prepare_database(current_app)
    worker: ForwardWorker = current_app.extensions["receiver.forwarder"]
    if once:
        counts = forward_once(db.engine, worker.policy)
        total = sum(counts.values())
        parts = ", ".join(f"{counts[status]} {status}" for status in sorted(counts))
        noun = "attempt" if total == 1 else "attempts"
        click.echo(f"forwarded: {total} {noun}" + (f" ({parts})" if parts else ""))
        return
    _run_until_stopped(worker)


def forward_once(engine: Any, policy: ForwardPolicy) -> Counter[str]:
    """Deliver every job that is due as of now; the jobs' new statuses, counted.

    Due is judged at the start: a job that fails is rescheduled into the future and is not tried
    again in this run, however slow the run is; a job that waited for an earlier one of its bin
    is sent once that one is done.
    """
    lease = timedelta(seconds=policy.timeout * 2 + 5)
    counts: Counter[str] = Counter()
    started = utcnow()
    with Session(engine) as session:
        # one claim per delivery, so that no lease runs out while it waits its turn
        while ids := claim_jobs(session, started, limit=1, lease=lease):
            counts[deliver(session, ids[0], policy, utcnow())] += 1
    return counts


def _run_until_stopped(worker: ForwardWorker) -> None:
    """Run the app's forwarding thread until Ctrl-C or SIGTERM, then let it finish its job."""
    stop = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    worker.start()
    click.echo("forwarding queued requests; Ctrl-C to stop")
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
        signal.signal(signal.SIGTERM, previous)
    click.echo("stopped")


# --- receiver serve ------------------------------------------------------------------------------


@click.command("serve")
@click.option("--bind", metavar="HOST:PORT", help="Where to listen (default: RECEIVER_BIND).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Server processes (default: RECEIVER_WORKERS).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    help="Request threads per process (default: RECEIVER_THREADS).",
)
def serve_command(bind: str | None, workers: int | None, threads: int | None) -> None:
    """Serve receiver with its production server (gunicorn, receiver's settings and hooks).

    The tables are created or upgraded once, before the workers start.
    """
    try:
        settings = load_settings(os.environ)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    overrides: dict[str, Any] = {}
    if bind:
        overrides["bind"] = [bind]
    if workers:
        overrides["workers"] = workers
    if threads:
        overrides["threads"] = threads
    serve(settings, **overrides)


def init_app(app: Flask) -> None:
    """Register the commands on the app's CLI group (``flask --app app …``)."""
    for command in COMMANDS:
        app.cli.add_command(command)


COMMANDS = (serve_command, prune_command, send_command, forward_worker_command)


def create_cli_app() -> Flask:
    """The app the ``receiver`` group runs its commands against."""
    from receiver import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=create_cli_app, add_version_option=False)
def main() -> None:
    """receiver: a self-hosted webhook receiver and test inspector."""


main.add_command(serve_command)
