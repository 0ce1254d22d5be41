"""``receiver scenario``: replay a bin's captures to a URL in order, with their timing::

    receiver scenario my-bin --to http://localhost:8000/hooks --speed 4
    receiver scenario https://hooks.example.com/b/my-bin --to http://localhost:8000/hooks \\
        --event invoice.paid --duplicates 1
    receiver scenario https://hooks.example.com/b/my-bin --to https://staging.example.com/hooks \\
        --on-server --resign

The sends go out from where the command runs, so ``--to http://localhost:…`` means this machine,
the one with the handler under test: with a bin id the captures are read from this instance's
database (and the scenario is recorded there, so the inspector shows it); with a bin's URL they
are read through that server's API. ``--on-server`` asks the server to run it instead (its
runner sends from the server, records every attempt there, and re-signs with the bin's secret,
which the API never shows); the command follows its progress and cancels it on Ctrl-C.

One line per send, ``#N request ID -> STATUS (ELAPSED ms) at +OFFSET ms``. Exit status: 0 when
every send was answered below 400, 1 otherwise, 2 for usage errors (nothing is sent).
"""

from __future__ import annotations

import base64
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from typing import NoReturn

import click

from receiver.cli.context import with_app

if TYPE_CHECKING:
    import httpx

    from receiver.delivery import scenarios
    from receiver.storage.models import Replay

BIN_URL = re.compile(
    r"^(?P<base>https?://[^/?#]+(?:/[^?#]*?)?)/(?:b|bins|api/bins)/(?P<id>[^/?#]+)"
)
API_TIMEOUT = 30.0
FOLLOW_SECONDS = 0.5


@dataclass(frozen=True)
class RemoteCapture:
    """A capture read through a server's API: what a re-send needs."""

    id: int
    seq: int
    received_at: datetime
    method: str
    path: str
    query_string: str
    headers: Sequence[Sequence[str]]
    body: bytes


@click.command("scenario")
@click.argument("bin_ref", metavar="BIN_URL_OR_ID")
@click.option("--to", "url", required=True, metavar="URL", help="Where to send (http or https).")
@click.option("--id", "request_ids", type=int, multiple=True, help="A capture to send; repeatable.")
@click.option("--method", help="Only captures with this method.")
@click.option("--event", help="Only captures of this event.")
@click.option("--validation", help="Only captures with this verdict (valid, invalid, …).")
@click.option("-q", "--search", help="Only captures containing this text.")
@click.option("--speed", type=float, help="Original spacing divided by this (default 1).")
@click.option("--interval", type=int, metavar="MS", help="A fixed interval instead.")
@click.option("--max-gap", type=int, metavar="MS", help="Cap each original gap at this.")
@click.option("--duplicates", type=int, default=0, help="Send each capture this many more times.")
@click.option("--shuffle-window", type=int, default=0, help="Shuffle within blocks of this many.")
@click.option("--seed", type=int, help="The shuffle's seed (to repeat a run).")
@click.option("--resign", is_flag=True, help="Sign again with the bin's scheme and secret.")
@click.option("--no-append-path", is_flag=True, help="Do not append the captured sub-path.")
@click.option("--on-server", is_flag=True, help="Let the bin's server run it (a bin URL).")
@click.option("--token", help="Bearer token for a private bin or a team deployment.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for each answer (default: RECEIVER_REPLAY_TIMEOUT).",
)
@with_app
def scenario_command(
    bin_ref: str,
    url: str,
    request_ids: Sequence[int],
    method: str | None,
    event: str | None,
    validation: str | None,
    search: str | None,
    speed: float | None,
    interval: int | None,
    max_gap: int | None,
    duplicates: int,
    shuffle_window: int,
    seed: int | None,
    resign: bool,
    no_append_path: bool,
    on_server: bool,
    token: str | None,
    timeout: float | None,
) -> None:
    """Replay a bin's captures to URL in capture order, with their original spacing (or
    faster, or at an interval), optionally each twice or shuffled within a window."""
    from flask import current_app

    body = _spec_body(
        url,
        request_ids,
        {"method": method, "event": event, "validation": validation, "q": search},
        speed,
        interval,
        max_gap,
        duplicates,
        shuffle_window,
        seed,
        resign,
        not no_append_path,
    )
    limit = float(timeout or current_app.config["RECEIVER_REPLAY_TIMEOUT"])
    remote = BIN_URL.match(bin_ref)
    if remote is None:
        if on_server:
            raise click.UsageError("--on-server needs the bin's URL (http…/b/BIN_ID)")
        failed = _run_here(bin_ref, body, limit)
    else:
        client = _client(remote.group("base"), token)
        with client:
            if on_server:
                failed = _follow_on_server(client, remote.group("id"), body)
            else:
                if resign:
                    raise click.UsageError(
                        "--resign needs the bin's secret, which its API never shows: add "
                        "--on-server to let the server re-sign"
                    )
                failed = _run_from_api(client, remote.group("id"), body, limit)
    if failed:
        raise click.exceptions.Exit(1)


