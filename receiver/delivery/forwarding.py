"""Forwarding: every capture of a bin with a forward URL is re-sent there, outside the request.

The queue is a table (``forward_job``). A job is written in the same transaction as the capture
itself, so a forward is never lost between the commit and a crash; a worker (a thread in each
server process, or ``receiver forward-worker``) claims jobs with a lease, sends them, and records
each attempt as a ``Replay`` of kind ``forward``. A worker that dies leaves its lease to expire
and the job is claimed again. Jobs of one bin are sent in capture order: a job waits while an
earlier one of the same bin is unfinished (so a target that is down holds the line, as a
provider's queue would, and catches up in order when it is back).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import and_
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from receiver.delivery.attempts import attempt_record
from receiver.delivery.attempts import keep_attempt
from receiver.delivery.http import ANYWHERE
from receiver.delivery.http import OutgoingError
from receiver.delivery.http import OutgoingPolicy
from receiver.delivery.http import SendOutcome
from receiver.delivery.http import prepare_outgoing
from receiver.delivery.http import send
from receiver.storage.db import AnySession
from receiver.storage.models import CapturedRequest
from receiver.storage.models import ForwardJob
from receiver.storage.models import utcnow
from receiver.storage.writelock import WriteLock

RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
# what delivering a job that was deleted (with its capture or bin) meanwhile ends with
GONE = "gone"
log = logging.getLogger(__name__)
# the forwarder of a test, or of a PostgreSQL deployment, takes no write lock
NO_LOCK = WriteLock.none()
BACKOFF_CAP_SECONDS = 300


@dataclass(frozen=True)
class ForwardPolicy:
    """How hard to try: attempts per job, request timeout, and the first retry delay."""

    max_attempts: int = 5
    timeout: float = 10.0
    first_delay: float = 1.0
    # where a forward may connect (a public deployment's server passes its own)
    outgoing: OutgoingPolicy = ANYWHERE

    def delay(self, attempts: int) -> timedelta:
        """Exponential backoff after ``attempts`` failed tries, capped."""
        return timedelta(seconds=min(self.first_delay * 2 ** (attempts - 1), BACKOFF_CAP_SECONDS))


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Jobs due (or whose lease ran out) with no unfinished predecessor in their bin."""
    earlier = aliased(ForwardJob)
    return and_(
        or_(
            and_(ForwardJob.status == "pending", ForwardJob.next_attempt_at <= now),
            and_(ForwardJob.status == "running", ForwardJob.claimed_until < now),
        ),
        ~exists().where(
            earlier.bin_id == ForwardJob.bin_id,
            earlier.id < ForwardJob.id,
            earlier.status.in_(("pending", "running")),
        ),
    )


def any_due(session: Session, now: datetime) -> bool:
    """True when some job is due or has an expired lease (one probe of the status index)."""
    probe = (
        select(ForwardJob.id)
        .where(
            or_(
                and_(ForwardJob.status == "pending", ForwardJob.next_attempt_at <= now),
                and_(ForwardJob.status == "running", ForwardJob.claimed_until < now),
            )
        )
        .limit(1)
    )
    found = session.execute(probe).first() is not None
    session.rollback()  # end the read transaction: an idle worker must hold no snapshot
    return found


def claim_jobs(
    session: Session,
    now: datetime,
    *,
    limit: int,
    lease: timedelta,
    write_lock: WriteLock = NO_LOCK,
) -> list[int]:
    """Lease up to ``limit`` due jobs to this worker and commit; returns their ids.

    The conditions are repeated on the UPDATE itself, so two workers racing for the same row
    cannot both win it (PostgreSQL re-checks them on the locked row; SQLite has one writer).
    """
    due = select(ForwardJob.id).where(_claimable(now)).order_by(ForwardJob.id).limit(limit)
    with write_lock.held():
        claimed = session.execute(
            update(ForwardJob)
            .where(ForwardJob.id.in_(due.scalar_subquery()), _claimable(now))
            .values(status="running", claimed_until=now + lease)
            .returning(ForwardJob.id)
            .execution_options(synchronize_session=False)
        )
        ids = sorted(claimed.scalars().all())
        session.commit()
    return ids


