"""``receiver forward-worker``: forward queued captures in a process of its own."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING
from typing import Any

import click

from receiver.cli.context import with_app

if TYPE_CHECKING:
    from receiver.delivery.forwarding import ForwardPolicy
    from receiver.delivery.forwarding import ForwardWorker
    from receiver.storage.writelock import WriteLock


@click.command("forward-worker")
@click.option("--once", is_flag=True, help="Forward what is due now, then exit.")
@with_app
def forward_worker_command(once: bool) -> None:
    """Forward captured requests to their bins' forward URLs until Ctrl-C (or SIGTERM).

    Run it instead of the per-process forwarding threads (RECEIVER_FORWARD_WORKER=0); several
    workers may run at once, each job is claimed by one of them.
    """
    from flask import current_app

    from receiver.storage.db import db
    from receiver.storage.migrate import prepare_database

    prepare_database(current_app)
    from receiver.web.services import services

    worker = services(current_app).forwarder
    if once:
        counts = forward_once(db.engine, worker.policy, worker.write_lock)
        total = sum(counts.values())
        parts = ", ".join(f"{counts[status]} {status}" for status in sorted(counts))
        noun = "attempt" if total == 1 else "attempts"
        click.echo(f"forwarded: {total} {noun}" + (f" ({parts})" if parts else ""))
        return
    _run_until_stopped(worker)


def forward_once(engine: Any, policy: ForwardPolicy, write_lock: WriteLock) -> Counter[str]:
    """Deliver every job that is due as of now; the jobs' new statuses, counted.

    Due is judged at the start: a job that fails is rescheduled into the future and is not tried
    again in this run, however slow the run is; a job that waited for an earlier one of its bin
    is sent once that one is done.
    """
    from sqlalchemy.orm import Session

    from receiver.delivery.forwarding import claim_jobs
    from receiver.delivery.forwarding import deliver
    from receiver.storage.models import utcnow

    lease = timedelta(seconds=policy.timeout * 2 + 5)
    counts: Counter[str] = Counter()
    started = utcnow()
    with Session(engine) as session:
        # one claim per delivery, so that no lease runs out while it waits its turn
        while ids := claim_jobs(session, started, limit=1, lease=lease, write_lock=write_lock):
            counts[deliver(session, ids[0], policy, utcnow(), write_lock=write_lock)] += 1
    return counts


def _run_until_stopped(worker: ForwardWorker) -> None:
    """Run the app's forwarding thread until Ctrl-C or SIGTERM, then let it finish its job."""
    stop = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    worker.start()
    click.echo("forwarding queued requests; Ctrl-C to stop")
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
        signal.signal(signal.SIGTERM, previous)
    click.echo("stopped")
