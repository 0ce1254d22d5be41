"""Display-only views of a body: undo Content-Encoding (bounded), then show each kind of body as
what it is: JSON pretty-printed with tokens to colour, URL-encoded and multipart forms as fields
and parts, XML pretty-printed (parsed without a DTD: no entities, nothing fetched), text, or a hex
dump.

Nothing here changes what is stored; the raw bytes stay exactly as received.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from dataclasses import field
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl
from xml.parsers import expat

import brotli

MAX_DECODED = 32 * 1024 * 1024  # a zip bomb stops here
HEX_PREVIEW = 4096
# how much of a body the inspector shows before "show all": rendering is bounded by this, not by
# the body limit
HEAD_BYTES = 256 * 1024
# hex dumps are about five times the bytes they show
HEX_HEAD = 16 * 1024
HEX_ALL = 1024 * 1024
MULTIPART_PARTS_MAX = 100
PART_PREVIEW = 4096
XML_DEPTH_MAX = 256
FORM = "application/x-www-form-urlencoded"


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


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(value: Any, indent: int | None = None) -> str:
    """JSON with non-ASCII kept readable; a lone surrogate (``"\\ud800"`` parses to one) stays
    escaped, since it has no UTF-8 form and a page holding it could not be sent."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def pretty_json(value: Any) -> str:
    """Indented JSON with non-ASCII kept readable."""
    return json_text(value, indent=2)


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

# token classes of coloured JSON (CSS classes in static/css: the CSP forbids inline style)
PUNCTUATION, KEY, STRING, NUMBER, LITERAL = "j-p", "j-key", "j-str", "j-num", "j-lit"


@dataclass(frozen=True)
class JsonLine:
    """One line of pretty JSON: the JSON Pointer of the value it shows, and its tokens as
    ``(css class, text)`` pairs (the class is empty for indentation)."""

    pointer: str
    tokens: tuple[tuple[str, str], ...]

    @property
    def text(self) -> str:
        return "".join(text for _, text in self.tokens)


def _scalar(node: Any) -> tuple[str, str]:
    text = json_text(node)
    if isinstance(node, dict | list):  # empty: {} or []
        return PUNCTUATION, text
    if isinstance(node, str):
        return STRING, text
    if node is None or isinstance(node, bool):
        return LITERAL, text
    return NUMBER, text


def json_lines(value: Any) -> list[JsonLine] | None:
    """Pretty-printed JSON as lines tied to JSON Pointers, each split into tokens to colour.

    The text of the lines is ``pretty_json(value)``. Returns None past ``PRETTY_LINES_MAX``
    lines (the caller shows plain pretty JSON instead).
    """
    lines: list[JsonLine] = []

    def emit(pointer: str, *tokens: tuple[str, str]) -> None:
        if len(lines) > PRETTY_LINES_MAX:
            raise OverflowError
        lines.append(JsonLine(pointer, tuple(token for token in tokens if token[1])))

    def walk(node: Any, pointer: str, indent: str, key: str | None, comma: str) -> None:
        prefix: tuple[tuple[str, str], ...] = ()
        if key is not None:
            prefix = ((KEY, json_text(key)), (PUNCTUATION, ": "))
        if isinstance(node, dict | list) and node:
            opening, closing = ("{", "}") if isinstance(node, dict) else ("[", "]")
            emit(pointer, ("", indent), *prefix, (PUNCTUATION, opening))
            items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            for index, (child_key, child) in enumerate(items):
                escaped = str(child_key).replace("~", "~0").replace("/", "~1")
                last = index == len(items) - 1
                walk(
                    child,
                    f"{pointer}/{escaped}",
                    indent + "  ",
                    str(child_key) if isinstance(node, dict) else None,
                    "" if last else ",",
                )
            emit(pointer, ("", indent), (PUNCTUATION, closing + comma))
        else:
            kind, text = _scalar(node)
            emit(pointer, ("", indent), *prefix, (kind, text), (PUNCTUATION, comma))

    try:
        walk(value, "", "", None, "")
    except (OverflowError, RecursionError):
        return None
    return lines


