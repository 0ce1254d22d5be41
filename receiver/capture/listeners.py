"""What a listener (``receiver listen``) may ask of the change feed, and when it counts as
connected; pure, so that the command checks its options without the server's stack.

A listener that stops cleanly says so (``leave``): it shows as disconnected at once. One that is
killed or cut off counts as connected until it has not polled or reported for
``CONNECTED_SECONDS`` (a long poll waits up to ``MAX_WAIT``).
"""

from __future__ import annotations

import re
from datetime import datetime
from datetime import timedelta
from typing import Any

MAX_WAIT = 30
CONNECTED_SECONDS = MAX_WAIT + 15
MAX_EVENTS = 20
EVENT_MAX = 128
PATH_PREFIX_MAX = 1024
LISTENER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_connected(listener: Any, now: datetime) -> bool:
    """True when the listener polled or reported recently and has not left since."""
    seen = listener.last_seen_at
    if seen is None or now - seen > timedelta(seconds=CONNECTED_SECONDS):
        return False
    left = listener.left_at
    return left is None or seen > left


def leave(listener: Any, now: datetime) -> None:
    """Note that the listener stopped cleanly: disconnected from now until it polls again."""
    listener.left_at = now
