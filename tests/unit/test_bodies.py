"""Display-only body views: bounded decoding of gzip/deflate/br, text or hex, pretty JSON."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import brotli
import pytest

from receiver.capture.bodies import DecodedBody
from receiver.capture.bodies import as_text
from receiver.capture.bodies import decode_body
from receiver.capture.bodies import hex_dump
from receiver.capture.bodies import pretty_json
from receiver.capture.bodies import text_head

PAYLOAD = (
    b'{"event": "release.released", "data": {"name": "v1.2.3", "notes": "' + b"x" * 500 + b'"}}'
)
MIB = 1024 * 1024


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODERS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
}


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_each_encoding_is_undone(coding):
    decoded = decode_body(ENCODERS[coding](PAYLOAD), coding)
    assert decoded == DecodedBody(PAYLOAD, (coding,))


def test_raw_deflate_without_zlib_header_is_undone():
    decoded = decode_body(raw_deflate(PAYLOAD), "deflate")
    assert decoded.data == PAYLOAD
    assert decoded.error is None


@pytest.mark.parametrize("header", ["GZIP", " gzip ", "gzip,", "identity, gzip"])
def test_encoding_names_are_read_loosely(header):
    decoded = decode_body(gzip.compress(PAYLOAD), header)
    assert decoded.data == PAYLOAD and decoded.error is None


def test_stacked_encodings_are_undone_last_applied_first():
    # Content-Encoding: deflate, br -> deflate was applied first, br last
    body = brotli.compress(zlib.compress(PAYLOAD))
    decoded = decode_body(body, "deflate, br")
    assert decoded.data == PAYLOAD
    assert decoded.encodings == ("br", "deflate")
    assert decoded.error is None


def test_three_stacked_encodings():
    body = gzip.compress(brotli.compress(raw_deflate(PAYLOAD)))
    assert decode_body(body, "deflate, br, gzip").data == PAYLOAD


@pytest.mark.parametrize("header", [None, "", "identity"])
def test_no_encoding_leaves_the_body_alone(header):
    decoded = decode_body(PAYLOAD, header)
    assert decoded.data == PAYLOAD
    assert decoded.error is None and not decoded.truncated


def test_empty_body_is_not_decoded():
    assert decode_body(b"", "gzip") == DecodedBody(b"", ())


def test_unknown_encoding_keeps_the_raw_body_and_says_why():
    decoded = decode_body(PAYLOAD, "compress")
    assert decoded.data == PAYLOAD
    assert decoded.encodings == ()
    assert "compress" in decoded.error


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", b"this is not gzip at all"),
        ("gzip", b"\x1f\x8b\x08\x00garbage after a gzip magic"),
        ("deflate", b"\xff\xfe not deflate either"),
        ("br", b"\xff\xff\xff\xff not brotli"),
    ],
)
def test_corrupt_data_is_an_error_in_words_not_an_exception(coding, body):
    decoded = decode_body(body, coding)
    assert decoded.data == body
    assert isinstance(decoded.error, str) and coding in decoded.error


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_a_truncated_stream_is_reported(coding):
    """A body cut short (a sender that died mid-upload) decodes partly and says so."""
    whole = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress}[coding](
        bytes(range(256)) * 64
    )
    decoded = decode_body(whole[: len(whole) // 2], coding)
    assert decoded.error is not None, "a truncated stream was shown as if complete"


def test_concatenated_gzip_members_are_all_decoded():
    """RFC 1952 allows several members in one body; gzip.decompress reads them all."""
    body = gzip.compress(b"first ") + gzip.compress(b"second")
    assert gzip.decompress(body) == b"first second"
    assert decode_body(body, "gzip").data == b"first second"


def test_gzip_bomb_stops_at_the_limit():
    bomb = gzip.compress(bytes(50 * MIB), compresslevel=9)
    assert len(bomb) < 100 * 1024
    decoded = decode_body(bomb, "gzip")
    assert decoded.truncated is True
    assert len(decoded.data) <= 32 * MIB
    assert "exceeds" in decoded.error


def test_gzip_bomb_stops_at_a_given_limit():
    decoded = decode_body(gzip.compress(bytes(4 * MIB)), "gzip", limit=MIB)
    assert decoded.truncated and len(decoded.data) == MIB
    assert str(MIB) in decoded.error


def test_a_body_just_at_the_limit_is_not_truncated():
    decoded = decode_body(gzip.compress(bytes(MIB)), "gzip", limit=MIB)
    assert decoded.data == bytes(MIB)
    assert not decoded.truncated and decoded.error is None


def test_stacked_bomb_stops_at_the_limit():
    inner = gzip.compress(bytes(8 * MIB))
    decoded = decode_body(gzip.compress(inner), "gzip, gzip", limit=MIB)
    assert decoded.truncated and len(decoded.data) <= MIB


def test_brotli_bomb_stops_at_the_limit():
    bomb = brotli.compress(bytes(8 * MIB), quality=5)
    decoded = decode_body(bomb, "br", limit=MIB)
    assert decoded.truncated is True
    assert len(decoded.data) <= MIB
    assert "exceeds" in decoded.error


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", lambda data: gzip.compress(data, compresslevel=9)),
        ("br", lambda data: brotli.compress(data, quality=5)),
    ],
)
def test_a_bomb_never_holds_much_more_than_the_limit_in_memory(coding, compress):
    """A few hundred bytes of brotli can expand to gigabytes: decoding must stop while it
    decompresses, not slice the output after it has all been produced."""
    bomb = compress(bytes(24 * MIB))
    tracemalloc.start()
    try:
        decoded = decode_body(bomb, coding, limit=MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decoded.truncated
    assert peak < 8 * MIB, f"{coding}: peak {peak / MIB:.0f} MiB for a 1 MiB limit"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"plain", "plain"),
        ("café ✓".encode(), "café ✓"),
        (b"", ""),
        (b"caf\xe9", None),
        (b"\xff\xfe", None),
    ],
)
def test_as_text_is_none_unless_utf8(data, expected):
    assert as_text(data) == expected


def test_pretty_json_indents_and_keeps_non_ascii():
    assert pretty_json({"a": ["é", 1]}) == '{\n  "a": [\n    "é",\n    1\n  ]\n}'


def test_hex_dump_format():
    data = b"Hello, world!\x00\x01\xff" + b"ABC"
    assert hex_dump(data) == (
        "00000000  48 65 6c 6c 6f 2c 20 77 6f 72 6c 64 21 00 01 ff  Hello, world!...\n"
        "00000010  41 42 43                                         ABC"
    )


def test_hex_dump_stops_at_its_limit_and_says_how_much_is_left():
    dump = hex_dump(bytes(100), limit=32)
    lines = dump.splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("00000010  00 00")
    assert lines[2] == "… 68 more bytes"


def test_hex_dump_of_nothing_is_empty():
    assert hex_dump(b"") == ""


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"plain", "plain"),
        ("abé".encode()[:3], "ab"),  # a character cut at the end of the head
        ("€".encode()[:2], ""),
        (b"\xff\xfe", None),  # bytes that start no character, however short the head
        (b"ab\xff", None),
        (b"\x00\x01", None),
    ],
)
def test_a_head_is_text_when_only_its_last_character_is_cut(head: bytes, expected: str | None):
    assert text_head(head, complete=False) == expected
