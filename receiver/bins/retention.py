"""What is kept and what goes: expired bins, cleared bins, deleted requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from typing import cast

from sqlalchemy import delete
from sqlalchemy import update
from sqlalchemy.engine import CursorResult

from receiver.storage.db import AnySession
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest


def prune_expired(session: AnySession, now: datetime) -> int:
    """Delete expired bins (their requests go with them); return how many."""
    return _deleted(session.execute(delete(Bin).where(Bin.expires_at <= now)))


def clear_requests(session: AnySession, bin_id: str) -> int:
    """Delete every captured request of a bin; return how many."""
    result = session.execute(delete(CapturedRequest).where(CapturedRequest.bin_id == bin_id))
    session.execute(update(Bin).where(Bin.id == bin_id).values(request_count=0, stored_bytes=0))
    return _deleted(result)


def delete_request(session: AnySession, bin_id: str, request_id: int) -> bool:
    """Delete one captured request; False when it is not in this bin."""
    size = session.execute(
        delete(CapturedRequest)
        .where(CapturedRequest.bin_id == bin_id, CapturedRequest.id == request_id)
        .returning(CapturedRequest.size)
    ).scalar()
    if size is None:
        return False
    session.execute(
        update(Bin)
        .where(Bin.id == bin_id)
        .values(request_count=Bin.request_count - 1, stored_bytes=Bin.stored_bytes - size)
    )
    return True


def _deleted(result: Any) -> int:
    """How many rows a DELETE removed (an executed DML statement gives a cursor result)."""
    return cast(CursorResult[Any], result).rowcount or 0
