"""The clock tests inject instead of sleeping: time moves only when the code under test waits
on it (or the test moves it), so a test of timing asserts exact moments on any machine."""

from __future__ import annotations

import threading
from datetime import UTC
from datetime import datetime
from datetime import timedelta


class FakeClock:
    """A monotonic clock, a wall clock that follows it, and a wait that takes no real time."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start or datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
        self.seconds = 0.0
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.seconds

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.monotonic())

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.seconds += seconds

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """``stop.wait(seconds)`` in fake time: the clock moves on unless ``stop`` is set;
        True when it is."""
        self.waits.append(seconds)
        if not stop.is_set():
            self.advance(seconds)
        return stop.is_set()


# A bound on real time, for the few tests where real time is the point (a deadline that must cut a
# silent target, a pattern or a document that must not hold a worker): no loaded machine needs
# this long for a working implementation, and each broken one it guards against takes minutes or
# never ends (every use says which). Everything else waits on conditions, or on a FakeClock.
NEVER_SECONDS = 30.0
