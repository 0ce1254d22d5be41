"""Display-only views of a body: undo Content-Encoding (bounded), pretty JSON, text or hex.

Nothing here changes what is stored; the raw bytes stay exactly as received.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

import brotli

MAX_DECODED = 32 * 1024 * 1024  # a zip bomb stops here
HEX_PREVIEW = 4096


@dataclass(frozen=True)
class DecodedBody:
    """The body as it should be read: ``data`` after undoing ``encodings``; ``error`` in words."""

    data: bytes
    encodings: tuple[str, ...]
    error: str | None = None
    truncated: bool = False


def _inflate(data: bytes, wbits: int, limit: int) -> tuple[bytes, bool]:
    """Inflate zlib, raw deflate or gzip (every member, as RFC 1952 allows), at most ``limit``.

    :raise zlib.error: corrupt data, or a stream that stops before its end marker.
    """
    out = bytearray()
    remaining = data
    while True:
        decompressor = zlib.decompressobj(wbits)
        out += decompressor.decompress(remaining, limit + 1 - len(out))
        if len(out) > limit:
            return bytes(out[:limit]), True
        if not decompressor.eof:
            raise zlib.error("the stream ends before its end marker (truncated body?)")
        remaining = decompressor.unused_data
        # another gzip member may follow; padding of zero bytes after the last one is ignored
        if wbits & 16 == 0 or not remaining.strip(b"\x00"):
            return bytes(out), False


def _brotli(data: bytes, limit: int) -> tuple[bytes, bool]:
    """Decompress brotli, never holding more than ``limit`` + 1 bytes of output.

    :raise brotli.error: corrupt data, or a stream that stops before its end.
    """
    decompressor = brotli.Decompressor()
    out = bytearray(decompressor.process(data, output_buffer_limit=limit + 1))
    while len(out) <= limit and not decompressor.can_accept_more_data():
        out += decompressor.process(b"", output_buffer_limit=limit + 1 - len(out))
    if len(out) > limit:
        return bytes(out[:limit]), True
    if not decompressor.is_finished():
        raise brotli.error("the stream ends before its end marker (truncated body?)")
    return bytes(out), False


def decode_body(body: bytes, content_encoding: str | None, limit: int = MAX_DECODED) -> DecodedBody:
    """Undo gzip, deflate and br in the order they were applied; never raises."""
    if not content_encoding or not body:
        return DecodedBody(body, ())
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    data = body
    applied: list[str] = []
    for coding in reversed(codings):
        try:
            if coding in ("gzip", "x-gzip"):
                data, truncated = _inflate(data, 16 + zlib.MAX_WBITS, limit)
            elif coding == "deflate":
                try:
                    data, truncated = _inflate(data, zlib.MAX_WBITS, limit)
                except zlib.error:  # raw deflate, as some senders send it
                    data, truncated = _inflate(data, -zlib.MAX_WBITS, limit)
            elif coding == "br":
                data, truncated = _brotli(data, limit)
            elif coding == "identity":
                continue
            else:
                return DecodedBody(body, (), f"unsupported content-encoding {coding!r}")
        except (zlib.error, brotli.error) as error:
            return DecodedBody(body, (), f"could not undo {coding}: {error}")
        applied.append(coding)
        if truncated:
            return DecodedBody(data, tuple(applied), f"decoded body exceeds {limit} bytes", True)
    return DecodedBody(data, tuple(applied))


def as_text(data: bytes) -> str | None:
    """The body as text when it is valid UTF-8, else None."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def pretty_json(value: Any) -> str:
    """Indented JSON with non-ASCII kept readable."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def hex_dump(data: bytes, limit: int = HEX_PREVIEW) -> str:
    """A classic 16-bytes-per-line hex dump of the first ``limit`` bytes."""
    lines = []
    for offset in range(0, min(len(data), limit), 16):
        chunk = data[offset : offset + 16]
        hex_part = " ".join(f"{byte:02x}" for byte in chunk)
        text_part = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hex_part:<47}  {text_part}")
    if len(data) > limit:
        lines.append(f"… {len(data) - limit} more bytes")
    return "\n".join(lines)


PRETTY_LINES_MAX = 20_000


def pretty_json_lines(value: Any) -> list[tuple[str, str]] | None:
    """Pretty-printed JSON as ``(json_pointer, line)`` pairs, so lines can be tied to paths.

    Returns None past ``PRETTY_LINES_MAX`` lines (the caller shows plain pretty JSON instead).
    """
    lines: list[tuple[str, str]] = []

    def emit(pointer: str, text: str) -> None:
        if len(lines) > PRETTY_LINES_MAX:
            raise OverflowError
        lines.append((pointer, text))

    def walk(node: Any, pointer: str, indent: str, prefix: str, suffix: str) -> None:
        if isinstance(node, dict) and node:
            emit(pointer, f"{indent}{prefix}{{")
            items = list(node.items())
            for index, (key, child) in enumerate(items):
                escaped = str(key).replace("~", "~0").replace("/", "~1")
                key_text = json.dumps(str(key), ensure_ascii=False) + ": "
                comma = "," if index < len(items) - 1 else ""
                walk(child, f"{pointer}/{escaped}", indent + "  ", key_text, comma)
            emit(pointer, f"{indent}}}{suffix}")
        elif isinstance(node, list) and node:
            emit(pointer, f"{indent}{prefix}[")
            for index, child in enumerate(node):
                comma = "," if index < len(node) - 1 else ""
                walk(child, f"{pointer}/{index}", indent + "  ", "", comma)
            emit(pointer, f"{indent}]{suffix}")
        else:
            emit(pointer, f"{indent}{prefix}{json.dumps(node, ensure_ascii=False)}{suffix}")

    try:
        walk(value, "", "", "", "")
    except (OverflowError, RecursionError):
        return None
    return lines