def deliver(
    session: Session,
    job_id: int,
    policy: ForwardPolicy,
    now: datetime,
    *,
    write_lock: WriteLock = NO_LOCK,
) -> str:
    """Send one claimed job, record the attempt, and settle the job; returns its new status, or
    ``gone`` when the job went with its capture or bin, before or while it was sent (a normal
    end, logged at INFO).

    No ORM object is held across the send: what the job needs is read first, and the job is
    settled with an UPDATE whose row count says whether it still exists.
    """
    job = session.get(ForwardJob, job_id)
    captured = session.get(CapturedRequest, job.request_id) if job is not None else None
    if job is None or captured is None:  # evicted or deleted before it could be forwarded
        session.rollback()
        return _gone(job_id)
    url, attempts = job.url, job.attempts + 1
    session.expunge(captured)
    session.rollback()  # no snapshot (and no lock) held through the send
    try:
        outgoing = prepare_outgoing(captured, url, append_path=True, now=now)
    except OutgoingError as unusable:
        outcome = None
        settled: tuple[str, str | None, datetime] = ("failed", unusable.message, now)
    else:
        outcome = send(outgoing, timeout=policy.timeout, policy=policy.outgoing)
        settled = _outcome(outcome, attempts, policy, now)
    # the writes after the send take the SQLite write lock (captures take turns with them)
    with write_lock.held():
        if outcome is not None:
            keep_attempt(session, attempt_record(captured.id, "forward", outgoing, outcome, now))
        return _settle(session, job_id, attempts, *settled)


def _outcome(
    outcome: SendOutcome, attempts: int, policy: ForwardPolicy, now: datetime
) -> tuple[str, str | None, datetime]:
    """What an attempt makes of its job: (status, error, when it finished or is due again)."""
    if outcome.error is None and outcome.status_code not in RETRY_STATUSES:
        return "done", None, now
    problem = outcome.error or f"answered {outcome.status_code}"
    if attempts >= policy.max_attempts:
        return "failed", problem, now
    return "pending", problem, now + policy.delay(attempts)


