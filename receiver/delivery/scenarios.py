"""Scenario replay: a set of captured requests re-sent to a URL in capture order, with their
timing, optionally out of order or twice (idempotency tests).

A scenario is planned once, when it is asked for, and the plan is kept with it:

- the captures: all of a bin's, those a filter matches (``capture.listing``'s filters), or
  chosen ids; always in capture order (``seq``), taken as they are at that moment;
- the timing: each send's offset from the start, either the original spacing of the captures
  divided by ``speed`` (each gap capped at ``max_gap_ms`` when given), or a fixed interval;
- disorder: ``shuffle_window`` shuffles the captures within consecutive blocks of that many
  (with ``seed``, recorded, so a run can be repeated exactly); each position keeps its offset,
  only which capture fills it changes; ``duplicates`` sends each capture that many more times,
  right after itself (a redelivery, as providers do).

A run sends the plan in order through the outgoing-HTTP engine (``delivery.http``), re-signed with
the bin's scheme and secret when asked, and records one ``Replay`` of kind ``scenario`` per send;
the scenario row carries the progress (``done`` of ``total``, ``failed`` of ``done``: no answer,
or an answer of 400 or more). A send that is slower than the gap to the next makes that one
late: sends never overlap, so the order is kept.

Runs happen in a background thread of the serving processes (`ScenarioRunner`): the API only
queues a scenario (``pending``) and wakes the local runner; any serving process may claim it (an
atomic ``pending`` -> ``running`` update), so scenarios run side by side across processes. A
process that dies mid-run cannot say so: every runner sweeps for ``running`` scenarios whose next
send is overdue by more than ``grace`` seconds and marks them ``interrupted``, naming how far they
got; they are not resumed (a half-sent sequence resumed later would not be the recorded one:
start a new scenario). A cancelled scenario stops before its next send.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Protocol

from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from receiver.capture import listing
from receiver.delivery.attempts import attempt_record
from receiver.delivery.attempts import keep_attempt
from receiver.delivery.http import ANYWHERE
from receiver.delivery.http import OutgoingError
from receiver.delivery.http import OutgoingPolicy
from receiver.delivery.http import prepare_outgoing
from receiver.delivery.http import send
from receiver.delivery.http import warm_up
from receiver.httpspec import url_problem
from receiver.storage.db import AnySession
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest
from receiver.storage.models import Replay
from receiver.storage.models import Scenario
from receiver.storage.models import utcnow

log = logging.getLogger(__name__)

MAX_SENDS = 5000
MAX_DUPLICATES = 4
MAX_SHUFFLE_WINDOW = 1000
MIN_SPEED = 0.01
MAX_SPEED = 1000.0
MAX_INTERVAL_MS = 3_600_000
# the longest a scenario may take from its first send to its last
MAX_DURATION_MS = 24 * 3_600_000
URL_MAX = 2000
SPEC_FIELDS = (
    "url",
    "request_ids",
    "filter",
    "timing",
    "duplicates",
    "shuffle_window",
    "seed",
    "resign",
    "append_path",
)
FILTER_FIELDS = ("method", "event", "validation", "q")
PENDING, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED = (
    "pending",
    "running",
    "done",
    "failed",
    "cancelled",
    "interrupted",
)
STATUSES = (PENDING, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED)
# what a run ends with when its scenario was deleted (with its bin) under it; never stored
GONE = "gone"
UNFINISHED = (PENDING, RUNNING)
# how often a runner looks for queued scenarios and stalled ones, and re-reads a long wait's status
POLL_SECONDS = 1.0
# scenarios one process runs at once
RUNNING_PER_PROCESS = 4


class ScenarioError(ValueError):
    """A scenario that cannot be planned; ``code`` names the reason, ``message`` says it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _invalid(message: str) -> ScenarioError:
    return ScenarioError("invalid_scenario", message)


@dataclass(frozen=True)
class Timing:
    """When the sends happen: the original spacing over ``speed``, or every ``interval_ms``."""

    mode: str = "original"
    speed: float = 1.0
    interval_ms: int = 0
    max_gap_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        if self.mode == "interval":
            return {"mode": "interval", "ms": self.interval_ms}
        shape: dict[str, Any] = {"mode": "original", "speed": self.speed}
        if self.max_gap_ms is not None:
            shape["max_gap_ms"] = self.max_gap_ms
        return shape


