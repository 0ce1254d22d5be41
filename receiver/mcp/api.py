"""The receiver server as the MCP tools reach it: its JSON API over HTTP (httpx).

Decisions:

- One HTTP client for the process, made at the first call: httpx is not imported before, so
  the server starts without paying for it. Redirects are not followed; a path prefix in the
  server's URL is kept (``https://tools.example.com/receiver``).
- Tokens: a bin's routes go with that bin's token when one is known (given with the call, or
  remembered from ``create_bin`` or an earlier call), else with the team token (``--token``). A
  private bin's own token also passes a team deployment's gate for that bin's routes, so one
  token per call is enough. Other routes (the catalog, validation, creating a bin) carry the team
  token.
- Every failure is a `ReceiverError` whose message says what happened and what to do next;
  `ServerUnavailable` (the server cannot be reached, or answered 429 or 5xx) is the kind a wait
  may try again. Nothing here raises anything else for the network or the server's answers.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import quote

if TYPE_CHECKING:
    import httpx

API_TIMEOUT = 30.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "receiver-mcp"


class ReceiverError(Exception):
    """A call that failed, in words an agent can act on."""


class ServerUnavailable(ReceiverError):
    """The receiver server cannot be reached or is failing: the same call may work later."""


def bin_path(bin_id: str, rest: str = "") -> str:
    """The API path of a bin (``/api/bins/<id>``) or of something below it."""
    return f"/api/bins/{quote(bin_id, safe='')}{rest}"


class ReceiverAPI:
    """Calls to one receiver server; safe to share between the threads tools run on."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server.strip().rstrip("/")
        self.team_token = token or None
        self._transport = transport
        self._client: httpx.Client | None = None
        self._bin_tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- tokens -----------------------------------------------------------------------------

    def remember_token(self, bin_id: str, token: str | None) -> None:
        """Use ``token`` for the bin's routes from now on (a private bin's token)."""
        if token:
            with self._lock:
                self._bin_tokens[bin_id] = token

    def bin_token(self, bin_id: str) -> str | None:
        with self._lock:
            return self._bin_tokens.get(bin_id)

    # -- calls ------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        bin_id: str | None = None,
        token: str | None = None,
        params: Any = None,
        json: Any = None,
        content: bytes | None = None,
        headers: list[tuple[str, str]] | None = None,
        timeout: float = API_TIMEOUT,
    ) -> Any:
        """Call the API and return its JSON answer (None for an empty one).

        ``bin_id`` names the bin the route belongs to: its token is used, and a 404 is
        explained as a missing (or private) bin. A ``token`` given here is remembered for it.

        :raise ServerUnavailable: the server cannot be reached, timed out, or answered 429/5xx.
        :raise ReceiverError: any other answer that is not 2xx.
        """
        import httpx

        if bin_id is not None and token:
            self.remember_token(bin_id, token)
        sent_token = token or (self.bin_token(bin_id) if bin_id else None) or self.team_token
        sent_headers = list(headers or [])
        if sent_token:
            sent_headers.append(("Authorization", f"Bearer {sent_token}"))
        try:
            response = self._http().request(
                method,
                self.server + path,
                params=params,
                json=json,
                content=content,
                headers=sent_headers,
                timeout=httpx.Timeout(timeout, connect=10.0),
            )
        except httpx.TimeoutException:
            raise ServerUnavailable(
                f"the receiver server at {self.server} did not answer within {timeout:g} s"
            ) from None
        except httpx.HTTPError as error:
            raise ServerUnavailable(
                f"the receiver server at {self.server} cannot be reached "
                f"({type(error).__name__}: {error}); is `receiver serve` running there? "
                "(`receiver mcp --server URL` names another one)"
            ) from None
        if not response.is_success:
            raise self._failure(response, bin_id=bin_id, sent_token=sent_token)
        if not response.content:
            return None
        try:
            found = response.json()
        except ValueError:
            found = None
        if not isinstance(found, dict):
            raise ReceiverError(
                f"{self.server} answered {method} {path} with something that is not receiver's "
                f"API ({response.headers.get('content-type') or 'no content type'}): is it a "
                "receiver server? (`receiver mcp --server URL` names one)"
            )
        return found

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                import httpx

                self._client = httpx.Client(
                    headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                    follow_redirects=False,
                    trust_env=False,
                    transport=self._transport,
                )
            return self._client

    def _failure(
        self, response: httpx.Response, *, bin_id: str | None, sent_token: str | None
    ) -> ReceiverError:
        """The error an answer that is not 2xx stands for."""
        status = response.status_code
        code, message = _error_of(response)
        if status in RETRY_STATUSES or status >= 500:
            return ServerUnavailable(
                f"the receiver server at {self.server} answered {status} ({code}): {message}"
            )
        if status == 401:
            if sent_token:
                return ReceiverError(
                    f"the receiver server at {self.server} refused the token "
                    f"({message}): give the bin's token with token=…, or start receiver mcp "
                    "with the deployment's access token (--token or RECEIVER_MCP_TOKEN)"
                )
            return ReceiverError(
                f"the receiver server at {self.server} needs its access token ({message}): "
                "start receiver mcp with --token (or RECEIVER_MCP_TOKEN), or give a private "
                "bin's token with token=…"
            )
        if status == 404 and bin_id is not None and message.startswith("no such bin"):
            why = (
                "the token used is not its token"
                if self.bin_token(bin_id) and sent_token == self.bin_token(bin_id)
                else "no token for it was given (token=…; bins made with create_bin are remembered)"
            )
            return ReceiverError(
                f"no bin {bin_id!r} on {self.server}: it does not exist, has expired, or is "
                f"private and {why}"
            )
        return ReceiverError(f"the receiver server refused ({status} {code}): {message}")


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The code and message of an API error (``{"error": {"code", "message"}}``), or what the
    answer says in their place when it is not the API's shape."""
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase or "error", response.text[:300]