def _settle(
    session: Session,
    job_id: int,
    attempts: int,
    status: str,
    error: str | None,
    at: datetime,
) -> str:
    """Write a job's outcome after an attempt: finished at ``at``, or pending until ``at``;
    committed. Returns the status, or ``gone`` when the job no longer exists."""
    if status == "pending":
        values: dict[str, Any] = {"next_attempt_at": at, "claimed_until": None}
    else:
        values = {"finished_at": at}
    settled = session.execute(
        update(ForwardJob)
        .where(ForwardJob.id == job_id)
        .values(status=status, attempts=attempts, last_error=error, **values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return status if getattr(settled, "rowcount", 0) else _gone(job_id)


def _gone(job_id: int) -> str:
    log.info("forward job %s ended: its capture or bin was deleted", job_id)
    return GONE


def forward_due(
    engine: Engine,
    policy: ForwardPolicy,
    *,
    now: Callable[[], datetime] = utcnow,
    limit: int = 20,
    write_lock: WriteLock = NO_LOCK,
) -> int:
    """Claim and deliver due jobs, one at a time, up to ``limit``; returns the attempts made.

    One claim per delivery: a lease taken for a whole batch could run out while earlier jobs of
    the batch are slow, and another worker would send the rest a second time.
    """
    lease = timedelta(seconds=policy.timeout * 2 + 5)
    made = 0
    with Session(engine) as session:
        moment = now()
        # a read first: when nothing is due (the usual case) no write lock is ever asked for
        if not any_due(session, moment):
            return 0
        while made < limit and (
            ids := claim_jobs(session, moment, limit=1, lease=lease, write_lock=write_lock)
        ):
            deliver(session, ids[0], policy, now(), write_lock=write_lock)
            made += 1
            moment = now()
    return made


def catch_up(
    session: AnySession, bin_id: str, url: str, *, since: datetime | None = None, now: datetime
) -> int:
    """Queue every request of a bin captured since ``since`` (all when None), in capture order."""
    query = select(
        CapturedRequest.id.label("request_id"),
        CapturedRequest.bin_id,
    ).where(CapturedRequest.bin_id == bin_id)
    if since is not None:
        query = query.where(CapturedRequest.received_at >= since)
    rows = session.execute(query.order_by(CapturedRequest.id)).all()
    if rows:
        session.execute(
            insert(ForwardJob),
            [
                {
                    "request_id": row.request_id,
                    "bin_id": row.bin_id,
                    "url": url,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for row in rows
            ],
        )
    return len(rows)


class ForwardWorker:
    """A daemon thread that keeps forwarding due jobs until stopped.

    Woken at once when a capture of this process was queued to forward (`notify`); jobs of
    other processes and retries that come due are found by a look every ``interval`` seconds.
    """

    def __init__(
        self,
        engine: Engine,
        policy: ForwardPolicy,
        interval: float = 1.0,
        write_lock: WriteLock = NO_LOCK,
    ) -> None:
        self.engine = engine
        self.policy = policy
        self.write_lock = write_lock
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def notify(self, committed: Any) -> None:
        """A group commit happened (``capture.store.Committed``): wake if it queued forwards."""
        if committed.forwards:
            self._wake.set()

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self.run, name="receiver-forwarder", daemon=True)
            self._thread.start()

    def run(self) -> None:
        """Forward until stopped; a database hiccup is logged and retried on the next round."""
        while not self._stop.is_set():
            try:
                worked = forward_due(self.engine, self.policy, write_lock=self.write_lock)
            except Exception:  # the worker must outlive a transient database error
                log.exception("forwarding round failed; retrying")
                worked = 0
            if not worked:
                self._wake.wait(self.interval)
                self._wake.clear()

    def stop(self) -> None:
        """Ask the thread to stop and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.policy.timeout + 5)


@dataclass(frozen=True)
class QueueState:
    """Where a bin's forwarding stands: jobs waiting for their first try (``pending``), waiting
    to be tried again after a failure (``retrying``), being sent (``sending``), given up
    (``failed``) and delivered (``done``); and the newest error, with its capture and when the
    job is tried again (None once it was given up)."""

    pending: int = 0
    retrying: int = 0
    sending: int = 0
    failed: int = 0
    done: int = 0
    last_error: str | None = None
    last_error_request_id: int | None = None
    next_retry_at: datetime | None = None

    @property
    def unfinished(self) -> int:
        return self.pending + self.retrying + self.sending


def queue_state(session: AnySession, bin_id: str) -> QueueState:
    """The forwarding queue of one bin, counted by state (two reads on the bin's index)."""
    retried = ForwardJob.attempts > 0
    counts = session.execute(
        select(ForwardJob.status, retried, func.count())
        .where(ForwardJob.bin_id == bin_id)
        .group_by(ForwardJob.status, retried)
    ).all()
    by_state = {"pending": 0, "retrying": 0, "running": 0, "failed": 0, "done": 0}
    for status, was_tried, count in counts:
        state = "retrying" if status == "pending" and was_tried else status
        if state in by_state:
            by_state[state] += count
    newest = session.execute(
        select(ForwardJob.last_error, ForwardJob.request_id, ForwardJob.status)
        .add_columns(ForwardJob.next_attempt_at)
        .where(ForwardJob.bin_id == bin_id, ForwardJob.last_error.is_not(None))
        .order_by(ForwardJob.id.desc())
        .limit(1)
    ).first()
    return QueueState(
        pending=by_state["pending"],
        retrying=by_state["retrying"],
        sending=by_state["running"],
        failed=by_state["failed"],
        done=by_state["done"],
        last_error=None if newest is None else newest.last_error,
        last_error_request_id=None if newest is None else newest.request_id,
        next_retry_at=newest.next_attempt_at if newest and newest.status == "pending" else None,
    )
