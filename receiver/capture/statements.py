"""The capture store's SQL: Core statements compiled once for the engine's dialect, and captured
rows turned into driver parameters without a per-column processor call.

The statements come from SQLAlchemy (so the SQL is the ORM's own for each dialect); only the
values are converted here, as the column types would convert them: on SQLite a timestamp is the
text SQLAlchemy writes, on PostgreSQL psycopg takes the datetime as it is; JSON is text on both
(psycopg sends a ``str`` untyped, and PostgreSQL reads it into the JSON column).
``tests/unit/test_store.py`` checks the values against SQLAlchemy's own processors (JSON by the
value it holds), so the two cannot drift.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from operator import itemgetter
from typing import Any
from typing import cast

import orjson
from sqlalchemy import JSON
from sqlalchemy import Table
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import literal_column
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Dialect

from receiver.catalog.user_schemas import version_query
from receiver.storage.models import INGEST_SETTINGS
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest
from receiver.storage.models import ForwardJob
from receiver.storage.models import SearchQueue

EVICTION_PAGE = 256
# the bodies one PostgreSQL statement carries in its array: a value there is at most 1 GiB, a
# body at most RECEIVER_BODY_LIMIT's 512 MiB (a larger body goes alone)
ARRAY_BYTES = 64 * 1024 * 1024
bins_table = cast(Table, Bin.__table__)
requests_table = cast(Table, CapturedRequest.__table__)
forward_table = cast(Table, ForwardJob.__table__)
search_queue_table = cast(Table, SearchQueue.__table__)

# the bin settings the capture path reads before it commits (see store.IngestTarget)
TARGET_NAMES = ("id", *INGEST_SETTINGS, "settings_version")
# what a capture brings to its row (the store adds id, seq and response under the lock)
ROW_COLUMNS = (
    "bin_id",
    "received_at",
    "method",
    "path",
    "query_string",
    "headers",
    "body",
    "content_type",
    "size",
    "remote_addr",
    "event_provider",
    "event_id",
    "validation_status",
    "validation",
    "signature_status",
    "signature",
)
JSON_COLUMNS = frozenset(
    name for name in ROW_COLUMNS if isinstance(requests_table.c[name].type, JSON)
)
INSERT_COLUMNS = ("id", "seq", "response", *ROW_COLUMNS)
# the bin update's answer: the new counters, the settings version, the answer settings
# (store.AnswerSettings), then the user catalog's change marker
TOUCH_RETURNS = (
    "request_count",
    "stored_bytes",
    "last_seq",
    "settings_version",
    "response_status",
    "response_headers",
    "response_body",
    "response_delay_ms",
    "response_script",
    "script_base_seq",
)
# the first id of the next rows on SQLite (the only writer: the rest follow it)
NEXT_SQLITE_IDS = (
    "(SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'captured_request'), 0),"
    " coalesce((SELECT max(id) FROM captured_request), 0)) + 1)"
)


def sqlite_datetime(value: datetime) -> str:
    """A UTC timestamp as SQLAlchemy stores it in SQLite (always six fractional digits)."""
    value = value.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 - the hot path's cheapest
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


def json_text(value: Any) -> str:
    """A JSON column's value as text, which both drivers pass to a JSON column as it is (orjson:
    the capture path writes three of them per row, ten times faster than ``json.dumps``)."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:  # what orjson refuses (an integer past 64 bits, say) json takes
        return json.dumps(value)


