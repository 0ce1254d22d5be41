"""The outgoing-HTTP engine that replay, forwarding, sending and the relay share.

Pure Python over httpx; no Flask, no database. Two steps, so the caller can show or store what
will be sent before sending it:

- `prepare_outgoing` turns anything `Resendable` (a capture, a recording, a catalog sample) plus
  the person's choices into an `OutgoingRequest`: target URL, method, header pairs, body bytes.
  It raises `OutgoingError` for what cannot be sent (a URL that is not http(s), a bad method or
  header, unusable signing settings).
- `send` sends it once and returns a `SendOutcome`; transport failures (refused, timeout, TLS,
  DNS, a broken answer) are an ``error`` in words, never an exception.

Decisions:

- The captured sub-path and raw query travel together: with ``append_path`` both are appended to
  the target (the query after any query the target already has, joined by ``&``); without it,
  the target URL is used as given, query included, and the captured query is dropped.
- Path and query are sent byte for byte as captured (httpx would re-encode ``"<>{}`` and the
  like, so the request target goes to httpcore as the ``target`` extension). The capture keeps
  raw target bytes as Latin-1 text (as WSGI servers decode them); characters outside printable
  ASCII, which no request line may carry raw, are sent percent-encoded (Latin-1 byte, or UTF-8
  above U+00FF), as is ``#``. The target URL the person typed is normalised by httpx (IDNA host,
  UTF-8 percent-encoding); its fragment is dropped, and credentials in it are refused.
- Header pairs keep their order, case and duplicates. Hop-by-hop headers (Connection,
  Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade and any named in Connection) are
  dropped, as are Host and Content-Length, which are recomputed: Host first, Content-Length
  last (sent when there is a body, for POST, PUT and PATCH, or when the headers declared one).
  Values are Latin-1 bytes when they fit, UTF-8 otherwise; surrounding spaces are trimmed, and
  control characters other than tab are refused, as are names that are not HTTP tokens.
- Re-signing drops every header of the scheme's family and appends fresh ones for the final
  body, URL and ``now``, under the names the capture used (Standard Webhooks' family includes
  Svix's ``svix-*`` names: a capture that came with those gets fresh ``svix-*`` headers, not
  ``webhook-*`` ones beside stale ``svix-*``); a Standard Webhooks replay keeps the captured
  message id (a redelivery of the same message), or gets a new one when there was none.
- httpx adds nothing of its own: no User-Agent, Accept, Accept-Encoding or Connection unless
  the headers carry them. Redirects are not followed; the method is sent in the captured case.
- ``timeout`` is a deadline for the whole exchange. With the client `send` builds itself, every
  DNS lookup, connect, TLS handshake, write and read waits at most for the time left, so a
  target that trickles bytes cannot stretch it. A caller-supplied client gets per-operation
  timeouts and a deadline check between body chunks only.
- The response body is kept raw (Content-Encoding not undone), at most ``max_body`` bytes; the
  read stops once ``max_body + 1`` bytes are in and the connection is then closed.
- In a public deployment (an `OutgoingPolicy` with ``public=True``, from ``RECEIVER_PUBLIC``,
  which the server passes to `send`; commands on a person's own machine send anywhere)
  every connection goes only to public addresses: each address a host name resolves to is
  checked just before it is connected to (so a name that resolves to a private address, or a
  DNS answer that changes between two lookups, cannot reach inside), and an IP literal is
  checked the same way. Loopback, private (RFC 1918, unique-local, shared CGNAT), link-local,
  cloud metadata (169.254.169.254, fd00:ec2::254, 100.100.100.200, 168.63.129.16), multicast,
  unspecified and reserved addresses are refused, also when embedded in IPv6 (IPv4-mapped,
  6to4, NAT64). The refusal is the attempt's ``error``, in words. Redirects are never followed,
  so no later hop escapes the check; the process is configured once, as the app is built.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any
from typing import Protocol
from urllib.parse import urlsplit

import httpcore
import httpx

from receiver.capture.request import MAX_METHOD_LENGTH
from receiver.httpspec import TOKEN
from receiver.httpspec import url_problem
from receiver.signatures import standard
from receiver.signatures.registry import SCHEMES
from receiver.signatures.registry import sign_headers

DEFAULT_MAX_BODY = 64 * 1024
# cloud providers' instance metadata services, refused in a public deployment (most are also
# link-local or private; Alibaba's and Azure's are not)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure's wire server
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class OutgoingPolicy:
    """Where outgoing requests may connect: anywhere (local use), or public addresses only."""

    public: bool = False


# what a person's own commands send with (receiver send, listen, scenario, mcp, the plugin)
ANYWHERE = OutgoingPolicy()


def refused_address(address: str) -> str | None:
    """Why a public deployment must not connect to ``address`` (words), or None when it may."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            reason = refused_address(str(embedded))
            return f"{reason} (inside {ip})" if reason else None
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private or ip in ipaddress.ip_network("100.64.0.0/10"):
        return "a private address"
    if not ip.is_global:
        return "a reserved address"
    return None


HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}
)
RECOMPUTED = frozenset({"host", "content-length"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

# control characters other than tab (RFC 9110 field values exclude them)
_VALUE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_OWS = " \t"


class OutgoingError(Exception):
    """A replay that cannot be prepared; ``code`` is a short identifier, ``message`` words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Resendable(Protocol):
    """What a re-send reads of its source: a capture, a recording or a catalog sample."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def query_string(self) -> str: ...

    @property
    def headers(self) -> Sequence[Sequence[str]]: ...

    @property
    def body(self) -> bytes: ...


@dataclass(frozen=True)
class OutgoingRequest:
    """Exactly what a replay sends: method, absolute URL, header pairs in order, body bytes."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class SendOutcome:
    """What one send gave: the response (possibly partial) and/or a transport error in words."""

    status_code: int | None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""
    truncated: bool = False
    elapsed_ms: float = 0.0
    error: str | None = None


# --- preparing -----------------------------------------------------------------------------------


def prepare_outgoing(
    source: Resendable,
    target_url: str,
    *,
    append_path: bool = True,
    method: str | None = None,
    headers: Sequence[Sequence[str]] | None = None,
    body: bytes | None = None,
    resign: dict[str, Any] | None = None,
    now: datetime,
) -> OutgoingRequest:
    """Build the request that replays ``source`` at ``target_url`` with the person's edits."""
    final_method = source.method if method is None else method
    if not TOKEN.fullmatch(final_method or "") or len(final_method) > MAX_METHOD_LENGTH:
        raise OutgoingError(
            "invalid_method",
            f"method {final_method[:40]!r} is not an HTTP token of at most "
            f"{MAX_METHOD_LENGTH} characters",
        )
    final_body = bytes(source.body if body is None else body)
    url = _final_url(target_url, source, append_path)

    pairs = [(str(n), str(v)) for n, v in (source.headers if headers is None else headers)]
    declared_body = any(n.lower() in ("content-length", "transfer-encoding") for n, _ in pairs)
    kept = _clean_headers(pairs)
    if resign is not None:
        kept = _resign(kept, resign, final_body, url, now)

    out = [("Host", httpx.URL(url).netloc.decode("ascii"))] + kept
    if final_body or declared_body or final_method.upper() in _BODY_METHODS:
        out.append(("Content-Length", str(len(final_body))))
    return OutgoingRequest(method=final_method, url=url, headers=out, body=final_body)


def _final_url(target_url: str, source: Resendable, append_path: bool) -> str:
    """Validate the target and append the captured sub-path and query when asked."""
    text = (target_url or "").strip()
    problem = url_problem(text)
    if problem is not None:
        raise OutgoingError("invalid_url", f"the target URL {problem}")
    parsed = httpx.URL(text)
    base = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}{_raw_path(parsed)}"
    query = parsed.query.decode("ascii")
    if append_path:
        sub = _escape_target(source.path or "/")
        if sub != "/":
            if not sub.startswith("/"):
                sub = "/" + sub
            base = base.removesuffix("/") + sub
        captured_query = _escape_target(source.query_string or "")
        query = "&".join(part for part in (query, captured_query) if part)
    return base + ("?" + query if query else "")


def _raw_path(url: httpx.URL) -> str:
    """Return the (already encoded) path of ``url`` without its query."""
    return url.raw_path.decode("ascii").split("?", 1)[0]


def _escape_target(text: str) -> str:
    """Percent-encode what a request target cannot carry raw; keep everything else as is."""
    out = []
    for char in text:
        code = ord(char)
        if 0x21 <= code <= 0x7E and char != "#":
            out.append(char)
        else:
            raw = bytes([code]) if code <= 0xFF else char.encode("utf-8", "surrogatepass")
            out.append("".join(f"%{byte:02X}" for byte in raw))
    return "".join(out)


def _clean_headers(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop hop-by-hop, Host and Content-Length; trim and validate the rest."""
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
        if token.strip()
    }
    kept = []
    for name, value in pairs:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in RECOMPUTED or lower in named:
            continue
        if lower.startswith("proxy-"):
            continue
        kept.append(_checked_header(name, value))
    return kept


def _checked_header(name: str, value: str) -> tuple[str, str]:
    """Return the pair with its value trimmed, or raise OutgoingError when it cannot be sent."""
    if not TOKEN.fullmatch(name):
        raise OutgoingError(
            "invalid_header", f"header name {name!r} is not an HTTP token; edit the headers"
        )
    value = value.strip(_OWS)
    if _VALUE_CONTROL.search(value):
        raise OutgoingError(
            "invalid_header", f"the value of header {name} holds control characters"
        )
    return name, value


def _resign(
    pairs: list[tuple[str, str]], resign: dict[str, Any], body: bytes, url: str, now: datetime
) -> list[tuple[str, str]]:
    """Replace the scheme's signature headers with fresh ones."""
    scheme = resign.get("scheme")
    secret = resign.get("secret")
    header = resign.get("header") or None
    found = SCHEMES.get(scheme) if isinstance(scheme, str) else None
    if found is None:
        known = ", ".join(SCHEMES)
        raise OutgoingError("invalid_signature", f"unknown signature scheme {scheme!r} ({known})")
    if not secret:
        raise OutgoingError("invalid_signature", "re-signing needs the bin's signing secret")
    family = found.header_names(header)
    msg_id = None
    if found.name == standard.NAME:
        # a redelivery of the same message keeps its id; Svix's names are the same family
        family += standard.SVIX_HEADERS
        msg_id = standard.message_id(pairs)
    stale = {name.lower() for name in family}
    try:
        fresh = sign_headers(
            scheme=found.name,
            secret=secret,
            body=body,
            now=now,
            msg_id=msg_id,
            header=header,
            url=url,
        )
    except ValueError as error:
        raise OutgoingError("invalid_signature", f"cannot re-sign: {error}") from error
    if found.name == standard.NAME:
        fresh = standard.under_names_used(fresh, pairs)
    else:
        spelled = {name.lower(): name for name, _ in pairs}
        fresh = [(spelled.get(name.lower(), name), value) for name, value in fresh]
    kept = [(n, v) for n, v in pairs if n.lower() not in stale]
    return kept + [_checked_header(n, v) for n, v in fresh]


# --- sending -------------------------------------------------------------------------------------


def send(
    outgoing: OutgoingRequest,
    *,
    timeout: float,
    max_body: int = DEFAULT_MAX_BODY,
    client: httpx.Client | None = None,
    policy: OutgoingPolicy = ANYWHERE,
) -> SendOutcome:
    """Send ``outgoing`` once, within ``timeout`` seconds in all, where ``policy`` lets it
    connect; never raises for the network."""
    start = time.monotonic()
    deadline = start + timeout
    try:
        url = httpx.URL(outgoing.url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"{outgoing.url!r} is not an absolute http(s) URL")
    except (httpx.InvalidURL, ValueError) as invalid:
        return SendOutcome(None, error=f"invalid URL: {invalid}")
    try:
        request = _build_request(outgoing, url, timeout)
    except ValueError as unbuildable:
        return SendOutcome(None, error=f"the request could not be built: {unbuildable}")

    own = client is None
    if client is None:
        transport = _DeadlineTransport(deadline, public=policy.public)
        client = httpx.Client(transport=transport, trust_env=False)
    elif policy.public:
        return SendOutcome(None, error="a public deployment sends only through its own transport")
    status: int | None = None
    response_headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []
    size = 0
    phase = "waiting for the response"
    error: str | None = None
    try:
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            status = response.status_code
            response_headers = [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in response.headers.raw
            ]
            phase = "reading the response body"
            for chunk in response.iter_raw():
                chunks.append(chunk)
                size += len(chunk)
                if size > max_body:
                    break
                if time.monotonic() > deadline:
                    error = f"timed out after {_seconds(timeout)} s {phase}"
                    break
        finally:
            response.close()
    except (httpx.TransportError, httpcore.NetworkError, httpcore.TimeoutException, OSError) as exc:
        error = _describe(exc, outgoing.url, timeout, phase)
    finally:
        if own:
            client.close()
    body = b"".join(chunks)
    return SendOutcome(
        status_code=status,
        response_headers=response_headers,
        response_body=body[:max_body],
        truncated=len(body) > max_body,
        elapsed_ms=round((time.monotonic() - start) * 1000, 3),
        error=error,
    )


def _build_request(outgoing: OutgoingRequest, url: httpx.URL, timeout: float) -> httpx.Request:
    """Build the httpx request with the exact request target, header bytes and method."""
    split = urlsplit(outgoing.url)
    target = _escape_target(split.path or "/") + ("?" + _escape_target(split.query))
    headers = [(name.encode("ascii"), _header_bytes(value)) for name, value in outgoing.headers]
    request = httpx.Request(
        outgoing.method,
        url,
        headers=headers,
        content=outgoing.body,
        extensions={
            "timeout": httpx.Timeout(timeout).as_dict(),
            "target": target.removesuffix("?").encode("ascii"),
        },
    )
    # httpx upper-cases the method; send it as given (methods are case-sensitive)
    request.method = outgoing.method
    return request


def _header_bytes(value: str) -> bytes:
    """Return a header value as Latin-1 bytes (how the capture decoded them), else UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _seconds(value: float) -> str:
    """Format seconds as ``2.0`` or ``0.25``."""
    return f"{value:.1f}" if round(value, 1) == value else f"{value:g}"


@dataclass(frozen=True)
class _Failure:
    """What the words for a failed send name: the host, host:port, the timeout, the phase."""

    host: str
    where: str
    seconds: str
    phase: str


def _describe(exc: BaseException, url: str, timeout: float, phase: str) -> str:
    """Say in words what went wrong while sending to ``url``: what the causes say first (a
    refused address, name resolution, TLS), then a timeout, the connection, the protocol."""
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    failure = _Failure(parsed.host, f"{parsed.host}:{port}", _seconds(timeout), phase)
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return (
        next(filter(None, (_lookup_or_tls(item, failure) for item in chain)), None)
        or _timed_out(exc, failure)
        or next(filter(None, (_connection(item, failure) for item in chain)), None)
        or _protocol(exc, chain[-1], failure)
        or f"{type(exc).__name__} while {phase}: {exc}"
    )


def _lookup_or_tls(item: BaseException, failure: _Failure) -> str | None:
    """Words for a refused address, a name that did not resolve, or a failed TLS handshake."""
    if isinstance(item, _RefusedAddress):
        return str(item)
    if isinstance(item, _ResolveTimeout):
        return f"timed out after {failure.seconds} s resolving host {failure.host!r}"
    if isinstance(item, _HandshakeTimeout):
        return f"timed out after {failure.seconds} s in the TLS handshake with {failure.where}"
    if isinstance(item, _ResolveError):
        return f"could not resolve host {failure.host!r} ({item})"
    if isinstance(item, socket.gaierror):
        return f"could not resolve host {failure.host!r} ({item.strerror or item})"
    if isinstance(item, ssl.SSLCertVerificationError):
        detail = item.verify_message or item.reason or str(item)
        return f"TLS handshake failed: certificate verify failed: {detail}"
    if isinstance(item, ssl.SSLError):
        reason = str(item.reason or item)
        if "WRONG_VERSION_NUMBER" in reason:
            reason += " (the target does not speak TLS on that port: try http://)"
        return f"TLS handshake failed: {reason}"
    return None


def _timed_out(exc: BaseException, failure: _Failure) -> str | None:
    if isinstance(exc, (httpx.ConnectTimeout, httpcore.ConnectTimeout)):
        return f"timed out after {failure.seconds} s connecting to {failure.where}"
    if isinstance(exc, (httpx.WriteTimeout, httpcore.WriteTimeout)):
        return f"timed out after {failure.seconds} s sending the request"
    if isinstance(exc, (httpx.TimeoutException, httpcore.TimeoutException, TimeoutError)):
        return f"timed out after {failure.seconds} s {failure.phase}"
    return None


def _connection(item: BaseException, failure: _Failure) -> str | None:
    if isinstance(item, ConnectionRefusedError):
        return f"connection refused by {failure.where}"
    if isinstance(item, ConnectionResetError):
        return f"connection reset by {failure.where} while {failure.phase}"
    if isinstance(item, BrokenPipeError):
        return f"{failure.where} closed the connection while the request was being sent"
    return None


def _protocol(exc: BaseException, root: BaseException, failure: _Failure) -> str | None:
    """Words for a connection that failed otherwise, or an exchange that broke HTTP/1.1."""
    where = failure.where
    if isinstance(exc, (httpx.ConnectError, httpcore.ConnectError)):
        detail = root.strerror if isinstance(root, OSError) and root.strerror else str(root)
        return f"could not connect to {where}: {detail}"
    if isinstance(exc, (httpx.RemoteProtocolError, httpcore.RemoteProtocolError)):
        if "without sending" in str(exc):
            return f"{where} closed the connection without answering"
        return f"the answer from {where} is not valid HTTP/1.1: {exc}"
    if isinstance(exc, (httpx.LocalProtocolError, httpcore.LocalProtocolError)):
        return f"the request could not be sent: {exc}"
    return None


# --- a transport whose every wait ends at the deadline ------------------------------------------


class _ResolveTimeout(httpcore.ConnectTimeout):
    """The host name did not resolve before the deadline."""


class _HandshakeTimeout(httpcore.ConnectTimeout):
    """The TLS handshake did not finish before the deadline."""


class _ResolveError(httpcore.ConnectError):
    """The host name did not resolve (httpcore's pool drops ``__cause__``, so it is a type)."""


class _RefusedAddress(httpcore.ConnectError):
    """Every address of the target is one a public deployment does not connect to."""


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport, over a network backend that clamps every wait to the deadline."""

    def __init__(self, deadline: float, *, public: bool = False) -> None:
        context = _ssl_context()
        super().__init__(verify=context, http1=True, http2=False, trust_env=False, retries=0)
        # HTTPTransport takes no network backend, so its pool is swapped for one that has ours;
        # handle_request reads self._pool. test_trickling_headers_cannot_stretch_the_deadline
        # fails if a future httpx stops doing so.
        self._pool.close()
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            http1=True,
            http2=False,
            retries=0,
            max_keepalive_connections=0,
            network_backend=_DeadlineBackend(deadline, public=public),
        )


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """Return the verifying TLS context, built once (loading the CA bundle takes ~30 ms)."""
    return httpx.create_ssl_context(trust_env=False)


def warm_up() -> None:
    """Build what the first send of a process builds (the TLS context), so that the first send
    of a timed sequence (a scenario) is not late."""
    _ssl_context()


def _remaining(deadline: float, timeout: float | None, exc: type[Exception]) -> float:
    """Return the time an operation may wait, or raise ``exc`` when the deadline has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise exc("the replay deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose reads and writes never wait past the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read, waiting at most until the deadline."""
        wait = _remaining(self._deadline, timeout, httpcore.ReadTimeout)
        return self._inner.read(max_bytes, wait)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write, waiting at most until the deadline."""
        wait = _remaining(self._deadline, timeout, httpcore.WriteTimeout)
        self._inner.write(buffer, wait)

    def close(self) -> None:
        """Close the underlying stream."""
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        """Do the TLS handshake, waiting at most until the deadline."""
        wait = _remaining(self._deadline, timeout, _HandshakeTimeout)
        try:
            tls = self._inner.start_tls(ssl_context, server_hostname, wait)
        except httpcore.ConnectTimeout as error:
            raise _HandshakeTimeout(str(error)) from error
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        """Pass through (httpcore asks for ``ssl_object`` and the like)."""
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend with a bounded DNS lookup and deadline-clamped streams."""

    def __init__(self, deadline: float, *, public: bool = False) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline
        self._public = public

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        """Resolve within the deadline, then connect to each address in turn."""
        addresses = _resolve(host, port, _remaining(self._deadline, timeout, _ResolveTimeout))
        last: Exception | None = None
        if self._public:
            allowed = [address for address in addresses if refused_address(address) is None]
            if not allowed:
                reason = refused_address(addresses[0])
                shown = host if host == addresses[0] else f"{host} ({addresses[0]})"
                raise _RefusedAddress(
                    f"refused to connect to {shown}: {reason}; this receiver is public "
                    "(RECEIVER_PUBLIC=1) and sends only to public addresses"
                )
            addresses = allowed
        for address in addresses:
            wait = _remaining(self._deadline, timeout, httpcore.ConnectTimeout)
            try:
                stream = self._inner.connect_tcp(
                    address, port, wait, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as error:
                last = error
                continue
            return _DeadlineStream(stream, self._deadline)
        assert last is not None
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        """Not used by replays (no ``uds`` is configured)."""
        raise httpcore.ConnectError("unix sockets are not a replay target")

    def sleep(self, seconds: float) -> None:
        """Sleep (httpcore calls this between retries, which are off)."""
        time.sleep(seconds)


def _resolve(host: str, port: int, wait: float) -> list[str]:
    """Return the host's addresses, giving up after ``wait`` seconds (getaddrinfo has no timeout).

    The lookup runs in a daemon thread, so a hung resolver costs a thread until the system's
    own resolver timeout, never the caller's time.
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [host]
    result: list[Any] = []

    def lookup() -> None:
        try:
            result.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as error:
            result.append(error)

    thread = threading.Thread(target=lookup, name=f"replay-resolve-{host}", daemon=True)
    thread.start()
    thread.join(wait)
    if not result:
        raise _ResolveTimeout(f"resolving {host!r} took longer than the time left")
    found = result[0]
    if isinstance(found, OSError):
        detail = found.strerror if found.strerror else str(found)
        raise _ResolveError(detail) from found
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses:
        raise _ResolveError("no address")
    return addresses