@dataclass(frozen=True)
class ScenarioSpec:
    """What was asked for (the ``spec`` kept with the scenario, plus its plan)."""

    url: str
    request_ids: tuple[int, ...] | None = None
    filter: listing.RequestFilter | None = None
    timing: Timing = Timing()
    duplicates: int = 0
    shuffle_window: int = 0
    seed: int = 0
    resign: bool = False
    append_path: bool = True

    def to_json(self) -> dict[str, Any]:
        """The spec as stored and shown (never a secret: re-signing reads the bin's at run time)."""
        chosen = None
        if self.filter is not None:
            chosen = {
                key: value
                for key in FILTER_FIELDS
                if (value := getattr(self.filter, key)) is not None
            }
        return {
            "url": self.url,
            "request_ids": list(self.request_ids) if self.request_ids is not None else None,
            "filter": chosen,
            "timing": self.timing.to_json(),
            "duplicates": self.duplicates,
            "shuffle_window": self.shuffle_window,
            "seed": self.seed,
            "resign": self.resign,
            "append_path": self.append_path,
        }


class Planned(Protocol):
    """What the plan reads of a capture: its id, its number and when it arrived."""

    @property
    def id(self) -> int: ...

    @property
    def seq(self) -> int: ...

    @property
    def received_at(self) -> datetime: ...


@dataclass(frozen=True)
class Source:
    """A capture as the plan sees it, read from the database."""

    id: int
    seq: int
    received_at: datetime


@dataclass(frozen=True)
class Send:
    """One planned send: which capture, when (ms after the start), and which copy (0: itself)."""

    request_id: int
    at_ms: float
    copy: int = 0


def parse_timing(value: dict[str, Any] | None) -> Timing:
    """``{"mode": "original", "speed"?, "max_gap_ms"?}`` or ``{"mode": "interval", "ms"}``, as
    the API document's ``ScenarioCreate`` schema has checked it; None: the original spacing."""
    if value is None:
        return Timing()
    if value.get("mode") == "interval":
        return Timing("interval", interval_ms=int(value["ms"]))
    max_gap = value.get("max_gap_ms")
    return Timing(
        "original",
        speed=float(value.get("speed", 1.0)),
        max_gap_ms=None if max_gap is None else int(max_gap),
    )


def parse_spec(body: dict[str, Any], *, seed: int | None = None) -> ScenarioSpec:
    """Turn a scenario request into a spec.

    ``body`` has been checked against the API document's ``ScenarioCreate`` schema (types,
    bounds, request_ids or filter); this checks what a schema cannot say. ``seed`` is used when
    the body gives none (a random one otherwise), so every run can be repeated from its
    recorded spec.

    :raise ScenarioError: a target URL that cannot be used (``httpspec.url_problem``).
    """
    url = body["url"]
    problem = url_problem(url)
    if problem is not None:
        raise _invalid(f"url {problem}")
    ids = body.get("request_ids")
    chosen = body.get("filter")
    given_seed = body.get("seed")
    if given_seed is None:
        given_seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    return ScenarioSpec(
        url=url,
        request_ids=None if ids is None else tuple(dict.fromkeys(int(n) for n in ids)),
        filter=None if chosen is None else _filter(chosen),
        timing=parse_timing(body.get("timing")),
        duplicates=int(body.get("duplicates", 0)),
        shuffle_window=int(body.get("shuffle_window", 0)),
        seed=int(given_seed),
        resign=body.get("resign", False),
        append_path=body.get("append_path", True),
    )


def _filter(chosen: dict[str, str | None]) -> listing.RequestFilter:
    """The list's filter a scenario replays (normalised as the list normalises it)."""
    try:
        return listing.parse_filter(*(chosen.get(key) for key in FILTER_FIELDS))
    except listing.FilterError as error:
        raise _invalid(f"filter: {error}") from None


