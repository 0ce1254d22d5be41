"""``receiver send``: catalog examples (or saved recordings) fired at a URL::

    receiver send appery PROJECT_BUILD_IOS_FAIL --to http://localhost:8000/hooks
    receiver send qovery --all --to http://localhost:8000/hooks --secret s3cret
    receiver send appery PROJECT_BUILD_IOS_FAIL --to URL --set build.status=success --set /x=42
    receiver send --fixture tests/webhooks/ios-fail.json --to URL --secret whsec_… --scheme standard

One line per request, ``PROVIDER EVENT -> STATUS (N ms)``; ``-v`` adds the start of each response
body. Exit status: 0 when every target answered below 400, 1 when a send failed (transport error
or status >= 400), 2 for usage errors (unknown provider or event, a bad ``--set``, an unreadable
fixture, a target URL that cannot be used). Everything is prepared before the first send, so a
usage error sends nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

import click

from receiver.catalog.model import Catalog
from receiver.catalog.model import Event
from receiver.cli.context import command_catalog
from receiver.config import load_settings
from receiver.delivery import recordings
from receiver.delivery.http import OutgoingError
from receiver.delivery.http import OutgoingRequest
from receiver.delivery.http import SendOutcome
from receiver.delivery.http import send
from receiver.delivery.sending import catalog_outgoing
from receiver.delivery.sending import parse_assignment
from receiver.delivery.sending import recording_outgoing
from receiver.signatures.registry import ALIASES
from receiver.signatures.registry import SCHEME_NAMES

BODY_EXCERPT = 500


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
@click.pass_context
def send_command(
    ctx: click.Context,
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
      receiver send PROVIDER EVENT --to URL
      receiver send PROVIDER --all --to URL
      receiver send --fixture FILE [--fixture FILE ...] --to URL

    The catalog is this instance's (shipped events, and the user schemas of its database when
    it has one); without a database only the shipped events can be sent.
    """
    if scheme and not secret:
        raise click.UsageError("--scheme needs --secret (the key to sign with)")
    try:
        settings = load_settings(os.environ)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    overrides = _parse_assignments(assignments)
    now = datetime.now(UTC)
    catalog = command_catalog(ctx)
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
    limit = float(timeout or settings["RECEIVER_REPLAY_TIMEOUT"])
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
