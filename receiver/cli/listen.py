"""``receiver listen``: a bin's captures delivered to a server on this machine::

    receiver listen https://hooks.example.com/b/Z3x… --to http://localhost:8000/webhooks
    receiver listen https://hooks.example.com/bins/Z3x… --to http://localhost:8000/hooks \\
        --name laptop --token … --event PROJECT_BUILD_IOS_FAIL --path-prefix /appery

One line per delivery. The listener's position lives on the server under its name (the
machine's name unless ``--name`` is given): stopped, killed or offline, it resumes where it
stopped, delivering what arrived meanwhile first. Exit status: 0 when stopped with Ctrl-C (or
SIGTERM), 1 when the server refuses to go on (the bin was deleted, say), 2 for usage errors (a
URL that names no bin, a bin that does not exist or is private without ``--token``, options that
do not go together).

It needs no database and no app: it is a client of any receiver server.
"""

from __future__ import annotations

import re
import signal
import socket
import threading
from types import FrameType

import click

from receiver.capture.listeners import EVENT_MAX
from receiver.capture.listeners import LISTENER_NAME
from receiver.capture.listeners import MAX_EVENTS
from receiver.capture.listeners import PATH_PREFIX_MAX
from receiver.delivery.relay import ListenOptions
from receiver.delivery.relay import Relay
from receiver.delivery.relay import RelayFailed
from receiver.delivery.relay import RelayUsageError
from receiver.delivery.relay import check_target
from receiver.delivery.relay import parse_bin_url
from receiver.signatures.registry import ALIASES
from receiver.signatures.registry import SCHEME_NAMES

# how long a stop waits for a delivery under way (beyond its own timeout) to be reported
REPORT_GRACE = 10.0


@click.command("listen")
@click.argument("bin_url", metavar="BIN_URL")
@click.option(
    "--to",
    "target",
    required=True,
    metavar="TARGET_URL",
    help="Where to deliver (http or https); each capture's sub-path and query go below it.",
)
@click.option(
    "--name",
    help="The listener's name on the server (default: this machine's name). The same name "
    "resumes where it stopped; every name gets every capture.",
)
@click.option(
    "--token",
    help="A private bin's token (also enough in a team deployment), or a team deployment's "
    "access token for a public bin.",
)
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="EVENT",
    help="Only captures detected as this event (repeatable: any of them).",
)
@click.option("--path-prefix", metavar="PATH", help="Only captures whose sub-path starts so.")
@click.option(
    "--from-start",
    is_flag=True,
    help="A new name starts with the oldest capture the bin holds instead of the next one.",
)
@click.option("--resign", is_flag=True, help="Sign each delivery again, with a fresh timestamp.")
@click.option(
    "--secret",
    help="The signing secret for --resign (default: the bin's own, which the server gives to a "
    "listener holding the bin's token).",
)
@click.option(
    "--scheme",
    type=click.Choice([*SCHEME_NAMES, *ALIASES]),
    help="The signature scheme for --resign (default: the bin's).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, max=600, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the target's answer (then it counts as down and is asked again).",
)
def listen_command(
    bin_url: str,
    target: str,
    name: str | None,
    token: str | None,
    events: tuple[str, ...],
    path_prefix: str | None,
    from_start: bool,
    resign: bool,
    secret: str | None,
    scheme: str | None,
    timeout: float,
) -> None:
    """Deliver the captures of the bin at BIN_URL (its ingest or inspector URL, on any receiver
    server) to TARGET_URL, in capture order, until Ctrl-C.

    Each capture is sent as captured: method, sub-path and query below TARGET_URL's path,
    headers in order, exact body; plus Receiver-Idempotency-Key (the capture's id, the same if
    it ever comes twice). While the target is down the listener retries the same capture.
    """
    try:
        address = parse_bin_url(bin_url)
        check_target(target)
    except RelayUsageError as error:
        raise click.UsageError(str(error)) from None
    options = ListenOptions(
        target=target.strip(),
        name=_checked_name(name),
        token=(token or "").strip() or None,
        events=_checked_events(events),
        path_prefix=_checked_prefix(path_prefix),
        from_start=from_start,
        resign=_resign_options(resign, secret, scheme),
        timeout=timeout,
    )
    relay = Relay(address, options, say=lambda line: click.echo(line))
    _run(relay, options)


def _checked_name(name: str | None) -> str:
    if name is None:
        return default_name()
    if not LISTENER_NAME.fullmatch(name):
        raise click.UsageError(
            "--name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def default_name() -> str:
    """This machine's name as a listener name (``listener`` when it has none usable)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()).lstrip("._-")[:64]
    return cleaned if LISTENER_NAME.fullmatch(cleaned) else "listener"


def _checked_events(events: tuple[str, ...]) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(event.strip() for event in events if event.strip()))
    if len(cleaned) > MAX_EVENTS:
        raise click.UsageError(f"at most {MAX_EVENTS} --event filters")
    if any(len(event) > EVENT_MAX for event in cleaned):
        raise click.UsageError(f"an --event is at most {EVENT_MAX} characters")
    return cleaned


def _checked_prefix(prefix: str | None) -> str | None:
    if not prefix:
        return None
    if not prefix.startswith("/") or len(prefix) > PATH_PREFIX_MAX:
        raise click.UsageError(
            f"--path-prefix is a sub-path starting with / (at most {PATH_PREFIX_MAX} characters)"
        )
    return prefix


def _resign_options(resign: bool, secret: str | None, scheme: str | None) -> dict[str, str] | None:
    if not resign:
        if secret or scheme:
            raise click.UsageError("--secret and --scheme are for --resign")
        return None
    return {key: value for key, value in (("secret", secret), ("scheme", scheme)) if value}


def _run(relay: Relay, options: ListenOptions) -> None:
    """Run the relay in a thread until it fails or Ctrl-C / SIGTERM stops it.

    The main thread only waits, so a stop is seen at once: a long poll is abandoned (nothing is
    in flight then), a delivery under way is finished and reported first.
    """
    failure: list[BaseException] = []

    def work() -> None:
        try:
            relay.run()
        except BaseException as error:  # reported by the main thread
            failure.append(error)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    worker = threading.Thread(target=work, name="receiver-listen", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        relay.stop()
        if not relay.idle.wait(options.timeout + REPORT_GRACE):
            click.echo("stopped before the delivery under way was reported", err=True)
        relay.leave()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failure and not relay.stopping:
        error = failure[0]
        if isinstance(error, RelayFailed):
            click.echo(f"Error: {error}", err=True)
            raise SystemExit(2 if error.usage else 1)
        raise error
    progress = relay.progress
    click.echo(
        f"stopped: {progress.delivered} delivered; {options.name!r} is at capture "
        f"#{progress.position} on the server"
    )