class Compiled:
    """A Core statement compiled once; ``bind`` turns named values into driver parameters."""

    def __init__(self, dialect: Dialect, statement: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql: str = compiled.string
        # binds SQLAlchemy renders itself (a LIMIT, say) keep the values it compiled in
        self.defaults = dict(compiled.params)
        names = list(compiled.positiontup or []) if compiled.positional else []
        self._order = itemgetter(*names) if len(names) > 1 else None
        self._single = names[0] if len(names) == 1 else None
        self.positional = compiled.positional

    def bind(self, values: dict[str, Any]) -> Any:
        """Driver parameters: a tuple for positional paramstyles, else the dict itself."""
        if self.defaults:
            values = {**self.defaults, **values}
        if not self.positional:
            return values
        if self._order is not None:
            return self._order(values)
        return (values[self._single],) if self._single is not None else ()


class Statements:
    """Every statement of the capture path, for one dialect, with its value converters."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.is_sqlite = dialect.name == "sqlite"
        self.to_datetime: Callable[[datetime], Any] = (
            sqlite_datetime if self.is_sqlite else _unchanged
        )
        self.to_json: Callable[[Any], Any] = json_text
        target_columns = [bins_table.c[name] for name in TARGET_NAMES]
        self.lookup = Compiled(
            dialect, select(*target_columns).where(bins_table.c.id == bindparam("bin_id"))
        )
        self.target_processors = _result_processors(dialect, target_columns)
        version = version_query()
        self.catalog_version = Compiled(dialect, version)
        self.catalog_processors = _result_processors(dialect, list(version.selected_columns))
        self.insert = Compiled(
            dialect,
            insert(requests_table).values({name: bindparam(name) for name in INSERT_COLUMNS}),
        )
        touch_columns = [bins_table.c[name] for name in TOUCH_RETURNS]
        touch = (
            update(bins_table)
            .where(bins_table.c.id == bindparam("bin_id"))
            .values(
                request_count=bins_table.c.request_count + bindparam("added"),
                stored_bytes=bins_table.c.stored_bytes + bindparam("added_bytes"),
                last_seq=bins_table.c.last_seq + bindparam("added"),
                last_request_at=bindparam("last_request_at"),
                expires_at=bindparam("expires_at"),
            )
        )
        self.touch = Compiled(dialect, touch.returning(*touch_columns))
        # the batch's last bin update also returns its ids and the catalog's change marker: ids
        # taken once every bin of the batch is locked (see capture.store), in one statement
        self.touch_last = Compiled(
            dialect,
            touch.returning(
                *touch_columns,
                version.scalar_subquery(),
                literal_column(NEXT_SQLITE_IDS) if self.is_sqlite else _next_postgresql_ids(),
            ),
        )
        self.touch_last_processors = [
            *_result_processors(dialect, touch_columns),
            *self.catalog_processors,
            None,
        ]
        # most bins hold an empty list or nothing in the answer's JSON columns: decoded cheaply
        self.touch_processors = [
            _json_value if isinstance(column.type, JSON) else processor
            for column, processor in zip(
                touch_columns, _result_processors(dialect, touch_columns), strict=True
            )
        ]
        self.insert_queued = _insert_queued(dialect)
        self.enqueue_forward = Compiled(
            dialect,
            insert(forward_table).values(
                {
                    name: bindparam(name)
                    for name in ("request_id", "bin_id", "url", "status", "attempts")
                }
                | {"next_attempt_at": bindparam("now"), "created_at": bindparam("now")}
            ),
        )
        # SQLite: the text index's queue, one statement for a whole batch (the only writer: a
        # batch's ids are a run without gaps); PostgreSQL queues rows as it inserts them
        queued = select(requests_table.c.id, requests_table.c.bin_id).where(
            requests_table.c.id.between(bindparam("first"), bindparam("last"))
        )
        self.enqueue_search = Compiled(
            dialect, insert(search_queue_table).from_select(["request_id", "bin_id"], queued)
        )
        self.oldest = Compiled(
            dialect,
            select(requests_table.c.id, requests_table.c.size)
            .where(
                requests_table.c.bin_id == bindparam("bin_id"),
                requests_table.c.id > bindparam("after"),
            )
            .order_by(requests_table.c.id)
            .limit(bindparam("page")),
        )
        self.evict = Compiled(
            dialect,
            requests_table.delete().where(
                requests_table.c.bin_id == bindparam("bin_id"),
                requests_table.c.id <= bindparam("boundary"),
            ),
        )
        self.set_counters = Compiled(
            dialect,
            update(bins_table)
            .where(bins_table.c.id == bindparam("bin_id"))
            .values(request_count=bindparam("count"), stored_bytes=bindparam("bytes")),
        )

    def row_values(self, row: dict[str, Any]) -> dict[str, Any]:
        """A captured row's column values as the driver takes them (id, seq, response later)."""
        values = {name: row.get(name) for name in ROW_COLUMNS}
        values["received_at"] = self.to_datetime(row["received_at"])
        for name in JSON_COLUMNS:
            value = values[name]
            values[name] = None if value is None else self.to_json(value)
        return values

    def touch_values(
        self,
        bin_id: str,
        added: int,
        added_bytes: int,
        newest: datetime,
        expires: datetime,
        *,
        count: int | None = None,
    ) -> Any:
        """Parameters of one bin's counter update (``count``: the batch's rows, for the last)."""
        values = {
            "bin_id": bin_id,
            "added": added,
            "added_bytes": added_bytes,
            "last_request_at": self.to_datetime(newest),
            "expires_at": self.to_datetime(expires),
        }
        if count is None:
            return self.touch.bind(values)
        if not self.is_sqlite:
            values["count"] = count
        return self.touch_last.bind(values)

    def forward_values(self, request_id: int, bin_id: str, url: str, now: datetime) -> Any:
        """Parameters of one forward job, queued with its capture."""
        return self.enqueue_forward.bind(
            {
                "request_id": request_id,
                "bin_id": bin_id,
                "url": url,
                "status": "pending",
                "attempts": 0,
                "now": self.to_datetime(now),
            }
        )

    def search_values(self, ids: list[int]) -> Any:
        """SQLite: parameters that queue every capture of a batch for the text index."""
        return self.enqueue_search.bind({"first": ids[0], "last": ids[-1]})

    @staticmethod
    def column_arrays(values: list[dict[str, Any]]) -> Iterator[dict[str, list[Any]]]:
        """PostgreSQL: a batch's row values as ``insert_queued`` takes them, one array per
        column, in as many statements as keep each array of bodies within ``ARRAY_BYTES``."""
        chunk: list[dict[str, Any]] = []
        size = 0
        for value in values:
            body = len(value["body"] or b"")
            if chunk and size + body > ARRAY_BYTES:
                yield {name: [row[name] for row in chunk] for name in INSERT_COLUMNS}
                chunk, size = [], 0
            chunk.append(value)
            size += body
        if chunk:
            yield {name: [row[name] for row in chunk] for name in INSERT_COLUMNS}


def _insert_queued(dialect: Dialect) -> str:
    """PostgreSQL: a whole batch inserted and queued for the text index in one statement, its
    parameters one array per column (``{name: [value of each row]}``).

    A statement per row costs the driver and the server each a parse, a bind and an execution
    per row, and one multi-row ``VALUES`` list is a different statement text for every batch
    size, too long for psycopg's cache of converted queries. This text never changes, so
    psycopg converts it once and PostgreSQL prepares it once. Written out rather than built
    with Core, which has no form for ``unnest`` of several arrays; the table's names and the
    columns' types come from the model, compiled for the dialect.
    """
    columns = [requests_table.c[name] for name in INSERT_COLUMNS]
    arrays = ", ".join(
        f"%({column.name})b::{column.type.compile(dialect=dialect)}[]" for column in columns
    )
    queue = search_queue_table
    return (
        f"WITH inserted AS (INSERT INTO {requests_table.name} "
        f"({', '.join(column.name for column in columns)}) SELECT * FROM unnest({arrays}) "
        f"RETURNING {requests_table.c.id.name}, {requests_table.c.bin_id.name}) "
        f"INSERT INTO {queue.name} ({queue.c.request_id.name}, {queue.c.bin_id.name}) "
        f"SELECT {requests_table.c.id.name}, {requests_table.c.bin_id.name} FROM inserted"
    )


def _next_postgresql_ids() -> Any:
    """``count`` new ids from the id column's own sequence, as one array (any order)."""
    sequence = func.pg_get_serial_sequence("captured_request", "id")
    return (
        select(func.array_agg(func.nextval(sequence)))
        .select_from(func.generate_series(1, bindparam("count")))
        .scalar_subquery()
    )


def processed(processors: list[Any], row: Any) -> list[Any]:
    """A fetched row's values through their result processors."""
    return [
        processor(value) if processor is not None else value
        for processor, value in zip(processors, row, strict=True)
    ]


def _unchanged(value: Any) -> Any:
    return value


def _result_processors(dialect: Dialect, columns: list[Any]) -> list[Any]:
    return [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]


def _json_value(raw: Any) -> Any:
    """A JSON column's value from the driver: SQLite gives text, psycopg decoded values."""
    if raw is None or not isinstance(raw, str | bytes):
        return raw
    return [] if raw == "[]" else json.loads(raw)
