"""Every bin of a deployment, for a team that shares them: keyset pages, searched by label.

The list runs on the ``expires_at`` index, newest first. A bin's expiry moves with its activity
(created, or its last request, plus the deployment's time to live), so this order is "most
recently active first" without an index on ``last_request_at``, which every capture would have
to update. No OFFSET and no COUNT: a page costs the same at the 100,000th bin as at the first.

Private bins stay private: the list holds the public ones and those whose ids the caller says it
may open (``also_private``); a team token opens the deployment, not its private bins.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from sqlalchemy import Select
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.sql.elements import ColumnElement

from receiver.storage.db import AnySession
from receiver.storage.models import Bin

PAGE_SIZE = 50
SEARCH_MAX = 200
CURSOR = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)~([A-Za-z0-9_-]{1,64})")
CURSOR_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class CursorError(ValueError):
    """A page cursor that this module did not hand out."""


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the last bin's expiry and id (the order's tie-breaker)."""

    expires_at: datetime
    bin_id: str

    def __str__(self) -> str:
        return f"{self.expires_at.strftime(CURSOR_FORMAT)}~{self.bin_id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor a page handed out as ``next``.

        :raise CursorError: anything else.
        """
        matched = CURSOR.fullmatch(text)
        if matched is None:
            raise CursorError("not a page cursor of this list")
        moment = datetime.strptime(matched[1], CURSOR_FORMAT).replace(tzinfo=UTC)
        return cls(moment, matched[2])


@dataclass(frozen=True)
class BinPage:
    """One page of bins, newest activity first, and the cursor of the next (None at the end)."""

    bins: Sequence[Bin]
    next: Cursor | None


def search_words(text: str | None) -> str | None:
    """The label search as typed, trimmed and bounded; None when there is none."""
    words = (text or "").strip()[:SEARCH_MAX]
    return words or None


def bins_query(
    *,
    now: datetime,
    also_private: Collection[str] = (),
    label: str | None = None,
    before: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> Select[tuple[Bin]]:
    """The query of one page (and one bin more, which says whether another page follows)."""
    visible: ColumnElement[bool] = Bin.private.is_(False)
    if also_private:
        visible = or_(visible, Bin.id.in_(list(also_private)))
    query = select(Bin).where(Bin.expires_at > now, visible)
    if label:
        escaped = label.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(
            or_(
                Bin.label.ilike(f"%{escaped}%", escape="\\"),
                Bin.id.like(f"{escaped}%", escape="\\"),
            )
        )
    if before is not None:
        # the first condition alone is a range on the index; the second breaks ties
        query = query.where(
            Bin.expires_at <= before.expires_at,
            or_(Bin.expires_at < before.expires_at, Bin.id < before.bin_id),
        )
    return query.order_by(Bin.expires_at.desc(), Bin.id.desc()).limit(limit + 1)


def list_bins(
    session: AnySession,
    *,
    now: datetime,
    also_private: Collection[str] = (),
    label: str | None = None,
    before: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> BinPage:
    """A page of the active bins, most recently active first. ``label`` keeps the bins whose
    label contains it (any case), or whose id starts with it."""
    query = bins_query(now=now, also_private=also_private, label=label, before=before, limit=limit)
    rows = session.scalars(query).all()
    shown = rows[:limit]
    more = len(rows) > limit
    cursor = Cursor(shown[-1].expires_at, shown[-1].id) if more and shown else None
    return BinPage(shown, cursor)