def parse_json_text(data: bytes) -> tuple[bool, Any]:
    """``(True, value)`` when ``data`` is UTF-8 JSON (a byte order mark is ignored; NaN and
    Infinity are not JSON), else ``(False, None)``."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return False, None
    if not text.strip():
        return False, None

    def refuse(name: str) -> Any:
        raise ValueError(name)

    try:
        return True, json.loads(text, parse_constant=refuse)
    except (ValueError, RecursionError):
        return False, None


# control characters no text carries (tab, line breaks, form feed and escape are allowed): bytes
# that decode as UTF-8 but hold these are binary, shown as hex rather than as invisible marks
_BINARY_CONTROLS = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")


def text_head(data: bytes, complete: bool) -> str | None:
    """``data`` as text when it is UTF-8 without binary control characters; a head cut inside
    a character still counts."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        # only a character that the cut left unfinished counts: bytes that start no character
        # (0xff, a stray continuation byte) are not text, however short the head
        if complete or error.reason != "unexpected end of data" or error.start < len(data) - 3:
            return None
        try:
            text = data[: error.start].decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None if _BINARY_CONTROLS.search(text) else text


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type value, lower case, without its parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _header_param(header: str, value: str, param: str) -> str | None:
    message = Message()
    message[header] = value
    found = message.get_param(param, header=header)
    if isinstance(found, tuple):  # RFC 2231 (charset, language, value)
        found = found[2]
    return str(found) if found is not None else None


@dataclass(frozen=True)
class Part:
    """One part of a multipart body: its headers, field name, file name, and a preview."""

    headers: list[tuple[str, str]]
    name: str | None
    filename: str | None
    content_type: str | None
    size: int
    text: str | None
    hex: str | None
    truncated: bool


def multipart_parts(data: bytes, content_type: str | None) -> list[Part] | None:
    """The parts of a multipart body, in order (at most ``MULTIPART_PARTS_MAX``); None when the
    body does not follow the boundary its Content-Type names."""
    boundary = _header_param("Content-Type", content_type or "", "boundary")
    if not boundary:
        return None
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    if data.startswith(delimiter):
        position = 0
    else:
        position = data.find(b"\n" + delimiter)
        if position < 0:
            return None
        position += 1
    parts: list[Part] = []
    while len(parts) < MULTIPART_PARTS_MAX:
        position += len(delimiter)
        if data[position : position + 2] == b"--":
            return parts
        line_end = data.find(b"\n", position)
        if line_end < 0:
            return parts or None
        start = line_end + 1
        following = data.find(b"\n" + delimiter, start)
        end = len(data) if following < 0 else following
        chunk = data[start:end]
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
        parts.append(_part(chunk))
        if following < 0:
            return parts
        position = following + 1
    return parts


def _part(chunk: bytes) -> Part:
    separator = re.search(rb"\r?\n\r?\n", chunk)
    if chunk.startswith((b"\r\n", b"\n")):
        head, content = b"", chunk[chunk.index(b"\n") + 1 :]
    elif separator is None:
        head, content = chunk, b""
    else:
        head, content = chunk[: separator.start()], chunk[separator.end() :]
    headers = []
    for line in head.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    disposition = next((v for n, v in headers if n.lower() == "content-disposition"), "")
    part_type = next((v for n, v in headers if n.lower() == "content-type"), None)
    preview = content[:PART_PREVIEW]
    text = text_head(preview, complete=len(content) <= PART_PREVIEW)
    return Part(
        headers=headers,
        name=_header_param("Content-Disposition", disposition, "name") if disposition else None,
        filename=_header_param("Content-Disposition", disposition, "filename")
        if disposition
        else None,
        content_type=part_type,
        size=len(content),
        text=text,
        hex=hex_dump(content, 256) if text is None else None,
        truncated=len(content) > PART_PREVIEW,
    )


class XmlError(ValueError):
    """An XML body that is not shown pretty-printed; the message says why."""


@dataclass
class _Element:
    name: str
    attributes: list[str]
    children: list[_Element | _Markup | str] = field(default_factory=list)


@dataclass(frozen=True)
class _Markup:
    """A comment or processing instruction, written as it was."""

    text: str


