"""The relay behind ``receiver listen``: follow a bin's change feed on a receiver server and
deliver each capture to a target on this machine.

Pure client code (httpx; no Flask, no database). The server side is ``capture.feed`` and the
API's ``/feed`` and ``/listeners`` routes.

Decisions:

- At least once, in capture order, one at a time. A capture is sent to the target, the answer
  is reported to the server (which moves the listener's position there), and only then is the
  next capture sent. A listener killed between a delivery and its report sends that capture
  again when it is restarted with the same name: at most one comes twice. Every delivery
  carries ``Receiver-Idempotency-Key: <capture id>``, the same on a repeat, so a handler can
  drop the second copy.
- A target that is down (refused, reset, timed out, no answer, or a 502, 503 or 504 from a
  proxy in front of it) gets the same capture again after a pause that grows from 0.5 s to
  5 s; the listener never skips ahead. Any other answer, errors included, is the target's
  answer: reported, shown, and the listener moves on.
- The capture is sent as captured (``delivery.http``): its method, its sub-path and query
  below the target's path, its headers in order and its exact body, plus the idempotency key;
  with re-signing, the scheme's signature headers are replaced by fresh ones.
- A server that cannot be reached, or answers 5xx or 429, is asked again after a pause that
  grows to 10 s (a laptop that sleeps or loses its network resumes by itself). A server that
  refuses for good (the bin is gone, the token is refused) ends the relay with a `RelayFailed`.
- Stopping (`Relay.stop`) lets a delivery under way finish and be reported; a long poll is
  simply abandoned, since nothing is in flight then. `Relay.leave` then tells the server the
  listener is gone, so it shows as disconnected at once (a listener that is killed cannot: the
  server counts it as connected until it has not been seen for a while).
- Re-signing uses the secret given, else the bin's own, which the server gives to a listener
  presenting the bin's token.
- One line per delivery, as informative as ``stripe listen``'s: the capture's number, method
  and path, the event it was detected as (provider and event id, or its candidates), and the
  target's answer with its time.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any
from urllib.parse import quote
from urllib.parse import urlsplit

import httpx

from receiver.delivery.http import OutgoingError
from receiver.delivery.http import OutgoingRequest
from receiver.delivery.http import SendOutcome
from receiver.delivery.http import prepare_outgoing
from receiver.delivery.http import send
from receiver.version import user_agent

IDEMPOTENCY_HEADER = "Receiver-Idempotency-Key"
TARGET_DOWN_STATUSES = frozenset({502, 503, 504})
RETRY_SERVER_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_WAIT = 25
FEED_LIMIT = 20
FIRST_DELAY = 0.5
TARGET_MAX_DELAY = 5.0
SERVER_MAX_DELAY = 10.0
# how long a stopping listener waits for the server to note that it left
LEAVE_TIMEOUT = 5.0
BIN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# what the server keeps of a report (capture.feed): longer values are cut before sending
REPORT_URL_MAX = 8192
REPORT_HEADERS_MAX = 200
REPORT_HEADER_CHARS = 64 * 1024
REPORT_BODY_MAX = 64 * 1024
REPORT_ERROR_MAX = 2000
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class RelayUsageError(ValueError):
    """A bin URL, target or option that cannot be used."""


class RelayFailed(RuntimeError):
    """The server refused for good; ``usage`` when the command line is the cause (a bin that
    does not exist or is private, a token refused, re-signing without a scheme)."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class BinAddress:
    """Where a bin's API lives: the server's base URL (any path prefix kept) and the bin id."""

    server: str
    bin_id: str

    def api(self, path: str = "") -> str:
        return f"{self.server}/api/bins/{quote(self.bin_id, safe='')}{path}"