def plan(sources: Sequence[Planned], spec: ScenarioSpec) -> list[Send]:
    """The sends of a scenario over these captures, in order, each with its offset.

    :raise ScenarioError: no captures, too many sends, or a run longer than a day.
    """
    ordered = sorted(sources, key=lambda source: source.seq)
    if not ordered:
        raise ScenarioError("no_captures", "no captured request matches: nothing to replay")
    total = len(ordered) * (1 + spec.duplicates)
    if total > MAX_SENDS:
        raise _invalid(f"the scenario would make {total} sends; at most {MAX_SENDS}")
    slots = _offsets(ordered, spec.timing)
    if slots[-1] > MAX_DURATION_MS:
        hours = slots[-1] / 3_600_000
        raise _invalid(
            f"the scenario would take {hours:.1f} hours; speed it up, cap the gaps with "
            "timing.max_gap_ms, or use an interval"
        )
    order = list(ordered)
    if spec.shuffle_window > 1:
        shuffler = random.Random(spec.seed)
        for start in range(0, len(order), spec.shuffle_window):
            block = order[start : start + spec.shuffle_window]
            shuffler.shuffle(block)
            order[start : start + spec.shuffle_window] = block
    return [
        Send(source.id, slots[position], copy)
        for position, source in enumerate(order)
        for copy in range(1 + spec.duplicates)
    ]


def _offsets(ordered: Sequence[Planned], timing: Timing) -> list[float]:
    """Each position's offset from the start, in ms."""
    if timing.mode == "interval":
        return [float(position * timing.interval_ms) for position in range(len(ordered))]
    offsets = [0.0]
    for before, after in zip(ordered, ordered[1:], strict=False):
        gap = max(0.0, (after.received_at - before.received_at).total_seconds() * 1000)
        gap /= timing.speed
        if timing.max_gap_ms is not None:
            gap = min(gap, float(timing.max_gap_ms))
        offsets.append(offsets[-1] + gap)
    return offsets


# -- the database side -----------------------------------------------------------------------


def select_sources(session: AnySession, bin_id: str, spec: ScenarioSpec) -> list[Source]:
    """The captures a scenario replays, in capture order.

    :raise ScenarioError: chosen ids that are not in the bin, or more captures than a scenario
        may send.
    """
    columns = (CapturedRequest.id, CapturedRequest.seq, CapturedRequest.received_at)
    if spec.request_ids is not None:
        rows = session.execute(
            select(*columns).where(
                CapturedRequest.bin_id == bin_id, CapturedRequest.id.in_(spec.request_ids)
            )
        ).all()
        missing = set(spec.request_ids) - {row.id for row in rows}
        if missing:
            shown = ", ".join(str(value) for value in sorted(missing)[:10])
            raise ScenarioError("unknown_requests", f"not captured in this bin: {shown}")
        return sorted((Source(*row) for row in rows), key=lambda source: source.seq)
    found: list[Source] = []
    before: int | None = None
    while True:
        page = listing.list_requests(
            session, bin_id, limit=listing.MAX_LIMIT, before=before, filters=spec.filter
        )
        found += [Source(r.id, r.seq, r.received_at) for r in page.requests]
        if len(found) > MAX_SENDS:
            raise _invalid(f"more than {MAX_SENDS} captures match; narrow the filter")
        if page.next is None:
            break
        before = page.next
    return sorted(found, key=lambda source: source.seq)


def create_scenario(
    session: AnySession, found: Bin, spec: ScenarioSpec, *, now: datetime, claimed: bool = False
) -> Scenario:
    """Plan a scenario over the bin's captures and queue it (``pending``), or, ``claimed``, mark
    it ``running`` for the caller to run itself; flushed, not committed.

    :raise ScenarioError: nothing to replay, out of bounds, unknown ids, or re-signing asked of a
        bin without a scheme and secret.
    :raise OutgoingError: the target URL cannot be used.
    """
    if spec.resign and not (found.signature_scheme and found.signature_secret):
        raise ScenarioError("no_secret", "re-signing needs the bin's signing scheme and secret")
    sources = select_sources(session, found.id, spec)
    sends = plan(sources, spec)
    # the URL is checked as a send would check it, before anything is queued
    first = session.get(CapturedRequest, sends[0].request_id)
    if first is not None:
        prepare_outgoing(first, spec.url, append_path=spec.append_path, now=now)
    scenario = Scenario(
        bin_id=found.id,
        url=spec.url,
        spec={**spec.to_json(), "plan": [[s.request_id, round(s.at_ms, 3)] for s in sends]},
        status=RUNNING if claimed else PENDING,
        total=len(sends),
        done=0,
        created_at=now,
        started_at=now if claimed else None,
    )
    session.add(scenario)
    session.flush()
    return scenario


