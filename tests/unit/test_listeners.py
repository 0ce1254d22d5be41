"""What a listener may ask for, stated where ``receiver listen`` can read it without the
server's stack (capture/listeners.py), and the same as what the feed enforces."""

from __future__ import annotations

from receiver.capture import feed
from receiver.capture import listeners


def test_the_listeners_limits_are_the_feeds():
    for name in ("MAX_WAIT", "CONNECTED_SECONDS", "MAX_EVENTS", "EVENT_MAX", "PATH_PREFIX_MAX"):
        assert getattr(listeners, name) == getattr(feed, name), name
    assert listeners.LISTENER_NAME.pattern == feed.LISTENER_NAME.pattern
