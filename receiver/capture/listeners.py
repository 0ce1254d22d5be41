"""What a listener (``receiver listen``) may ask of the change feed; pure, so that the command
checks its options without the server's stack (capture/feed.py enforces the same values)."""

from __future__ import annotations

import re

MAX_WAIT = 30
CONNECTED_SECONDS = MAX_WAIT + 15
MAX_EVENTS = 20
EVENT_MAX = 128
PATH_PREFIX_MAX = 1024
LISTENER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
