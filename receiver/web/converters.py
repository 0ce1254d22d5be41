"""What the edge turns request input into: path integers that fit the database, and JSON bodies
that cannot exhaust the stack.

- Every ``<int:…>`` in a route is a database id: a 64-bit signed integer on both backends.
  Werkzeug's own converter accepts any number of digits, and a request id of 2^63 or more then
  overflows in the driver (a 500). `Int64Converter` replaces it app-wide, so such a path does not
  match any route and answers 404, as a request id that does not exist does.
- ``<provider:…>`` is a catalog provider id other than ``import`` (see `ProviderConverter`).
- Python's JSON parser raises `RecursionError` (not `ValueError`) for deeply nested input, which
  Flask's ``get_json(silent=True)`` does not catch. `EdgeJSONProvider` turns it into a
  `ValueError`, so a body like ``[[[[…]]]]`` is "not JSON" (400) everywhere the API reads one.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import BaseConverter
from werkzeug.routing import IntegerConverter

ID_MAX = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER on SQLite: both 64-bit signed


def digits_at_most(limit: int) -> str:
    """A regular expression for the decimal numbers from 0 to ``limit`` (no sign)."""
    text = str(limit)
    shorter = rf"\d{{1,{len(text) - 1}}}" if len(text) > 1 else ""
    same_length = [
        text[:index] + f"[0-{int(digit) - 1}]" + rf"\d{{{len(text) - index - 1}}}"
        for index, digit in enumerate(text)
        if digit != "0"
    ]
    return "|".join(filter(None, [shorter, *same_length, text]))


class Int64Converter(IntegerConverter):
    """``<int:…>`` limited to ids the database can hold (0 to 2^63 - 1); larger does not match.

    The limit is in the converter's regular expression too: Werkzeug compares methods before it
    converts, so a path that only the range check refused would answer 405, not 404, where
    another method's rule has the same shape.
    """

    regex = f"(?:{digits_at_most(ID_MAX)})"

    def __init__(
        self,
        url_map: Any,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = None,
        signed: bool = False,
    ) -> None:
        super().__init__(url_map, fixed_digits, min, ID_MAX if max is None else max, signed)


class ProviderConverter(BaseConverter):
    """A provider id in ``/api/catalog/<provider>``: any path segment except ``import``, whose
    route is its own (POST only), so that its ``Allow`` header names POST and nothing else."""

    regex = "(?!import$)[^/]+"


class EdgeJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider; nesting too deep to parse is a ValueError like any other bad JSON."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply to parse") from None


def init_app(app: Flask) -> None:
    """Install both; called before any route is added (rules bind their converters when added)."""
    app.url_map.converters["int"] = Int64Converter
    app.url_map.converters["provider"] = ProviderConverter
    app.json = EdgeJSONProvider(app)