def _spec_body(
    url: str,
    request_ids: Sequence[int],
    filters: dict[str, str | None],
    speed: float | None,
    interval: int | None,
    max_gap: int | None,
    duplicates: int,
    shuffle_window: int,
    seed: int | None,
    resign: bool,
    append_path: bool,
) -> dict[str, Any]:
    """The API's scenario body from the options (checked as the API checks it)."""
    from receiver.config import load_settings
    from receiver.delivery import scenarios
    from receiver.exports.request_bodies import BodyError
    from receiver.exports.request_bodies import check_body

    if interval is not None and (speed is not None or max_gap is not None):
        raise click.UsageError("--interval replaces the original spacing: drop --speed/--max-gap")
    timing: dict[str, Any] = {"mode": "original", "speed": 1.0 if speed is None else speed}
    if max_gap is not None:
        timing["max_gap_ms"] = max_gap
    if interval is not None:
        timing = {"mode": "interval", "ms": interval}
    body: dict[str, Any] = {
        "url": url,
        "timing": timing,
        "duplicates": duplicates,
        "shuffle_window": shuffle_window,
        "resign": resign,
        "append_path": append_path,
    }
    if seed is not None:
        body["seed"] = seed
    chosen = {key: value for key, value in filters.items() if value}
    if request_ids and chosen:
        raise click.UsageError("give --id or filters (--method, --event, …), not both")
    if request_ids:
        body["request_ids"] = list(request_ids)
    elif chosen:
        body["filter"] = chosen
    try:
        # the check the API makes (a server checks again with its own settings)
        check_body(
            "ScenarioCreate",
            body,
            max_delay_ms=load_settings(os.environ)["RECEIVER_MAX_RESPONSE_DELAY_MS"],
        )
        scenarios.parse_spec(body)
    except (BodyError, scenarios.ScenarioError) as error:
        raise click.UsageError(error.message) from None
    return body


def _run_here(bin_id: str, body: dict[str, Any], timeout: float) -> int:
    """Plan, record and run the scenario in this process, on this instance's database."""
    from flask import current_app

    from receiver.delivery import scenarios
    from receiver.delivery.http import OutgoingError
    from receiver.storage.db import db
    from receiver.storage.migrate import prepare_database
    from receiver.storage.models import Bin
    from receiver.storage.models import utcnow

    prepare_database(current_app)
    found = db.session.get(Bin, bin_id)
    if found is None or found.expires_at <= utcnow():
        raise click.UsageError(f"no bin {bin_id!r} in this instance's database")
    try:
        spec = scenarios.parse_spec(body)
        scenario = scenarios.create_scenario(db.session, found, spec, now=utcnow(), claimed=True)
    except (scenarios.ScenarioError, OutgoingError) as error:
        raise click.UsageError(error.message) from None
    db.session.commit()
    click.echo(f"scenario {scenario.id}: {scenario.total} sends to {spec.url}")
    printer = _Printer(scenario.total)
    stop = threading.Event()
    settings = scenarios.RunSettings(timeout=timeout, report=printer.attempt)
    try:
        status = scenarios.run_scenario(db.engine, scenario.id, settings, stop)
    except KeyboardInterrupt:
        stop.set()
        status = "interrupted"
    return printer.summary(status)


class _Printer:
    """One line per send, and the summary."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.failed = 0
        self.sent = 0
        self.started = time.monotonic()

    def attempt(self, position: int, planned: scenarios.Send, replay: Replay | None) -> None:
        self.line(
            position,
            planned.request_id,
            None if replay is None else replay.status_code,
            None if replay is None else replay.elapsed_ms,
            "the capture was deleted" if replay is None else replay.error,
            (time.monotonic() - self.started) * 1000,
        )

    def line(
        self,
        position: int,
        request_id: int,
        status: int | None,
        elapsed: float | None,
        error: str | None,
        offset: float | None,
    ) -> None:
        self.sent += 1
        answer = f"error: {error}" if error or status is None else str(status)
        if error or status is None or status >= 400:
            self.failed += 1
        took = f" ({round(elapsed or 0)} ms)" if elapsed is not None else ""
        at = f" at +{round(offset)} ms" if offset is not None else ""
        click.echo(f"#{position + 1} request {request_id} -> {answer}{took}{at}")

    def summary(self, status: str) -> int:
        missing = self.total - self.sent
        line = f"{status}: {self.sent} of {self.total} sent, {self.failed} failed"
        click.echo(line + (f", {missing} not sent" if missing else ""))
        return self.failed + missing


# -- through a server's API ---------------------------------------------------------------------


def _client(base: str, token: str | None) -> httpx.Client:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base, headers=headers, timeout=API_TIMEOUT, trust_env=False)


def _api(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    """Call the server's API; its error (or an unreachable server) is a usage error."""
    import httpx

    try:
        answer = client.request(method, path, **kwargs)
    except httpx.HTTPError as error:
        _fail(f"cannot reach {client.base_url}: {error}")
    if answer.is_success:
        return answer.json()
    try:
        message = answer.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = answer.text[:200]
    _fail(f"{method} {path} answered {answer.status_code}: {message}")