def send_failed(status_code: int | None) -> bool:
    """Whether a send failed: the target gave no answer (refused, timed out, not sendable at
    all), or answered 400 or more."""
    return status_code is None or status_code >= 400


def planned(scenario: Scenario) -> list[Send]:
    """The plan kept with a scenario."""
    return [Send(int(rid), float(at)) for rid, at in (scenario.spec or {}).get("plan", [])]


def cancel(session: AnySession, scenario: Scenario, *, now: datetime) -> bool:
    """Stop a scenario before its next send; False when it had already finished."""
    stopped = session.execute(
        update(Scenario)
        .where(Scenario.id == scenario.id, Scenario.status.in_(UNFINISHED))
        .values(status=CANCELLED, finished_at=now, error="cancelled")
        .execution_options(synchronize_session=False)
    )
    session.refresh(scenario)
    return bool(getattr(stopped, "rowcount", 0))


def attempts(session: AnySession, scenario: Scenario) -> list[dict[str, Any]]:
    """One record per send made, in order: the capture, its place in the plan, when it was
    planned and when it went (ms after the start), and what the target answered."""
    replays = session.execute(
        select(Replay).where(Replay.scenario_id == scenario.id).order_by(Replay.id)
    ).scalars()
    sends = planned(scenario)
    position = 0
    records = []
    for replay in replays:
        # a send skipped because its capture was deleted left no record: walk past it
        while position < len(sends) and sends[position].request_id != replay.request_id:
            position += 1
        scheduled = sends[position].at_ms if position < len(sends) else None
        offset = None
        if scenario.started_at is not None:
            offset = (replay.created_at - scenario.started_at).total_seconds() * 1000
        records.append(
            {
                "position": position,
                "request_id": replay.request_id,
                "replay_id": replay.id,
                "scheduled_ms": scheduled,
                "sent_ms": None if offset is None else round(offset, 3),
                "status_code": replay.status_code,
                "elapsed_ms": replay.elapsed_ms,
                "error": replay.error,
            }
        )
        position += 1
    return records


