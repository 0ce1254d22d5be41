"""Replaying a captured request on demand, and its recorded history (the database side)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from receiver.delivery.http import ANYWHERE
from receiver.delivery.http import OutgoingError
from receiver.delivery.http import OutgoingPolicy
from receiver.delivery.http import OutgoingRequest
from receiver.delivery.http import SendOutcome
from receiver.delivery.http import prepare_outgoing
from receiver.delivery.http import send
from receiver.storage.db import AnySession
from receiver.storage.models import CapturedRequest
from receiver.storage.models import Replay

HISTORY_LIMIT = 50


class CaptureGone(Exception):
    """The capture was deleted while it was being replayed: it was sent, nothing is recorded."""


def replay_request(
    session: AnySession,
    captured: CapturedRequest,
    *,
    url: str,
    now: datetime,
    timeout: float,
    append_path: bool = True,
    method: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    resign: dict[str, Any] | None = None,
    policy: OutgoingPolicy = ANYWHERE,
) -> Replay:
    """Send ``captured`` to ``url`` (with the edits given), where ``policy`` lets it connect,
    and record the attempt.

    A refused, timed-out or failed target is still a recorded attempt, with ``error`` in words.

    :raise OutgoingError: the URL, method or headers cannot be sent at all (nothing is recorded).
    :raise CaptureGone: the capture (or its bin) was deleted while it was being sent (the
        session is rolled back).
    """
    outgoing = prepare_outgoing(
        captured,
        url,
        append_path=append_path,
        method=method,
        headers=headers,
        body=body,
        resign=resign,
        now=now,
    )
    outcome = send(outgoing, timeout=timeout, policy=policy)
    record = attempt_record(captured.id, "replay", outgoing, outcome, now)
    session.add(record)
    try:
        session.flush()
    except IntegrityError as error:  # the record's capture is no longer there
        session.rollback()
        raise CaptureGone(
            "the request was deleted while it was being replayed: it was sent, but no record is "
            "kept"
        ) from error
    return record


def attempt_record(
    request_id: int,
    kind: str,
    outgoing: OutgoingRequest,
    outcome: SendOutcome,
    now: datetime,
    *,
    scenario_id: int | None = None,
) -> Replay:
    """The stored form of one replay, forward or scenario attempt."""
    return Replay(
        request_id=request_id,
        kind=kind,
        url=outgoing.url,
        method=outgoing.method,
        request_headers=[list(pair) for pair in outgoing.headers],
        status_code=outcome.status_code,
        response_headers=[list(pair) for pair in outcome.response_headers],
        response_body=outcome.response_body,
        elapsed_ms=outcome.elapsed_ms,
        error=outcome.error,
        created_at=now,
        scenario_id=scenario_id,
    )


def keep_attempt(session: Session, record: Replay) -> bool:
    """Commit one attempt record of background work, in a transaction of its own; False (and
    nothing kept) when its capture, or its scenario, was deleted while it was being sent.

    Alone in its transaction, the insert waits for a delete under way rather than holding a
    lock the delete needs (the work's own row is updated after, in another one).
    """
    session.add(record)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def history(session: AnySession, request_id: int, limit: int = HISTORY_LIMIT) -> list[Replay]:
    """Replays and forwards of a request, newest first."""
    query = (
        select(Replay)
        .where(Replay.request_id == request_id)
        .order_by(Replay.id.desc())
        .limit(limit)
    )
    return list(session.execute(query).scalars())


__all__ = ["CaptureGone", "OutgoingError", "history", "replay_request"]