def _fail(message: str) -> NoReturn:
    raise click.UsageError(message)


def _follow_on_server(client: httpx.Client, bin_id: str, body: dict[str, Any]) -> int:
    """Start the scenario on the server and print its attempts as they are made."""
    from receiver.delivery import scenarios

    created = _api(client, "POST", f"/api/bins/{bin_id}/scenarios", json=body)
    path = f"/api/bins/{bin_id}/scenarios/{created['id']}"
    click.echo(f"scenario {created['id']} on the server: {created['total']} sends to {body['url']}")
    printer = _Printer(created["total"])
    shown = 0
    try:
        while True:
            state = _api(client, "GET", path)
            for attempt in state["attempts"][shown:]:
                printer.line(
                    attempt["position"],
                    attempt["request_id"],
                    attempt["status_code"],
                    attempt["elapsed_ms"],
                    attempt["error"],
                    attempt["sent_ms"],
                )
            shown = len(state["attempts"])
            if state["status"] not in scenarios.UNFINISHED:
                if state["error"]:
                    click.echo(state["error"])
                return printer.summary(state["status"])
            time.sleep(FOLLOW_SECONDS)
    except KeyboardInterrupt:
        client.post(f"{path}/cancel")
        return printer.summary("cancelled")


def _run_from_api(client: httpx.Client, bin_id: str, body: dict[str, Any], timeout: float) -> int:
    """Read the captures through the API, plan here, and send them from this machine."""
    from receiver.delivery import scenarios
    from receiver.delivery.http import OutgoingError
    from receiver.delivery.http import prepare_outgoing
    from receiver.delivery.http import send
    from receiver.storage.models import utcnow

    spec = scenarios.parse_spec(body)
    captures = _remote_captures(client, bin_id, spec)
    try:
        sends = scenarios.plan(captures, spec)
    except scenarios.ScenarioError as error:
        raise click.UsageError(error.message) from None
    by_id = {capture.id: capture for capture in captures}
    now = utcnow()
    try:
        prepared = [
            prepare_outgoing(by_id[s.request_id], spec.url, append_path=spec.append_path, now=now)
            for s in sends
        ]
    except OutgoingError as error:
        raise click.BadParameter(error.message, param_hint="--to") from None
    click.echo(f"{len(sends)} sends to {spec.url}")
    printer = _Printer(len(sends))
    started = time.monotonic()
    try:
        for position, (planned, outgoing) in enumerate(zip(sends, prepared, strict=True)):
            time.sleep(max(0.0, started + planned.at_ms / 1000 - time.monotonic()))
            offset = (time.monotonic() - started) * 1000
            outcome = send(outgoing, timeout=timeout)
            printer.line(
                position,
                planned.request_id,
                outcome.status_code,
                outcome.elapsed_ms,
                outcome.error,
                offset,
            )
    except KeyboardInterrupt:
        return printer.summary("interrupted")
    return printer.summary("done")


def _remote_captures(
    client: httpx.Client, bin_id: str, spec: scenarios.ScenarioSpec
) -> list[RemoteCapture]:
    """The chosen captures of a bin, with their bodies, through its API."""
    from receiver.delivery import scenarios

    params: dict[str, Any] = {"limit": 500}
    if spec.filter is not None:
        params.update({k: v for k, v in spec.to_json()["filter"].items() if v})
    wanted = set(spec.request_ids) if spec.request_ids is not None else None
    ids: list[int] = []
    while True:
        page = _api(client, "GET", f"/api/bins/{bin_id}/requests", params=params)
        ids += [r["id"] for r in page["requests"] if wanted is None or r["id"] in wanted]
        if len(ids) > scenarios.MAX_SENDS:
            _fail(f"more than {scenarios.MAX_SENDS} captures match; narrow the filter")
        if page["next"] is None:
            break
        params["before"] = page["next"]
    if wanted is not None and wanted - set(ids):
        shown = ", ".join(str(i) for i in sorted(wanted - set(ids))[:10])
        _fail(f"not captured in this bin: {shown}")
    return [_remote_capture(_api(client, "GET", f"/api/bins/{bin_id}/requests/{i}")) for i in ids]


def _remote_capture(shape: dict[str, Any]) -> RemoteCapture:
    return RemoteCapture(
        id=shape["id"],
        seq=shape["seq"],
        received_at=datetime.fromisoformat(shape["received_at"].replace("Z", "+00:00")),
        method=shape["method"],
        path=shape["path"],
        query_string=shape["query_string"],
        headers=[(str(name), str(value)) for name, value in shape["headers"]],
        body=base64.b64decode(shape["body_base64"]),
    )