def claim(session: Session, scenario_id: int, now: datetime) -> bool:
    """Take a pending scenario for this process (one process wins it); committed."""
    taken = session.execute(
        update(Scenario)
        .where(Scenario.id == scenario_id, Scenario.status == PENDING)
        .values(status=RUNNING, started_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(getattr(taken, "rowcount", 0))


def pending_ids(session: Session, limit: int) -> list[int]:
    """The oldest queued scenarios."""
    found = session.execute(
        select(Scenario.id).where(Scenario.status == PENDING).order_by(Scenario.id).limit(limit)
    )
    ids = list(found.scalars())
    session.rollback()  # an idle runner holds no snapshot
    return ids


def sweep_interrupted(session: Session, now: datetime, grace: float) -> int:
    """Mark ``running`` scenarios whose next send is overdue by more than ``grace`` seconds
    ``interrupted`` (the process running them stopped); committed. Returns how many."""
    running = session.execute(select(Scenario).where(Scenario.status == RUNNING)).scalars().all()
    marked = 0
    for scenario in running:
        sends = planned(scenario)
        if scenario.started_at is None or scenario.done >= len(sends):
            due = scenario.started_at or scenario.created_at
        else:
            due = scenario.started_at + timedelta(milliseconds=sends[scenario.done].at_ms)
        if now - due <= timedelta(seconds=grace):
            continue
        stopped = session.execute(
            update(Scenario)
            .where(
                Scenario.id == scenario.id,
                Scenario.status == RUNNING,
                Scenario.done == scenario.done,
            )
            .values(
                status=INTERRUPTED,
                finished_at=now,
                error=(
                    f"interrupted after {scenario.done} of {scenario.total} sends: the process "
                    "running it stopped (start a new scenario to send them again)"
                ),
            )
            .execution_options(synchronize_session=False)
        )
        marked += getattr(stopped, "rowcount", 0) or 0
    session.commit()
    return marked


@dataclass(frozen=True)
class RunSettings:
    """How a run sends: the timeout per send, the clocks and the way it waits (injected by
    tests: ``wait(stop, seconds)`` returns True once ``stop`` is set), and who hears of each
    send (``report(position, send, attempt)``; the attempt is None for a deleted capture).
    """

    timeout: float
    # where a run may connect (a public deployment's server passes its own)
    outgoing: OutgoingPolicy = ANYWHERE
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = utcnow
    wait: Callable[[threading.Event, float], bool] = threading.Event.wait
    report: Callable[[int, Send, Replay | None], None] | None = None


def run_scenario(
    engine: Engine, scenario_id: int, settings: RunSettings, stop: threading.Event
) -> str:
    """Send a claimed (``running``) scenario's plan in order, with its timing; returns the
    final status (``done``, ``cancelled``, ``failed``, ``interrupted``, ``running`` when
    ``stop`` was set, or ``gone`` when the scenario was deleted with its bin meanwhile, a
    normal end that is logged at INFO)."""
    # nothing read is refreshed behind the run's back: it holds no ORM object across a commit
    with Session(engine, expire_on_commit=False) as session:
        try:
            run = _load_run(session, scenario_id)
            status = GONE if run is None else _send_all(session, run, settings, stop)
        except Exception as error:  # a run must end with a status, whatever went wrong
            log.exception("scenario %s failed", scenario_id)
            session.rollback()
            _finish(session, scenario_id, FAILED, settings.now(), str(error)[:500])
            return FAILED
    if status == GONE:
        log.info("scenario %s ended: it was deleted with its bin", scenario_id)
    return status


@dataclass(frozen=True)
class _Run:
    """What a run reads of its scenario once, before the first send."""

    scenario_id: int
    url: str
    append_path: bool
    resign: dict[str, Any] | None
    sends: list[Send]


def _load_run(session: Session, scenario_id: int) -> _Run | None:
    """The scenario's plan and target, and the bin's signing settings when it re-signs; None
    when the scenario is gone."""
    scenario = session.get(Scenario, scenario_id)
    if scenario is None:
        return None
    spec = scenario.spec or {}
    resign = None
    if spec.get("resign"):
        found = session.get(Bin, scenario.bin_id)
        if found is None:
            return None
        resign = {
            "scheme": found.signature_scheme,
            "secret": found.signature_secret,
            "header": found.signature_header,
        }
    run = _Run(
        scenario.id, scenario.url, bool(spec.get("append_path", True)), resign, planned(scenario)
    )
    session.rollback()
    return run


def _send_all(session: Session, run: _Run, settings: RunSettings, stop: threading.Event) -> str:
    warm_up()
    started = settings.monotonic()
    skipped = 0
    for position, step in enumerate(run.sends):
        # read before the wait, so that at its moment only the send itself remains
        captured = session.get(CapturedRequest, step.request_id)
        if captured is not None:
            session.expunge(captured)  # kept as loaded through the wait's fresh snapshots
        if not _wait_until(session, run.scenario_id, started + step.at_ms / 1000, settings, stop):
            if stop.is_set():
                # the server is stopping: say so now rather than leave it to a sweep
                _finish(
                    session,
                    run.scenario_id,
                    INTERRUPTED,
                    settings.now(),
                    f"interrupted after {position} of {len(run.sends)} sends: the server stopped",
                )
            return _status(session, run.scenario_id)
        attempt = None if captured is None else _send_one(run, captured, settings)
        kept = _count_send(session, run.scenario_id, attempt)
        if kept is None:
            return GONE
        if not kept:
            skipped += 1
        if settings.report is not None:
            settings.report(position, step, attempt if kept else None)
    error = f"{skipped} capture(s) were deleted before their send was recorded" if skipped else None
    _finish(session, run.scenario_id, DONE, settings.now(), error)
    return _status(session, run.scenario_id)


def _count_send(session: Session, scenario_id: int, attempt: Replay | None) -> bool | None:
    """Keep a send's attempt record and count the send on the scenario; committed. True when
    the attempt was kept, False when there was none or its capture was deleted meanwhile, None
    when the scenario itself was (with its bin).

    A send is counted even when the scenario was cancelled while it was in flight: it was made.
    """
    failed = attempt is not None and send_failed(attempt.status_code)
    kept = attempt is not None and keep_attempt(session, attempt)
    counted = session.execute(
        update(Scenario)
        .where(Scenario.id == scenario_id)
        .values(done=Scenario.done + 1, failed=Scenario.failed + int(failed))
    )
    session.commit()
    return kept if getattr(counted, "rowcount", 0) else None


def _finish(
    session: Session, scenario_id: int, status: str, now: datetime, error: str | None
) -> None:
    """End a running scenario with ``status`` (a cancelled one stays cancelled); committed."""
    session.execute(
        update(Scenario)
        .where(Scenario.id == scenario_id, Scenario.status == RUNNING)
        .values(status=status, finished_at=now, error=error)
    )
    session.commit()


def _send_one(run: _Run, captured: CapturedRequest, settings: RunSettings) -> Replay:
    """Send one capture; the attempt record, not yet added (a URL that cannot be used is one
    too)."""
    moment = settings.now()
    try:
        outgoing = prepare_outgoing(
            captured, run.url, append_path=run.append_path, resign=run.resign, now=moment
        )
    except OutgoingError as error:
        return Replay(
            request_id=captured.id,
            kind="scenario",
            url=run.url,
            method=captured.method,
            error=error.message,
            created_at=moment,
            scenario_id=run.scenario_id,
        )
    outcome = send(outgoing, timeout=settings.timeout, policy=settings.outgoing)
    return attempt_record(
        captured.id, "scenario", outgoing, outcome, moment, scenario_id=run.scenario_id
    )


def _wait_until(
    session: Session,
    scenario_id: int,
    deadline: float,
    settings: RunSettings,
    stop: threading.Event,
) -> bool:
    """Wait for a send's time; False when the scenario was cancelled or the runner stops."""
    while True:
        if _status(session, scenario_id) != RUNNING:
            return False
        left = deadline - settings.monotonic()
        if left <= 0:
            return True
        if settings.wait(stop, min(left, POLL_SECONDS)):
            return False


def _status(session: Session, scenario_id: int) -> str:
    status = session.execute(select(Scenario.status).where(Scenario.id == scenario_id)).scalar()
    session.rollback()  # a fresh snapshot next time (a cancel commits elsewhere)
    return status or GONE


class ScenarioRunner:
    """The background thread of a serving process that claims queued scenarios and runs each
    in a thread of its own (``RUNNING_PER_PROCESS`` at most), and marks stalled ones."""

    def __init__(
        self, engine: Engine, *, timeout: float, outgoing: OutgoingPolicy = ANYWHERE
    ) -> None:
        self.engine = engine
        self.settings = RunSettings(timeout=timeout, outgoing=outgoing)
        # a send may take the whole timeout; past twice that and half a minute, a run is dead
        self.grace = timeout * 2 + 30
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._runs: list[threading.Thread] = []

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self.run, name="receiver-scenarios", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Look for queued scenarios now (one was just asked for)."""
        self._wake.set()

    def run(self) -> None:
        """Claim and start queued scenarios until stopped; sweep stalled ones."""
        while not self._stop.is_set():
            try:
                self.round()
            except Exception:  # the runner must outlive a transient database error
                log.exception("scenario round failed; trying again")
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()

    def round(self) -> int:
        """One look: mark stalled scenarios, then claim and start what fits; returns how many
        were started."""
        self._runs = [thread for thread in self._runs if thread.is_alive()]
        free = RUNNING_PER_PROCESS - len(self._runs)
        started = 0
        with Session(self.engine) as session:
            sweep_interrupted(session, self.settings.now(), self.grace)
            if free <= 0:
                return 0
            for scenario_id in pending_ids(session, free):
                if not claim(session, scenario_id, self.settings.now()):
                    continue
                thread = threading.Thread(
                    target=run_scenario,
                    args=(self.engine, scenario_id, self.settings, self._stop),
                    name=f"receiver-scenario-{scenario_id}",
                    daemon=True,
                )
                thread.start()
                self._runs.append(thread)
                started += 1
        return started

    def stop(self) -> None:
        """Stop claiming, and stop the runs before their next send (marked ``interrupted``);
        wait for the threads."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for thread in self._runs:
            thread.join(timeout=self.settings.timeout + 5)