def pretty_xml(data: bytes) -> str:
    """XML re-indented for reading, parsed with expat and no DTD: a document that declares one
    is refused, so no entity is expanded and nothing is fetched.

    :raise XmlError: not well-formed, declares a DTD, or nests too deeply.
    """
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    parser.ordered_attributes = True
    root = _Element("", [])
    stack = [root]
    prolog: list[str] = []

    def declaration(version: str | None, encoding: str | None, standalone: int) -> None:
        attributes = f' version="{version}"' if version else ""
        attributes += f' encoding="{encoding}"' if encoding else ""
        attributes += {1: ' standalone="yes"', 0: ' standalone="no"'}.get(standalone, "")
        prolog.append(f"<?xml{attributes}?>")

    def refuse_dtd(*_: Any) -> None:
        raise XmlError("the document declares a DTD, which is not expanded for display")

    def start(name: str, attributes: list[str]) -> None:
        if len(stack) > XML_DEPTH_MAX:
            raise XmlError(f"the document nests deeper than {XML_DEPTH_MAX} elements")
        element = _Element(name, attributes)
        stack[-1].children.append(element)
        stack.append(element)

    def end(name: str) -> None:
        stack.pop()

    def characters(text: str) -> None:
        stack[-1].children.append(text)

    def markup(node: str) -> None:
        if len(stack) > 1:
            stack[-1].children.append(_Markup(node))
        else:
            prolog.append(node)

    def comment(text: str) -> None:
        markup(f"<!--{text}-->")

    def instruction(target: str, text: str) -> None:
        markup(f"<?{target} {text}?>" if text else f"<?{target}?>")

    parser.XmlDeclHandler = declaration
    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.CommentHandler = comment
    parser.ProcessingInstructionHandler = instruction
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise XmlError(f"not well-formed XML: {error}") from None
    lines = list(prolog)
    for child in root.children:
        if isinstance(child, _Element):
            _write_element(child, "", lines)
    return "\n".join(lines)


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attribute(text: str) -> str:
    return _escape_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _write_element(element: _Element, indent: str, lines: list[str]) -> None:
    names, values = element.attributes[0::2], element.attributes[1::2]
    attributes = "".join(
        f' {name}="{_escape_attribute(value)}"' for name, value in zip(names, values, strict=True)
    )
    # whitespace between elements is layout, which pretty-printing replaces
    children = [child for child in element.children if not isinstance(child, str) or child.strip()]
    opening = f"<{element.name}{attributes}"
    if not children:
        lines.append(f"{indent}{opening}/>")
    elif len(children) == 1 and isinstance(children[0], str):
        lines.append(f"{indent}{opening}>{_escape_text(children[0])}</{element.name}>")
    else:
        lines.append(f"{indent}{opening}>")
        for child in children:
            if isinstance(child, _Element):
                _write_element(child, indent + "  ", lines)
            elif isinstance(child, _Markup):
                lines.append(f"{indent}  {child.text}")
            else:
                lines.append(f"{indent}  {_escape_text(child.strip())}")
        lines.append(f"{indent}</{element.name}>")


def says_xml(media: str) -> bool:
    """True for XML media types (``application/xml``, ``text/xml``, any ``+xml``)."""
    return media in ("application/xml", "text/xml") or media.endswith("+xml")


@dataclass(frozen=True)
class BodyView:
    """How the inspector shows a body: ``kind`` is one of empty, json, form, multipart, xml,
    text or binary; ``complete`` is False when only the head of the body is shown."""

    kind: str
    complete: bool = True
    text: str | None = None
    json: list[JsonLine] | None = None
    pretty: str | None = None
    fields: list[tuple[str, str]] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    hex: str | None = None
    note: str | None = None


def view_body(data: bytes, content_type: str | None, *, complete: bool = True) -> BodyView:
    """The view of a (decoded) body: what it is, from its media type and its bytes.

    A head (``complete`` False) is shown as text or hex only: a cut JSON or XML document does
    not parse, and a form's last field may be cut.
    """
    if not data:
        return BodyView("empty")
    media = media_type(content_type)
    text = text_head(data, complete)
    hex_bytes = HEX_ALL if complete else HEX_HEAD
    if not complete:
        if text is None:
            return BodyView("binary", False, hex=hex_dump(data, hex_bytes))
        return BodyView("text", False, text=text)
    if media.startswith("multipart/"):
        parts = multipart_parts(data, content_type)
        if parts is not None:
            return BodyView("multipart", text=text, parts=parts)
        note = "the body does not follow the multipart boundary its Content-Type names"
        if text is None:
            return BodyView("binary", hex=hex_dump(data, hex_bytes), note=note)
        return BodyView("text", text=text, note=note)
    if text is None:
        return BodyView("binary", hex=hex_dump(data, hex_bytes))
    is_json, value = parse_json_text(data)
    if is_json:
        lines = json_lines(value)
        return BodyView("json", text=text, json=lines, pretty=None if lines else pretty_json(value))
    if media == FORM:
        return BodyView("form", text=text, fields=parse_qsl(text, keep_blank_values=True))
    if says_xml(media) or text.lstrip().startswith("<?xml"):
        try:
            return BodyView("xml", text=text, pretty=pretty_xml(data))
        except XmlError as error:
            return BodyView("text", text=text, note=str(error))
    return BodyView("text", text=text)
