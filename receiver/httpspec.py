"""HTTP's own grammar and names, checked by several concepts (RFC 9110), and the one rule for
a URL that a request can be sent to."""

from __future__ import annotations

import ipaddress
import re

# a token: what a method or a header name may be
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# the methods the inspector offers as filters and replay choices (any token is captured)
COMMON_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PORT_RANGE = (1, 65535)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# a host name as resolvers take it: labels of letters, digits, '-' and '_' (container names)
_HOST_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?")
_DOTTED_NUMBERS = re.compile(r"[0-9.]+")
_AUTHORITY_END = re.compile(r"[/?#]")


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the target of a request, as words that follow its name ("is not
    an http:// or https:// URL"); None when it can.

    A target is an absolute http:// or https:// URL (any case) without credentials or control
    characters, whose host is a name, an IPv4 address or an IPv6 address in brackets, and whose
    port, when given, is from 1 to 65535; and httpx, which sends it, must parse it. The API
    document's ``HttpUrl`` pattern describes the same URLs (in printable ASCII only).
    """
    if not url:
        return "is empty"
    if _CONTROL.search(url):
        return "contains control characters"
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() not in ("http", "https"):
        return "is not an http:// or https:// URL"
    authority = _AUTHORITY_END.split(rest, maxsplit=1)[0]
    if "@" in authority:
        return "carries credentials: send them in an Authorization header instead"
    if authority.startswith("["):
        host, _, after = authority[1:].partition("]")
        problem = _ipv6_problem(authority, host, after)
        port = after[1:] if after else None
    else:
        host, colon, port_text = authority.rpartition(":")
        if not colon:
            host, port_text = authority, ""
        problem = _host_problem(host)
        port = port_text if colon else None
    problem = problem or _port_problem(port)
    return problem or _unparsed(url)


def _ipv6_problem(authority: str, host: str, after: str) -> str | None:
    if "]" not in authority:
        return "has no ] to close its IPv6 host"
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return f"has a host that is not an IPv6 address: [{host[:60]}]"
    if after and not after.startswith(":"):
        return "has text after its IPv6 host"
    return None


def _host_problem(host: str) -> str | None:
    if not host:
        return "has no host"
    if "[" in host or "]" in host:
        return "has a [ or ] outside an IPv6 host"
    if not host.isascii():
        return None  # an internationalised name: httpx checks its IDNA form
    if not _HOST_NAME.fullmatch(host):
        return f"has a host that is not a name or an IP address: {host[:60]}"
    if _DOTTED_NUMBERS.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"has a host that is not an IPv4 address: {host[:60]}"
    return None


def _port_problem(port: str | None) -> str | None:
    if port is None:
        return None
    low, high = PORT_RANGE
    if not (port.isascii() and port.isdigit()) or not low <= int(port) <= high:
        return f"has a port that is not a number from {low} to {high}: {port[:20]!r}"
    return None


def _unparsed(url: str) -> str | None:
    """httpx's refusal of a URL, in words (an IDNA name it cannot encode, and the like)."""
    import httpx  # only here: the many commands that never send need not import it

    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as error:
        return f"is not a valid URL: {error}"
    return None
