"""The test-side client of receiver: a real server in this process, bins to point code at, and
helpers that send catalog webhooks (see ``receiver.testing.pytest_plugin`` for the fixtures).

Everything heavy is imported lazily, so merely having the plugin installed costs a test run
nothing until one of its fixtures or helpers is used.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    import httpx
    from flask import Flask
    from werkzeug.datastructures import Headers
    from werkzeug.serving import BaseWSGIServer

    from receiver.catalog.model import Catalog
    from receiver.delivery.http import OutgoingRequest
    from receiver.delivery.recordings import Recording
    from receiver.testing.mocks import MockProvider

__all__ = [
    "Capture",
    "ReceiverApiError",
    "ReceiverServer",
    "SendError",
    "SentResponse",
    "WebhookBin",
    "catalog_events",
    "send_event",
    "send_recording",
    "start_receiver",
]

DEFAULT_TIMEOUT = 10.0
MAX_RESPONSE_BODY = 4 * 1024 * 1024
POLL_INTERVAL = 0.05
CLIENT_BASE = "http://localhost"
_PAGE = 500


# --- sending -------------------------------------------------------------------------------------


class SendError(Exception):
    """A request that could not be delivered (refused, timed out, not HTTP)."""


@dataclass(frozen=True)
class SentResponse:
    """What the target answered, and exactly what was sent (``request``)."""

    status_code: int
    headers: Headers
    body: bytes
    request: OutgoingRequest
    elapsed_ms: float = 0.0
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """True when the status is below 400."""
        return self.status_code < 400

    @property
    def text(self) -> str:
        """The body as text (UTF-8, undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def catalog_events(provider: str, catalog: Catalog | None = None) -> list[str]:
    """The event ids of ``provider`` that have an example payload, in catalog order.

    :raise LookupError: an unknown provider.
    """
    from receiver.catalog.model import load_catalog

    catalog = catalog or load_catalog()
    found = catalog.provider(provider)
    if found is None:
        known = ", ".join(catalog.providers)
        raise LookupError(f"unknown provider {provider!r} (known: {known})")
    return [event.id for event in found.events.values() if event.example is not None]


def send_event(
    provider: str,
    event: str,
    *,
    to: Any,
    path: str | None = None,
    secret: str | None = None,
    scheme: str | None = None,
    header: str | None = None,
    overrides: dict[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    catalog: Catalog | None = None,
) -> SentResponse:
    """Send the catalog example of ``provider``/``event`` to ``to``.

    Sent as the provider would deliver it, signed when a secret is given (``scheme``:
    ``standard``/``standard-webhooks``, ``hmac``/``hmac-sha256``, ``stripe``, ``qovery``,
    ``apitree``; default: the provider's documented scheme, else Standard Webhooks).
    ``overrides`` maps JSON Pointers (``/build/status``) or dotted paths (``build.status``) to new
    values. ``to`` is a URL, a `WebhookBin`, a Flask app, a test client (anything with
    ``open(path, method=..., headers=..., data=...)``, like Flask's and Werkzeug's), or any WSGI
    callable; ``path`` is the path to open on a client (default ``/``) or is appended to a URL.
    Returns a `SentResponse`.

    :raise LookupError: an event that is not in the catalog (or has no example).
    :raise ValueError: an override that cannot be set, or a scheme without a secret.
    :raise receiver.replay.OutgoingError: a URL that cannot be used, or an unusable secret.
    :raise SendError: the request could not be delivered.
    """
    from receiver.catalog.model import load_catalog
    from receiver.delivery.sending import catalog_outgoing
    from receiver.storage.models import utcnow

    catalog = catalog or load_catalog()
    found = catalog.get(provider, event)
    if found is None or found.example is None:
        events = catalog_events(provider, catalog)
        raise LookupError(
            f"no event {event!r} with an example for provider {provider!r} "
            f"(known: {', '.join(events)})"
        )
    target = _Target.of(to, path)
    outgoing = catalog_outgoing(
        catalog,
        found,
        target.url,
        now=utcnow(),
        secret=secret,
        scheme=scheme,
        header=header,
        overrides=overrides,
    )
    return target.deliver(outgoing, timeout, f"{provider} {event}")


def send_recording(
    recording: str | os.PathLike[str] | Recording,
    *,
    to: Any,
    path: str | None = None,
    secret: str | None = None,
    scheme: str | None = None,
    header: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> SentResponse:
    """Re-send a recording (a file path or a loaded `Recording`) to ``to``.

    Method, headers and body go as recorded (hop-by-hop headers, Host and Content-Length are
    recomputed); the recorded sub-path and query are not used: ``to`` and ``path`` say where.

    :raise receiver.recordings.RecordingError: a file that is not a readable recording.
    :raise SendError: the request could not be delivered.
    """
    from receiver.catalog.model import load_catalog
    from receiver.delivery import recordings
    from receiver.delivery.sending import recording_outgoing
    from receiver.storage.models import utcnow

    loaded = recording if isinstance(recording, recordings.Recording) else None
    if loaded is None:
        loaded = recordings.load(recording)  # type: ignore[arg-type]
    target = _Target.of(to, path)
    outgoing = recording_outgoing(
        loaded,
        target.url,
        now=utcnow(),
        catalog=load_catalog(),
        secret=secret,
        scheme=scheme,
        header=header,
    )
    return target.deliver(outgoing, timeout, f"recording {loaded.name!r}")


@dataclass(frozen=True)
class _Target:
    """Where a request goes: a URL over the network, or a path opened on a test client."""

    url: str
    client: Any = None
    path: str = "/"

    @classmethod
    def of(cls, to: Any, path: str | None) -> _Target:
        """Interpret the ``to`` argument of the send helpers."""
        if isinstance(to, WebhookBin):
            to = to.url
        if isinstance(to, str):
            return cls(url=_join(to, path) if path else to)
        if isinstance(to, os.PathLike):
            raise TypeError("to= is a URL, a WebhookBin, a Flask app or a test client, not a path")
        client = None
        if hasattr(to, "open"):
            client = to
        elif hasattr(to, "test_client"):
            client = to.test_client()
        elif callable(to):
            from werkzeug.test import Client

            client = Client(to)
        if client is None:
            raise TypeError(
                f"to= is a URL, a WebhookBin, a Flask app, a test client or a WSGI app, "
                f"not {type(to).__name__}"
            )
        where = path or "/"
        if not where.startswith("/"):
            where = "/" + where
        return cls(url=CLIENT_BASE + where, client=client, path=where)

    def deliver(self, outgoing: OutgoingRequest, timeout: float, label: str) -> SentResponse:
        """Send ``outgoing`` and adapt the answer."""
        from werkzeug.datastructures import Headers

        if self.client is None:
            from receiver.delivery.http import send

            outcome = send(outgoing, timeout=timeout, max_body=MAX_RESPONSE_BODY)
            if outcome.error is not None or outcome.status_code is None:
                raise SendError(f"could not send {label} to {outgoing.url}: {outcome.error}")
            return SentResponse(
                status_code=outcome.status_code,
                headers=Headers(outcome.response_headers),
                body=outcome.response_body,
                request=outgoing,
                elapsed_ms=outcome.elapsed_ms,
                truncated=outcome.truncated,
            )
        headers = [
            (n, v) for n, v in outgoing.headers if n.lower() not in ("host", "content-length")
        ]
        started = time.perf_counter()
        response = self.client.open(
            self.path, method=outgoing.method, headers=headers, data=outgoing.body
        )
        elapsed = (time.perf_counter() - started) * 1000
        try:
            body = _response_body(response)
        finally:
            close = getattr(response, "close", None)
            if callable(close):
                close()
        return SentResponse(
            status_code=int(response.status_code),
            headers=Headers(list(_response_headers(response))),
            body=body,
            request=outgoing,
            elapsed_ms=elapsed,
        )


def _join(url: str, path: str) -> str:
    """Append ``path`` to ``url`` with exactly one slash between."""
    return url.rstrip("/") + "/" + path.lstrip("/")


def _response_body(response: Any) -> bytes:
    """The body of a test client's response (Werkzeug's ``get_data``, or ``data``/``content``)."""
    if hasattr(response, "get_data"):
        return bytes(response.get_data())
    for name in ("data", "content"):
        value = getattr(response, name, None)
        if isinstance(value, bytes | bytearray):
            return bytes(value)
    return b""


def _response_headers(response: Any) -> list[tuple[str, str]]:
    """The header pairs of a test client's response."""
    headers = getattr(response, "headers", None) or []
    items = headers.items() if hasattr(headers, "items") else headers
    return [(str(name), str(value)) for name, value in items]


# --- the server ----------------------------------------------------------------------------------


class ReceiverApiError(RuntimeError):
    """The receiver's API refused a call the plugin made; carries the status and the error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"receiver API answered {status}: {message}")
        self.status = status
        self.message = message


def decoded_answer(response: httpx.Response) -> Any:
    """The decoded JSON of a receiver answer (None for 204 or no body).

    :raise ReceiverApiError: any answer of 400 or more, with its message (receiver's error
        object, or a simulated provider's own, such as ApiTree's ``{code, message}``).
    """
    if response.status_code >= 400:
        try:
            found = response.json()
            message = found["error"]["message"] if "error" in found else found["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:500]
        raise ReceiverApiError(response.status_code, str(message))
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


class ReceiverServer:
    """A receiver running in this process: ``url`` is its base, ``app`` the Flask app."""

    def __init__(self, app: Flask, server: BaseWSGIServer, thread: threading.Thread) -> None:
        import httpx

        self.app = app
        self.url = f"http://127.0.0.1:{server.server_port}"
        self._server = server
        self._thread = thread
        # the environment's proxies must not catch loopback calls
        self._http = httpx.Client(base_url=self.url, timeout=30.0, trust_env=False)

    def api(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> Any:
        """Call the JSON API (``path`` below ``/api``); returns the decoded JSON (None for 204).

        :raise ReceiverApiError: any answer of 400 or more.
        """
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self._http.request(
            method, "/api" + path, json=json_body, params=params, headers=headers
        )
        return decoded_answer(response)

    def create_bin(self, **fields: Any) -> WebhookBin:
        """Create a bin (``id``, ``label``, ``private``, ``provider``, ``event``)."""
        shape = self.api("POST", "/bins", json_body=fields)
        return WebhookBin(self, shape, token=shape.get("token"))

    def put_schema(
        self,
        provider: str,
        event: str,
        schema: dict[str, Any],
        *,
        example: Any = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Add (or replace) a user schema, so your own events are detected and validated.

        It stays for the rest of the session: the catalog is shared by every bin.
        """
        document: dict[str, Any] = {"schema": schema}
        if example is not None:
            document["example"] = example
        if description is not None:
            document["description"] = description
        return self.api("PUT", f"/catalog/{provider}/{event}", json_body=document)

    def mock(self, provider: str, **request: Any) -> MockProvider:
        """A simulated provider's API (``akinon``, ``apitree``, ``qovery``) for a tenant of its
        own: ``request`` names it (``organization``, or ``user`` and ``scopes``), or a new one
        is made."""
        from receiver.testing.mocks import MockProvider

        return MockProvider.issue(self._http, self.url, provider, **request)

    def catalog(self) -> Catalog:
        """The server's catalog: the shipped one with the schemas added by `put_schema`."""
        from receiver.web.state import current_catalog

        with self.app.app_context():
            return current_catalog()

    def close(self) -> None:
        """Stop serving, then stop the app's threads and close its connections."""
        self._http.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        from receiver.web.serving import close_app

        close_app(self.app)


def start_receiver(directory: str | os.PathLike[str]) -> ReceiverServer:
    """Start a receiver whose SQLite database lives in ``directory``; `ReceiverServer.close` it."""
    from werkzeug.serving import make_server

    from receiver import create_app
    from receiver.storage.migrate import prepare_database
    from receiver.web.serving import RawHeaderRequestHandler
    from receiver.web.serving import close_app

    class QuietHandler(RawHeaderRequestHandler):
        """Keeps the access log (one line per request) out of the test output; errors stay."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            """Log nothing for a request that was answered."""

    database = Path(directory) / "receiver.db"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "RECEIVER_AUTO_MIGRATE": True,
            "RECEIVER_FORWARD_WORKER": False,
        }
    )
    try:
        prepare_database(app)
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    except BaseException:
        close_app(app)
        raise
    # the ingest URLs the API shows are built from this, whatever the environment says
    app.config["RECEIVER_PUBLIC_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="receiver-server"
    )
    thread.daemon = True
    thread.start()
    return ReceiverServer(app, server, thread)


# --- bins and what they captured -----------------------------------------------------------------


class Capture(dict[str, Any]):
    """One captured request: the API's JSON object (``capture["headers"]``, …) plus helpers."""

    @property
    def body(self) -> bytes:
        """The exact bytes received (only on requests fetched with their body)."""
        encoded = self.get("body_base64")
        if encoded is None:
            raise KeyError("this request was listed without its body; use WebhookBin.requests()")
        return base64.b64decode(encoded)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of a header, matched case-insensitively."""
        wanted = name.lower()
        for key, value in self.get("headers", []):
            if key.lower() == wanted:
                return value
        return default

    def describe(self) -> str:
        """One line: the capture's number in its bin (as the inspector and ``receiver listen``
        show it), method, path, event and verdict."""
        event = self.get("event") or {}
        known = " ".join(x for x in (event.get("provider"), event.get("event")) if x)
        candidates = event.get("candidates") or []
        if not event.get("event") and candidates:
            known = f"{known} (one of {', '.join(candidates)})".strip()
        status = (self.get("validation") or {}).get("status")
        where = f"{self.get('method')} {self.get('path')}"
        return f"{self.label()} ({where}{', ' + known if known else ''}): {status}"

    def label(self) -> str:
        """``capture #3``: the capture's number in its bin."""
        return f"capture #{self.get('seq')}"


_STATUS_HINTS = {
    "unknown_event": "no catalog event matches it (configure(provider=..., event=...) to say "
    "which event is expected)",
    "not_json": "the body is not JSON",
    "no_body": "it has no body",
}


class WebhookBin:
    """A bin on the test's receiver: point the system under test at ``url``."""

    def __init__(
        self, server: ReceiverServer, shape: dict[str, Any], token: str | None = None
    ) -> None:
        self.server = server
        self.id: str = shape["id"]
        self.url: str = shape["ingest_url"]
        self.inspect_url: str = shape["inspect_url"]
        self.token = token
        self._signature: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<WebhookBin {self.id} {self.url}>"

    def _api(self, method: str, path: str = "", **kwargs: Any) -> Any:
        return self.server.api(method, f"/bins/{self.id}{path}", token=self.token, **kwargs)

    def info(self) -> dict[str, Any]:
        """The bin as the API shows it (settings, request count, …)."""
        return self._api("GET")

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings (``PATCH``): ``provider``, ``event``, ``strict_validation``,
        ``response={status, headers, body, delay_ms}``, ``signature={scheme, secret, header}``,
        ``forward_url``, ``label``. Returns the bin.
        """
        shape = self._api("PATCH", json_body=settings)
        if "signature" in settings:
            self._signature = dict(settings["signature"] or {})
        return shape

    def summaries(self) -> list[Capture]:
        """Every captured request without its body, oldest first (one API call per 500)."""
        found: list[dict[str, Any]] = []
        before = None
        while True:
            params: dict[str, Any] = {"limit": _PAGE}
            if before is not None:
                params["before"] = before
            page = self._api("GET", "/requests", params=params)
            found.extend(page["requests"])
            before = page.get("next")
            if not before:
                break
        return [Capture(item) for item in reversed(found)]

    def request(self, request_id: int) -> Capture:
        """One captured request with its body."""
        return Capture(self._api("GET", f"/requests/{request_id}"))

    def requests(self) -> list[Capture]:
        """Every captured request with its body, oldest first."""
        return [self.request(item["id"]) for item in self.summaries()]

    def wait_for(
        self, count: int = 1, event: str | None = None, timeout: float = 5.0
    ) -> list[Capture]:
        """Wait until at least ``count`` requests (of ``event``, when given) have arrived.

        ``event`` matches the detected event id, any of its candidates, or ``provider/event``.
        Returns every matching request, with bodies, oldest first.

        :raise AssertionError: too few arrived in ``timeout`` seconds; says what did arrive.
        """
        __tracebackhide__ = True
        deadline = time.monotonic() + timeout
        while True:
            arrived = self.summaries()
            matching = [item for item in arrived if _matches(item, event)]
            if len(matching) >= count:
                return [self.request(item["id"]) for item in matching]
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_INTERVAL)
        wanted = f"{count} request{'' if count == 1 else 's'}"
        if event is not None:
            wanted += f" of event {event!r}"
        lines = [
            f"expected {wanted} in bin {self.id} within {timeout:g} s; "
            f"{len(matching)} matching, {len(arrived)} in all"
            + (":" if arrived else " (nothing arrived)")
        ]
        lines += [f"  {item.describe()}" for item in arrived[-20:]]
        raise AssertionError("\n".join(lines))

    def assert_all_valid(self, *, allow_empty: bool = False) -> list[Capture]:
        """Assert that every captured request matched its event's schema.

        :raise AssertionError: listing each request that is not ``valid``, with every error's
            JSON path, message and rule; also when nothing arrived, unless ``allow_empty``.
        """
        __tracebackhide__ = True
        arrived = self.summaries()
        if not arrived and not allow_empty:
            raise AssertionError(f"no request arrived in bin {self.id}, so none was valid")
        bad = [item for item in arrived if (item.get("validation") or {}).get("status") != "valid"]
        if not bad:
            return arrived
        lines = [f"{len(bad)} of {len(arrived)} requests in bin {self.id} are not valid:"]
        for item in bad:
            validation = item.get("validation") or {}
            hint = _STATUS_HINTS.get(validation.get("status", ""))
            lines.append(f"  {item.describe()}" + (f": {hint}" if hint else ""))
            for error in validation.get("errors") or []:
                path = error.get("path") or "/"
                lines.append(f"    {path}: {error.get('message')} [{error.get('keyword')}]")
        raise AssertionError("\n".join(lines))

    def assert_all_verified(self, *, allow_empty: bool = False) -> list[Capture]:
        """Assert that every captured request's signature verified with the bin's settings.

        :raise AssertionError: listing each request whose signature did not verify, and why.
        """
        __tracebackhide__ = True
        arrived = self.summaries()
        if not arrived and not allow_empty:
            raise AssertionError(f"no request arrived in bin {self.id}, so none was verified")
        bad = [
            item for item in arrived if (item.get("signature") or {}).get("status") != "verified"
        ]
        if not bad:
            return arrived
        lines = [f"{len(bad)} of {len(arrived)} requests in bin {self.id} are not verified:"]
        for item in bad:
            signature = item.get("signature") or {}
            lines.append(
                f"  {item.label()} ({item.get('method')} {item.get('path')}): "
                f"{signature.get('status')} ({signature.get('scheme')}): {signature.get('reason')}"
            )
        raise AssertionError("\n".join(lines))

    def send_event(self, provider: str, event: str, **options: Any) -> SentResponse:
        """Deliver a catalog example into this bin over HTTP, as the provider would.

        Takes the options of `send_event` (``overrides``, ``path``, ``secret``, …); without a
        ``secret``, it signs with the signature settings given to `configure`. The server's
        catalog is used, so schemas added with `ReceiverServer.put_schema` can be sent too.
        """
        if options.get("secret") is None and self._signature.get("secret"):
            options["secret"] = self._signature["secret"]
            options.setdefault("scheme", self._signature.get("scheme"))
            options.setdefault("header", self._signature.get("header"))
        options.setdefault("catalog", self.server.catalog())
        return send_event(provider, event, to=self.url, **options)

    def save_recording(
        self, request: int | dict[str, Any], path: str | os.PathLike[str], name: str | None = None
    ) -> Path:
        """Save a captured request as a recording file (for `send_recording`, ``receiver send``)."""
        request_id = request if isinstance(request, int) else request["id"]
        target = Path(path)
        params = {"name": name or target.stem}
        document = self._api("GET", f"/requests/{request_id}/recording", params=params)
        target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        return target

    def clear(self) -> None:
        """Delete every captured request."""
        self._api("DELETE", "/requests")

    def delete(self) -> None:
        """Delete the bin."""
        self._api("DELETE")


def _matches(item: dict[str, Any], event: str | None) -> bool:
    """True when ``event`` is None or names the request's event or one of its candidates."""
    if event is None:
        return True
    found = item.get("event") or {}
    names = {found.get("event"), *(found.get("candidates") or [])}
    if found.get("provider"):
        names |= {f"{found['provider']}/{name}" for name in list(names) if name}
    return event in names