def parse_bin_url(text: str) -> BinAddress:
    """The bin behind an ingest URL (``…/b/<id>[/sub/path]``), an inspector URL
    (``…/bins/<id>``) or an API URL (``…/api/bins/<id>``), on any server and path prefix.

    :raise RelayUsageError: not an http(s) URL naming a bin.
    """
    parsed = urlsplit(text.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise RelayUsageError(f"BIN_URL must be an http:// or https:// URL, not {text!r}")
    if parsed.username or parsed.password:
        raise RelayUsageError("BIN_URL carries credentials: give the token with --token instead")
    segments = parsed.path.split("/")
    for index, segment in enumerate(segments[:-1]):
        if segment in ("b", "bins") and BIN_ID.fullmatch(segments[index + 1]):
            prefix = segments[:index]
            if segment == "bins" and prefix and prefix[-1] == "api":
                prefix = prefix[:-1]
            base = f"{parsed.scheme}://{parsed.netloc}{'/'.join(prefix)}".rstrip("/")
            return BinAddress(base, segments[index + 1])
    raise RelayUsageError(
        "BIN_URL must be a bin's ingest URL (…/b/<bin id>) or inspector URL (…/bins/<bin id>)"
    )


def check_target(url: str) -> None:
    """Refuse a target the relay could never send to.

    :raise RelayUsageError: not an absolute http(s) URL, or credentials in it.
    """
    try:
        prepare_outgoing(_Capture("GET", "/", "", [], b""), url, now=datetime.now(UTC))
    except OutgoingError as error:
        raise RelayUsageError(f"--to: {error.message}") from None


@dataclass(frozen=True)
class ListenOptions:
    """What ``receiver listen`` was asked to do."""

    target: str
    name: str
    token: str | None = None
    events: tuple[str, ...] = ()
    path_prefix: str | None = None
    from_start: bool = False
    # {"secret", "scheme"?} when each delivery is signed again
    resign: dict[str, Any] | None = None
    timeout: float = 30.0
    wait: int = DEFAULT_WAIT


@dataclass(frozen=True)
class _Capture:
    """A capture from the feed, as `prepare_outgoing` reads it."""

    method: str
    path: str
    query_string: str
    headers: Sequence[Sequence[str]]
    body: bytes


@dataclass
class Progress:
    """What the relay has done so far (read by the command when it stops)."""

    position: int = 0
    delivered: int = 0
    attempts: int = 0
    started: bool = False
    failure: RelayFailed | None = None


def printable(text: str, limit: int = 200) -> str:
    """Captured or remote text made safe for a terminal: control characters escaped, cut."""
    shown = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


class Relay:
    """Follows one bin and delivers to one target until `stop` is called or it fails.

    ``pause(seconds)`` is how it waits before asking again (a target down, a server away or
    busy); it returns True once the relay is stopping. Tests replace it to run the back-offs
    without waiting them out.
    """

    def __init__(
        self,
        address: BinAddress,
        options: ListenOptions,
        *,
        say: Callable[[str], None],
        transport: httpx.BaseTransport | None = None,
        pause: Callable[[float], bool] | None = None,
    ) -> None:
        self.address = address
        self.options = options
        self.say = say
        self.progress = Progress()
        self._stop = threading.Event()
        self._pause = pause or self._stop.wait
        # set while nothing is in flight: no delivery sent and unreported
        self.idle = threading.Event()
        self.idle.set()
        headers = {"User-Agent": user_agent("receiver-listen"), "Accept": "application/json"}
        if options.token:
            headers["Authorization"] = f"Bearer {options.token}"
        self._transport = transport
        self._server = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(30.0, read=options.wait + 20.0),
            follow_redirects=False,
            transport=transport,
        )
        self._resign: dict[str, Any] | None = None

    # -- control --------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop after the delivery under way, if any, is reported."""
        self._stop.set()

    def leave(self) -> bool:
        """Tell the server this listener stopped (after `stop`, once nothing is in flight), so
        that it shows as disconnected at once; one short attempt on a connection of its own
        (the relay's may be held by an abandoned long poll). False when the server could not
        be told: it then counts the listener as gone once it has not been seen for a while."""
        if not self.progress.started:
            return False
        path = f"/listeners/{quote(self.options.name, safe='')}/leave"
        try:
            with httpx.Client(
                headers=self._server.headers,
                timeout=LEAVE_TIMEOUT,
                follow_redirects=False,
                transport=self._transport,
            ) as client:
                response = client.post(self.address.api(path))
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Open the listener on the server, then deliver until stopped.

        :raise RelayFailed: the server refused for good.
        """
        try:
            listener = self._server_call("open the listener", self._open)
            if listener is None:
                return
            self.progress.position = int(listener["position"])
            self.progress.started = True
            self._resign = self._resign_settings(listener.get("signature") or {})
            self._announce(listener)
            self._follow()
        except RelayFailed as failure:
            self.progress.failure = failure
            raise
        finally:
            self._server.close()

    # -- the loop -------------------------------------------------------------------------------

    def _follow(self) -> None:
        while not self.stopping:
            page = self._server_call("read the feed", self._poll)
            if page is None:
                return
            if page.get("removed"):
                count = int(page["removed"])
                self.say(
                    f"warning: {count} capture{'' if count == 1 else 's'} after "
                    f"#{self.progress.position} {'was' if count == 1 else 'were'} evicted or "
                    "deleted on the server before they could be delivered"
                )
            requests = page.get("requests") or []
            for item in requests:
                if not self._deliver(item):
                    return
                self.progress.position = max(self.progress.position, int(item["seq"]))
            self.progress.position = max(self.progress.position, int(page["next"]))
            if not requests and page.get("retry_after"):
                # the server could not hold the poll (all its slots taken): ask again later
                self._pause(float(page["retry_after"]))

    def _deliver(self, item: dict[str, Any]) -> bool:
        """Send one capture until the target answers; False when stopped before that."""
        capture = _Capture(
            method=str(item["method"]),
            path=str(item["path"]),
            query_string=str(item["query_string"]),
            headers=[
                (str(n), str(v))
                for n, v in item["headers"]
                if str(n).lower() != IDEMPOTENCY_HEADER.lower()
            ],
            body=base64.b64decode(item["body_base64"]),
        )
        headers = [*capture.headers, (IDEMPOTENCY_HEADER, str(item["id"]))]
        label = f"#{item['seq']} {printable(capture.method, 16)} " + printable(
            capture.path + ("?" + capture.query_string if capture.query_string else ""), 120
        )
        label += f"  [{detected_event(item.get('event'))}]"
        attempt = 0
        while not self.stopping:
            self.idle.clear()
            try:
                try:
                    outgoing = prepare_outgoing(
                        capture,
                        self.options.target,
                        append_path=True,
                        headers=headers,
                        resign=self._resign,
                        now=datetime.now(UTC),
                    )
                except OutgoingError as error:
                    # it can never be sent (a header that is not HTTP, say): say so, move on
                    self._report(item, None, None, done=True, error=f"not sent: {error.message}")
                    self.say(f"{_clock()}  {label}  not sent: {printable(error.message)}")
                    return True
                outcome = send(outgoing, timeout=self.options.timeout)
                self.progress.attempts += 1
                down = outcome.status_code is None or outcome.status_code in TARGET_DOWN_STATUSES
                self._report(item, outgoing, outcome, done=not down, error=outcome.error)
            finally:
                self.idle.set()
            if not down:
                self.progress.delivered += 1
                self.say(f"{_clock()}  {label}  -> {_answer(outcome)}")
                return True
            delay = min(FIRST_DELAY * 2**attempt, TARGET_MAX_DELAY)
            attempt += 1
            self.say(
                f"{_clock()}  {label}  -> target down ({_answer(outcome)}); "
                f"sending it again in {delay:g} s"
            )
            self._pause(delay)
        return False

    # -- the server ---------------------------------------------------------------------------

    def _server_call(
        self, what: str, call: Callable[[], Any], *, when_stopping: bool = False
    ) -> Any:
        """Run ``call`` until it gets an answer, pausing while the server is unreachable or
        busy; None when stopped meanwhile. ``when_stopping`` makes one attempt even after
        `stop` (the report of a delivery that was under way)."""
        attempt = 0
        while when_stopping or not self.stopping:
            try:
                return call()
            except _Transient as problem:
                if self.stopping:
                    self.say(f"{_clock()}  could not {what}: {problem}")
                    return None
                delay = min(FIRST_DELAY * 2**attempt, SERVER_MAX_DELAY)
                attempt += 1
                self.say(f"{_clock()}  could not {what}: {problem}; trying again in {delay:g} s")
                if self._pause(delay):
                    return None
        return None

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call to the bin's API; 2xx and 4xx come back, the rest is `_Transient`."""
        try:
            response = self._server.request(method, self.address.api(path), **kwargs)
        except httpx.HTTPError as error:
            raise _Transient(_describe_transport(error, self.address.server)) from None
        if response.status_code in RETRY_SERVER_STATUSES or response.status_code >= 500:
            raise _Transient(f"the server answered {response.status_code}")
        return response

    def _refused(self, response: httpx.Response) -> RelayFailed:
        """The failure a 4xx answer means."""
        message = _error_message(response)
        where = f"bin {self.address.bin_id} on {self.address.server}"
        if response.status_code == 401:
            return RelayFailed(
                f"{self.address.server} needs its access token: give it with --token ({message})",
                usage=True,
            )
        if response.status_code == 404:
            if self.progress.started:
                return RelayFailed(f"{where} no longer exists (deleted or expired)")
            return RelayFailed(
                f"no {where}, or it is private: give its token with --token", usage=True
            )
        return RelayFailed(f"{where}: the server refused ({response.status_code}: {message})")

    def _open(self, position: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if position is not None:
            body["position"] = position
        elif self.options.from_start:
            body["from"] = "start"
        response = self._request(
            "PUT", f"/listeners/{quote(self.options.name, safe='')}", json=body
        )
        if response.status_code not in (200, 201):
            raise self._refused(response)
        found: dict[str, Any] = response.json()
        found["created"] = response.status_code == 201
        return found

    def _poll(self) -> dict[str, Any]:
        params: list[tuple[str, str | int]] = [
            ("after", self.progress.position),
            ("limit", FEED_LIMIT),
            ("wait", self.options.wait),
            ("listener", self.options.name),
        ]
        params += [("event", event) for event in self.options.events]
        if self.options.path_prefix:
            params.append(("path_prefix", self.options.path_prefix))
        response = self._request("GET", "/feed", params=params)
        if response.status_code != 200:
            raise self._refused(response)
        page: dict[str, Any] = response.json()
        return page

    def _report(
        self,
        item: dict[str, Any],
        outgoing: OutgoingRequest | None,
        outcome: SendOutcome | None,
        *,
        done: bool,
        error: str | None,
    ) -> None:
        """Tell the server what became of one capture, asking again until it is stored (the
        position must be safe before the next capture goes); given up only when stopping."""
        report = {
            "request_id": int(item["id"]),
            "seq": int(item["seq"]),
            "delivered": done,
            "url": (outgoing.url if outgoing else self.options.target)[:REPORT_URL_MAX],
            "method": (outgoing.method if outgoing else str(item["method"]))[:16],
            "request_headers": _bounded_pairs(outgoing.headers if outgoing else []),
            "status_code": outcome.status_code if outcome else None,
            "response_headers": _bounded_pairs(outcome.response_headers if outcome else []),
            "response_body_base64": base64.b64encode(
                outcome.response_body[:REPORT_BODY_MAX] if outcome else b""
            ).decode("ascii"),
            "elapsed_ms": round(outcome.elapsed_ms, 3) if outcome else 0,
            "error": error[:REPORT_ERROR_MAX] if error else None,
        }
        path = f"/listeners/{quote(self.options.name, safe='')}/deliveries"

        def post() -> bool:
            response = self._request("POST", path, json=report)
            if response.status_code == 404 and self.progress.started:
                # the listener was deleted on the server (the bin still answers): make it again
                # at this position, then report
                self._open(position=self.progress.position)
                response = self._request("POST", path, json=report)
            if response.status_code == 200:
                return True
            if response.status_code == 400:
                self.say(f"warning: the server did not keep a report: {_error_message(response)}")
                return True
            raise self._refused(response)

        self._server_call("report a delivery", post, when_stopping=True)

    # -- settings -----------------------------------------------------------------------------

    def _resign_settings(self, signature: dict[str, Any]) -> dict[str, Any] | None:
        """The re-signing settings: the secret given, else the bin's (the server gives it to a
        listener holding the bin's token); the bin's scheme unless one was given."""
        asked = self.options.resign
        if asked is None:
            return None
        scheme = asked.get("scheme") or signature.get("scheme")
        if not scheme:
            raise RelayFailed(
                f"bin {self.address.bin_id} has no signature scheme: give --scheme to re-sign",
                usage=True,
            )
        secret = asked.get("secret") or signature.get("secret")
        if not secret:
            raise RelayFailed(
                "--resign needs the bin's signing secret: give it with --secret (the server "
                "gives it only to a listener holding the bin's token, --token, and only when "
                "the bin has one)",
                usage=True,
            )
        header = signature.get("header") if scheme == signature.get("scheme") else None
        return {"scheme": scheme, "secret": secret, "header": header}

    def _announce(self, listener: dict[str, Any]) -> None:
        name = printable(self.options.name)
        if listener.get("created"):
            start = (
                "from the oldest capture the bin holds"
                if self.options.from_start
                else "with the next capture (--from-start for what the bin already holds)"
            )
        else:
            start = f"resuming after capture #{listener['position']}"
        self.say(
            f"Listening to bin {self.address.bin_id} on {self.address.server} as {name!r}, "
            f"{start}; delivering to {printable(self.options.target)} (Ctrl-C to stop)"
        )
        if not listener.get("created") and self.options.from_start:
            self.say(f"(--from-start applies to a new name; {name!r} resumes where it stopped)")


class _Transient(Exception):
    """The server could not be reached or was busy: ask again later."""


def _bounded_pairs(pairs: Sequence[Sequence[str]]) -> list[list[str]]:
    """Header pairs within what the server keeps of a report."""
    kept: list[list[str]] = []
    size = 0
    for name, value in list(pairs)[:REPORT_HEADERS_MAX]:
        size += len(name) + len(value)
        if size > REPORT_HEADER_CHARS:
            break
        kept.append([str(name), str(value)])
    return kept


def detected_event(event: Any) -> str:
    """The event a capture was detected as, for its line: ``qovery DEPLOYMENT_STARTED``,
    ``appery PROJECT_VERSION_CREATE or APPLICATION_VERSION_CREATE``, ``no event``."""
    if not isinstance(event, dict):
        return "no event"
    provider = printable(str(event.get("provider") or ""), 64)
    candidates = [str(name) for name in event.get("candidates") or [] if name]
    name = event.get("event")
    if name:
        shown = printable(str(name), 128)
    elif candidates:
        shown = " or ".join(printable(name, 128) for name in candidates[:3])
        shown += f" (or {len(candidates) - 3} more)" if len(candidates) > 3 else ""
    else:
        shown = "unknown event" if provider else ""
    return " ".join(part for part in (provider, shown) if part) or "no event"


def _answer(outcome: SendOutcome) -> str:
    """``200 in 12 ms``, or the error in words."""
    if outcome.status_code is None:
        return printable(outcome.error or "no answer")
    text = f"{outcome.status_code} in {outcome.elapsed_ms:.0f} ms"
    return text + (f" ({printable(outcome.error)})" if outcome.error else "")


def _error_message(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    return printable(str(message))


def _describe_transport(error: httpx.HTTPError, server: str) -> str:
    if isinstance(error, httpx.ConnectError):
        return f"{server} cannot be reached ({printable(str(error) or 'connection failed')})"
    if isinstance(error, httpx.TimeoutException):
        return f"{server} did not answer in time"
    return f"{type(error).__name__}: {printable(str(error))}"


def _clock() -> str:
    return time.strftime("%H:%M:%S")
