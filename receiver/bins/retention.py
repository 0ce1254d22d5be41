"""What is kept and what goes: expired bins, cleared bins, deleted requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy import update
from sqlalchemy.orm import Session

from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest


def prune_expired(session: Session, now: datetime) -> int:
    """Delete expired bins (their requests go with them); return how many."""
    result = session.execute(delete(Bin).where(Bin.expires_at <= now))
    return result.rowcount or 0


def clear_requests(session: Session, bin_id: str) -> int:
    """Delete every captured request of a bin; return how many."""
    result = session.execute(delete(CapturedRequest).where(CapturedRequest.bin_id == bin_id))
    session.execute(update(Bin).where(Bin.id == bin_id).values(request_count=0))
    return result.rowcount or 0


def delete_request(session: Session, bin_id: str, request_id: int) -> bool:
    """Delete one captured request; False when it is not in this bin."""
    result = session.execute(
        delete(CapturedRequest).where(
            CapturedRequest.bin_id == bin_id, CapturedRequest.id == request_id
        )
    )
    if not result.rowcount:
        return False
    session.execute(update(Bin).where(Bin.id == bin_id).values(request_count=Bin.request_count - 1))
    return True
