"""The change feed (``GET /api/bins/<id>/feed``): a cursor over capture numbers that never skips
a committed capture, its filters, its long poll and the bound on how many polls a process holds.

The concurrent proof (two ``receiver serve`` processes, concurrent senders, a follower) is in
tests/system/test_feed_servers.py.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from actions import store_captures
from clocks import NEVER_SECONDS
from flask import Flask
from flask.testing import FlaskClient
from gunicorn.config import Config
from gunicorn.glogging import Logger
from servers import wait_until
from sqlalchemy import text

from receiver.capture import feed
from receiver.capture import listeners
from receiver.capture.request import RawRequest
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.web.api.feed import idle_gap
from receiver.web.services import services
from receiver.web.serving import CaseKeepingWorker
from receiver.web.serving import HoldingPool
from receiver.web.serving import client_left


def post(path: str = "/", body: bytes = b"{}", query: str = "") -> RawRequest:
    return RawRequest("POST", path, query, [("Content-Type", "application/json")], body)


def read(client: FlaskClient, bin_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/bins/{bin_id}/feed", query_string=params)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def test_the_feed_gives_captures_after_the_cursor_oldest_first_with_their_bodies(
    app: Flask, client: FlaskClient, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    ids = store_captures(app, bin_id, [post(f"/{n}", f'{{"n": {n}}}'.encode()) for n in range(5)])
    page = read(client, bin_id, after=2)
    assert [item["seq"] for item in page["requests"]] == [3, 4, 5]
    assert [item["id"] for item in page["requests"]] == ids[2:]
    assert base64.b64decode(page["requests"][0]["body_base64"]) == b'{"n": 2}'
    assert page["requests"][0]["path"] == "/2"
    assert (page["next"], page["latest"], page["removed"], page["retry_after"]) == (5, 5, 0, None)
    assert read(client, bin_id, after=5)["requests"] == []
    assert read(client, bin_id, after=5)["next"] == 5


def test_following_next_gives_every_capture_once_page_by_page(
    app: Flask, client: FlaskClient, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    ids = store_captures(app, bin_id, [post() for _ in range(7)])
    seen: list[int] = []
    cursor = 0
    for _ in range(4):
        page = read(client, bin_id, after=cursor, limit=3)
        seen += [item["id"] for item in page["requests"]]
        cursor = page["next"]
    assert seen == ids
    assert cursor == 7


def test_a_page_stops_at_its_byte_budget_but_a_large_capture_still_comes(
    app: Flask, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    store_captures(app, bin_id, [post(body=b"x" * 1000) for _ in range(3)])
    with app.app_context():
        page = feed.read_feed(db.session, bin_id, after=0, max_bytes=1500)
        assert [row.seq for row in page.requests] == [1]
        assert page.next == 1
        page = feed.read_feed(db.session, bin_id, after=1, max_bytes=2000)
        assert [row.seq for row in page.requests] == [2, 3]
        assert page.next == 3


def test_filters_pick_captures_and_the_cursor_passes_the_others(
    app: Flask, client: FlaskClient, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    store_captures(
        app,
        bin_id,
        [post("/github/push"), post("/GitHub/x"), post("/stripe"), post("/github"), post("/")],
    )
    page = read(client, bin_id, path_prefix="/github")
    assert [item["path"] for item in page["requests"]] == ["/github/push", "/github"]
    assert page["next"] == 5
    none = read(client, bin_id, after=0, path_prefix="/nothing")
    assert none["requests"] == [] and none["next"] == 5


def test_the_event_filter_matches_detected_and_ambiguous_events(
    app: Flask, client: FlaskClient, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    sent = client.post(
        f"/api/bins/{bin_id}/send", json={"provider": "appery", "event": "PROJECT_BUILD_IOS_FAIL"}
    )
    assert sent.status_code == 201, sent.get_json()
    store_captures(app, bin_id, [post()])
    page = read(client, bin_id, event=["PROJECT_BUILD_IOS_FAIL", "other"])
    assert [item["event"]["event"] for item in page["requests"]] == ["PROJECT_BUILD_IOS_FAIL"]
    assert page["next"] == 2


def test_evicted_captures_are_counted_not_passed_over_silently(
    client: FlaskClient, bins: Any, make_app: Any
) -> None:
    bin_id = bins.create()["id"]
    keeping_three = make_app(RECEIVER_MAX_REQUESTS_PER_BIN=3)
    ids = store_captures(keeping_three, bin_id, [post() for _ in range(5)])
    page = read(client, bin_id, after=0)
    assert page["removed"] == 2
    assert [item["id"] for item in page["requests"]] == ids[2:]
    assert read(client, bin_id, after=page["next"])["removed"] == 0
    client.delete(f"/api/bins/{bin_id}/requests")
    cleared = read(client, bin_id, after=4)
    assert (cleared["removed"], cleared["next"], cleared["requests"]) == (1, 5, [])


def test_a_private_bin_without_its_token_answers_like_a_missing_bin(
    client: FlaskClient, bins: Any
) -> None:
    made = bins.create(private=True)
    hidden = client.get(f"/api/bins/{made['id']}/feed")
    missing = client.get("/api/bins/no-such-bin/feed")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json() == missing.get_json()
    wrong = client.get(
        f"/api/bins/{made['id']}/feed", headers={"Authorization": "Bearer not-the-token"}
    )
    assert wrong.status_code == 404
    shown = client.get(
        f"/api/bins/{made['id']}/feed", headers={"Authorization": f"Bearer {made['token']}"}
    )
    assert shown.status_code == 200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"after": "-1"}, "after"),
        ({"after": "x"}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"wait": "31"}, "wait"),
        ({"wait": "1.5"}, "wait"),
        ({"path_prefix": "github"}, "path_prefix"),
        ({"path_prefix": "/" + "x" * 1024}, "path_prefix"),
        ({"event": [f"e{n}" for n in range(21)]}, "event"),
        # counted as given: 21 that are 20 once trimmed are still more than the document allows
        ({"event": [f"e{n}" for n in range(20)] + ["\u2003e0 "]}, "at most 20 event filters"),
        ({"event": "e" * 129}, "event"),
        ({"listener": "-bad"}, "listener name"),
        # empty values are refused, not taken as "not given"
        ({"after": "", "limit": ""}, "after"),
        ({"limit": ""}, "limit"),
        ({"wait": "+1"}, "wait"),
        ({"after": "\u0663"}, "after"),  # an Arabic-Indic digit: int() would take it
        ({"after": "9" * 5000}, "after"),
        ({"event": ""}, "event filter is empty"),
        ({"path_prefix": ""}, "path_prefix"),
    ],
)
def test_unusable_parameters_answer_400_json(
    client: FlaskClient, bins: Any, params: dict[str, Any], message: str
) -> None:
    bin_id = bins.create()["id"]
    response = client.get(f"/api/bins/{bin_id}/feed", query_string=params)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request" and message in error["message"]


def when_waiting(app: Flask, step: Any, polls: int = 1) -> threading.Thread:
    """Run ``step`` in a thread once ``polls`` long polls of the app are waiting."""

    def run() -> None:
        wait_until(lambda: services(app).feed.waiting >= polls, what="a long poll to wait")
        step()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_long_poll_answers_as_soon_as_a_capture_arrives(
    app: Flask, client: FlaskClient, bins: Any, make_app: Any
) -> None:
    bin_id = bins.create()["id"]
    other = make_app()  # another process's store, as far as the feed can tell
    sender = when_waiting(app, lambda: store_captures(other, bin_id, [post("/late")]))
    try:
        # held for the longest wait there is: only the capture can end it with a page
        page = read(client, bin_id, after=0, wait=listeners.MAX_WAIT)
    finally:
        sender.join()
    assert [item["path"] for item in page["requests"]] == ["/late"]


def test_a_long_poll_with_nothing_new_waits_the_seconds_asked(
    client: FlaskClient, bins: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_id = bins.create()["id"]
    asked: list[float] = []
    original = feed.FeedWatcher.wait

    def noted(self: feed.FeedWatcher, bin_id: str, seen: int, timeout: float, **kw: Any) -> Any:
        asked.append(timeout)
        return original(self, bin_id, seen, timeout, **kw)

    monkeypatch.setattr(feed.FeedWatcher, "wait", noted)
    started = time.monotonic()
    page = read(client, bin_id, wait=1)
    # it waited (a busy machine only makes that longer), and never for more than it was asked
    assert time.monotonic() - started >= 0.9
    assert len(asked) == 1 and 0 < asked[0] <= 1
    assert (page["requests"], page["next"], page["retry_after"]) == ([], 0, None)


def test_the_watcher_gives_up_a_wait_at_its_timeout(app: Flask, bins: Any) -> None:
    bin_id = bins.create()["id"]
    with app.app_context():
        watcher = feed.FeedWatcher(db.engine, slots=1)
    woke: list[bool | None] = []
    started = time.monotonic()
    waiter = threading.Thread(target=lambda: woke.append(watcher.wait(bin_id, 0, 0.5)))
    waiter.start()
    try:
        waiter.join(NEVER_SECONDS)  # one that ignored its timeout would wait for a capture
        assert woke == [False]
        assert time.monotonic() - started >= 0.5
    finally:
        watcher.close()


def test_a_waiter_whose_client_left_gives_its_slot_back(app: Flask, bins: Any) -> None:
    """A stopped listener's poll is not held until its timeout (woken by every capture and
    reading the feed for nobody): the slot is free again once the client is seen gone."""
    bin_id = bins.create()["id"]
    with app.app_context():
        watcher = feed.FeedWatcher(db.engine, slots=1)
    gone = threading.Event()
    woke: list[bool | None] = []
    waiter = threading.Thread(
        target=lambda: woke.append(watcher.wait(bin_id, 0, 600, client_left=gone.is_set))
    )
    waiter.start()
    try:
        wait_until(lambda: watcher.waiting == 1, what="the poll to wait")
        assert watcher.wait(bin_id, 0, 0) is None  # its one slot is taken
        gone.set()
        waiter.join(NEVER_SECONDS)  # one that ignored its client would wait 600 s
        assert woke == [False]
        assert watcher.waiting == 0
        assert watcher.wait(bin_id, 0, 0) is False  # the slot is free: a wait is held again
    finally:
        watcher.close()


def test_the_server_is_told_while_a_poll_is_held(app: Flask, bins: Any) -> None:
    """The worker's pool grows by a thread for each held poll (web.serving.HoldingPool): the
    watcher says +1 when it holds a poll and -1 when the poll ends, and nothing for a poll it
    could not hold."""
    bin_id = bins.create()["id"]
    with app.app_context():
        watcher = feed.FeedWatcher(db.engine, slots=1)
    told: list[int] = []
    watcher.holding = told.append
    gone = threading.Event()
    waiter = threading.Thread(
        target=watcher.wait, args=(bin_id, 0, 600), kwargs={"client_left": gone.is_set}
    )
    waiter.start()
    try:
        wait_until(lambda: watcher.waiting == 1, what="the poll to wait")
        assert told == [1]
        assert watcher.wait(bin_id, 0, 0) is None  # not held: nothing said
        assert told == [1]
        gone.set()
        waiter.join(NEVER_SECONDS)
        assert told == [1, -1]
    finally:
        gone.set()
        watcher.close()


def test_a_client_is_seen_leaving_by_its_connection() -> None:
    here, there = socket.socketpair()
    with here, there:
        left = client_left({"gunicorn.socket": here})
        assert not left()
        there.sendall(b"GET /next HTTP/1.1\r\n")  # a pipelined request: still there
        assert not left()
        assert here.recv(64) == b"GET /next HTTP/1.1\r\n"
        there.close()
        assert left()
    assert not client_left({})()  # a server that gives no socket: never taken for gone


def test_a_long_poll_keeps_waiting_past_captures_its_filter_leaves_out(
    app: Flask, client: FlaskClient, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    sender = when_waiting(app, lambda: store_captures(app, bin_id, [post("/other")]))
    started = time.monotonic()
    try:
        page = read(client, bin_id, wait=2, path_prefix="/wanted")
    finally:
        sender.join()
    assert page["requests"] == []
    assert page["next"] == 1
    assert time.monotonic() - started >= 1.9  # woken for /other, it went back to waiting


def test_a_poll_beyond_the_process_budget_is_answered_at_once(make_app: Any, bins: Any) -> None:
    app = make_app(RECEIVER_FEED_WAITERS=1)
    client = app.test_client()
    bin_id = client.post("/api/bins", json={}).get_json()["id"]
    holder = threading.Thread(
        target=read, args=(client, bin_id), kwargs={"wait": listeners.MAX_WAIT}
    )
    holder.start()
    try:
        wait_until(lambda: services(app).feed.waiting >= 1, what="the first poll to wait")
        # the only slot is taken: this poll is not held (a held one has no retry_after)
        page = read(client, bin_id, wait=3)
        assert page["retry_after"] == 1 and page["requests"] == []
    finally:
        store_captures(app, bin_id, [post()])  # ends the first poll
        holder.join()


def test_without_waiting_slots_every_poll_is_answered_at_once(make_app: Any) -> None:
    app = make_app(RECEIVER_FEED_WAITERS=0)
    client = app.test_client()
    bin_id = client.post("/api/bins", json={}).get_json()["id"]
    page = read(client, bin_id, wait=5)
    assert page["retry_after"] == 1


def test_a_bin_deleted_during_a_long_poll_answers_404(
    app: Flask, client: FlaskClient, bins: Any, make_app: Any
) -> None:
    bin_id = bins.create()["id"]
    other = make_app().test_client()
    timer = threading.Timer(0.3, lambda: other.delete(f"/api/bins/{bin_id}"))
    timer.start()
    try:
        response = client.get(f"/api/bins/{bin_id}/feed", query_string={"wait": 10})
    finally:
        timer.join()
    assert response.status_code == 404


def test_closing_the_watcher_wakes_its_waiters(app: Flask, bins: Any) -> None:
    bin_id = bins.create()["id"]
    with app.app_context():
        watcher = feed.FeedWatcher(db.engine, slots=2)
    woke: list[bool | None] = []
    # a wait of ten minutes: only the close can end it within the test
    waiter = threading.Thread(target=lambda: woke.append(watcher.wait(bin_id, 0, 600)))
    waiter.start()
    wait_until(lambda: watcher.waiting >= 1, what="the waiter to wait")
    watcher.close()
    waiter.join(NEVER_SECONDS)
    assert woke == [False]
    assert watcher.wait(bin_id, 0, 5) is False


def test_the_request_lists_after_cursor_continues_from_the_newest_id_seen(
    app: Flask, client: FlaskClient, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    ids = store_captures(app, bin_id, [post() for _ in range(5)])
    page = bins.requests(bin_id, after=ids[1], limit=2)
    assert [item["id"] for item in page["requests"]] == [ids[3], ids[2]]
    assert page["next"] is None
    following = bins.requests(bin_id, after=page["requests"][0]["id"])
    assert [item["id"] for item in following["requests"]] == [ids[4]]


def timed_feed_reads(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When each feed read is made from now on (``time.monotonic()``)."""
    reads: list[float] = []
    original = feed.read_feed

    def counted(*args: Any, **kwargs: Any) -> feed.FeedPage:
        reads.append(time.monotonic())
        return original(*args, **kwargs)

    monkeypatch.setattr(feed, "read_feed", counted)
    return reads


@contextmanager
def left_out_stream(app: Flask, bin_id: str) -> Iterator[None]:
    """A capture to ``/other`` every 50 ms while the block runs (a filter on ``/wanted``
    leaves them all out)."""
    stop = threading.Event()

    def stream() -> None:
        while not stop.wait(0.05):
            store_captures(app, bin_id, [post("/other")])

    sender = threading.Thread(target=stream)
    sender.start()
    try:
        yield
    finally:
        stop.set()
        sender.join()


def test_a_filtered_long_poll_woken_for_nothing_reads_less_and_less_often(
    app: Flask, client: FlaskClient, bins: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_id = bins.create()["id"]
    reads = timed_feed_reads(monkeypatch)
    with left_out_stream(app, bin_id):
        page = read(client, bin_id, wait=2, path_prefix="/wanted")
    assert page["requests"] == []
    # woken every 0.1 s it would read about 20 times; with the pauses (idle_gap) at most 8 (a
    # busy machine only wakes it less often)
    assert len(reads) <= 8, [round(b - a, 2) for a, b in zip(reads, reads[1:], strict=False)]


def test_the_next_poll_of_a_filter_woken_for_nothing_keeps_its_pace(
    app: Flask, client: FlaskClient, bins: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``receiver listen`` polls again as soon as a poll ends: when the filter left out every
    capture up to its cursor, the new poll pauses the longest between its reads from the start,
    instead of reading at 0.1, 0.2, 0.4 and 0.8 s again (after a capture it let through, the
    next poll starts quick: see the runs' test below)."""
    bin_id = bins.create()["id"]
    reads = timed_feed_reads(monkeypatch)
    with left_out_stream(app, bin_id):
        first = read(client, bin_id, wait=1, path_prefix="/wanted")
        reads.clear()
        second = read(client, bin_id, wait=2, after=first["next"], path_prefix="/wanted")
    assert first["requests"] == second["requests"] == []
    # the first read, then one a second (from the start: a second, not 0.1, 0.2, 0.4, 0.8)
    assert len(reads) <= 4, [round(b - a, 2) for a, b in zip(reads, reads[1:], strict=False)]


def test_the_pause_between_fruitless_reads_doubles_from_a_tenth_of_a_second_to_a_second() -> None:
    assert [idle_gap(n) for n in range(7)] == [0.0, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_closing_the_watcher_also_wakes_a_waiter_held_back(app: Flask, bins: Any) -> None:
    bin_id = bins.create()["id"]
    with app.app_context():
        watcher = feed.FeedWatcher(db.engine, slots=1)
    woke: list[bool | None] = []
    held_back = threading.Thread(
        target=lambda: woke.append(watcher.wait(bin_id, -1, 600, not_before=time.monotonic() + 600))
    )
    held_back.start()
    # any number "moved" past -1, but the waiter is held back for ten minutes
    wait_until(lambda: watcher.waiting == 1, what="the waiter")
    watcher.close()
    held_back.join(NEVER_SECONDS)
    assert woke == [False]


def count_reads(watcher: feed.FeedWatcher) -> list[list[str]]:
    """The bins of each read the watcher makes from now on."""
    reads: list[list[str]] = []
    original = watcher._read

    def counted(bins_read: list[str]) -> dict[str, int]:
        reads.append(bins_read)
        return original(bins_read)

    watcher._read = counted  # type: ignore[method-assign]
    return reads


def test_a_poll_held_back_costs_the_watcher_nothing_until_its_time(app: Flask, bins: Any) -> None:
    """A filtered listener's poll held back after reads that found nothing for it (idle_gap)
    needs no news of its bin before its time: the watcher neither reads nor listens for it
    meanwhile, however many captures arrive. A poll that can use news is served at once."""
    held_bin, other = bins.create()["id"], bins.create()["id"]
    with app.app_context():
        watcher = feed.FeedWatcher(db.engine, slots=2, interval=0.01)
    reads = count_reads(watcher)
    woken: dict[str, bool | None] = {}

    def poll(name: str, bin_id: str, not_before: float) -> threading.Thread:
        def waiting() -> None:
            woken[name] = watcher.wait(bin_id, 0, 600, not_before=not_before)

        thread = threading.Thread(target=waiting)
        thread.start()
        return thread

    try:
        held = poll("held", held_bin, time.monotonic() + 600)
        wait_until(lambda: watcher.waiting == 1, what="the held-back poll")
        for _ in range(5):
            bins.ingest(held_bin, body=b"{}")
        assert reads == []
        assert watcher.listener is None or not watcher.listener.ready

        ready = poll("ready", other, 0.0)
        wait_until(lambda: bool(reads), what="the watcher to read for the poll that can use it")
        bins.ingest(other, body=b"{}")
        ready.join(NEVER_SECONDS)
    finally:
        watcher.close()
    held.join(NEVER_SECONDS)
    assert woken == {"ready": True, "held": False}
    assert reads[0] == sorted([held_bin, other])


def test_on_postgresql_the_watcher_is_woken_by_notifications_not_by_reading(
    app: Flask, bins: Any
) -> None:
    """A commit that moves a bin's sequence notifies the feed's channel (a trigger); the watcher
    listens, so after the one read that starts a wait it reads nothing while captures arrive."""
    if not services(app).feed.listens:
        pytest.skip("SQLite has no LISTEN/NOTIFY: its watcher reads every tenth of a second")
    bin_id = bins.create()["id"]
    watcher = services(app).feed
    reads = count_reads(watcher)
    watcher.fallback = 3600  # no read but the first, however slow this machine is
    woken: list[bool | None] = []
    waiter = threading.Thread(target=lambda: woken.append(watcher.wait(bin_id, 0, 60)))
    waiter.start()
    wait_until(lambda: bool(reads), what="the watcher's first read")
    assert reads == [[bin_id]]

    bins.ingest(bin_id, body=b"{}")
    waiter.join(NEVER_SECONDS)

    assert woken == [True]
    assert reads == [[bin_id]]  # woken by the notification alone


def listening_watcher(app: Flask) -> tuple[feed.FeedWatcher, Any]:
    """The app's feed watcher and its LISTEN connection; the test is skipped on SQLite."""
    watcher = services(app).feed
    if watcher.listener is None:
        pytest.skip("SQLite has no LISTEN/NOTIFY: its watcher reads every tenth of a second")
    return watcher, watcher.listener


def test_on_postgresql_a_poll_joining_a_watched_bin_costs_no_read(app: Flask, bins: Any) -> None:
    """A listener's poll waits again after every read; while its bin is watched already the
    notifications keep the watcher up to date, so only the bin's first waiter makes it read."""
    watcher, listener = listening_watcher(app)
    bin_id = bins.create()["id"]
    reads = count_reads(watcher)
    turns: list[float] = []
    moved = listener.moved

    def counted_turn(timeout: float) -> dict[str, int]:
        turns.append(timeout)
        return moved(timeout)

    listener.moved = counted_turn  # type: ignore[method-assign]
    watcher.fallback = 3600
    woken: list[bool | None] = []
    waiters = [
        threading.Thread(target=lambda: woken.append(watcher.wait(bin_id, 0, 60))) for _ in range(2)
    ]
    waiters[0].start()
    wait_until(lambda: bool(reads), what="the watcher's first read")
    waiters[1].start()
    wait_until(lambda: watcher.waiting == 2, what="the second waiter")
    joined_at = len(turns)
    # two turns of the watcher's loop: the second starts after the join, where a read would be
    wait_until(lambda: len(turns) >= joined_at + 2, what="two turns of the watcher")

    bins.ingest(bin_id, body=b"{}")
    for waiter in waiters:
        waiter.join(NEVER_SECONDS)

    assert woken == [True, True]
    assert reads == [[bin_id]]


def test_on_postgresql_notifications_nobody_can_use_yet_are_taken_in_one_go(
    app: Flask, bins: Any
) -> None:
    """Every commit into any bin notifies; while every poll is held back or has its news
    already, the watcher does not turn for each of them (a wake-up per capture, which cost
    ingest as much as the listeners' reads): they gather on the connection and the next poll
    that can use them takes them in one turn."""
    watcher, listener = listening_watcher(app)
    bin_id = bins.create()["id"]
    watcher.fallback = watcher.linger = 3600
    turns: list[dict[str, int]] = []
    moved = listener.moved

    def counted(timeout: float) -> dict[str, int]:
        found = moved(timeout)
        turns.append(found)
        return found

    listener.moved = counted  # type: ignore[method-assign]
    woken: dict[str, bool | None] = {}

    def poll(name: str, seen: int, not_before: float = 0.0) -> threading.Thread:
        def waiting() -> None:
            woken[name] = watcher.wait(bin_id, seen, 600, not_before=not_before)

        thread = threading.Thread(target=waiting)
        thread.start()
        return thread

    try:
        first = poll("first", 0)
        wait_until(lambda: listener.ready, what="the watcher to listen")
        # held back for ten minutes, it keeps the bin watched after the first poll is answered
        held = poll("held", 1, time.monotonic() + 600)
        wait_until(lambda: watcher.waiting == 2, what="the held-back poll")
        bins.ingest(bin_id, body=b"{}")
        first.join(NEVER_SECONDS)
        gathered_from = len(turns)

        for _ in range(10):
            bins.ingest(bin_id, body=b"{}")
        assert len(turns) == gathered_from  # no turn while nobody could use one

        poll("next", 1).join(NEVER_SECONDS)
    finally:
        watcher.close()
    held.join(NEVER_SECONDS)
    assert woken == {"first": True, "next": True, "held": False}
    taken = [turn for turn in turns[gathered_from:] if turn]
    assert len(taken) == 1 and taken[0][bin_id] > 1, turns[gathered_from:]


def test_on_postgresql_the_watcher_stops_listening_when_nobody_waits(app: Flask, bins: Any) -> None:
    """A connection that listens and never reads makes PostgreSQL keep every notification for
    it, in a queue the whole server shares, and a full queue refuses every capture's commit.
    So the watcher listens only while polls wait (and ``linger`` seconds after the last one),
    and listens again for the next one."""
    watcher, listener = listening_watcher(app)
    bin_id = bins.create()["id"]
    watcher.linger = 0.05
    woken: list[bool | None] = []

    def poll(seen: int) -> int:
        """A poll woken by a capture; the pid of the backend the watcher listened on."""
        waiter = threading.Thread(target=lambda: woken.append(watcher.wait(bin_id, seen, 60)))
        waiter.start()
        wait_until(lambda: listener.ready, what="the watcher to listen")
        backend = int(listener._connection.info.backend_pid)  # listening while a poll waits
        bins.ingest(bin_id, body=b"{}")
        waiter.join(NEVER_SECONDS)
        return backend

    def backend_gone(pid: int) -> bool:
        with app.app_context(), db.engine.connect() as connection:
            found = connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar()
        return found == 0

    first = poll(0)
    wait_until(lambda: not listener.ready, what="the watcher to stop listening")
    # the backend ends once the client has closed the connection, a moment later on a busy machine
    wait_until(lambda: backend_gone(first), what="the listening backend to end")

    poll(1)
    assert woken == [True, True]


def test_on_postgresql_the_watcher_listens_again_when_its_connection_is_cut(
    app: Flask, bins: Any
) -> None:
    """The LISTEN connection ended by the server (a restart, a proxy, an administrator): the
    watcher notices, listens again and is woken by the next capture, without waiting for the
    read it makes every ``fallback`` seconds."""
    watcher, listener = listening_watcher(app)
    bin_id = bins.create()["id"]
    watcher.fallback = 3600
    woken: list[bool | None] = []
    waiter = threading.Thread(target=lambda: woken.append(watcher.wait(bin_id, 0, 60)))
    waiter.start()
    wait_until(lambda: listener.ready, what="the watcher to listen")
    cut = listener._connection.info.backend_pid
    with app.app_context(), db.engine.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": cut})

    wait_until(
        lambda: listener.ready and listener._connection.info.backend_pid != cut,
        what="the watcher to listen on a new connection",
    )
    bins.ingest(bin_id, body=b"{}")
    waiter.join(NEVER_SECONDS)

    assert woken == [True]


def test_filtered_reads_skip_what_was_found_to_match_nothing(
    app: Flask, client: FlaskClient, bins: Any
) -> None:
    """Listeners filtering a loaded bin each read every capture since their cursor; a run of
    numbers that held no match is not read again, by any of them, and is never taken for
    another bin made under the same id."""
    bin_id = bins.create(id="filtered-runs")["id"]
    store_captures(app, bin_id, [post("/other") for _ in range(30)])
    wanted = feed.FeedFilter(path_prefix="/wanted")
    runs = feed.UnmatchedRuns()

    def read_from(after: int) -> feed.FeedPage:
        with app.app_context():
            return feed.read_feed(db.session, bin_id, after=after, filters=wanted, unmatched=runs)

    first = read_from(0)
    assert (first.requests, first.next, first.latest) == ([], 30, 30)
    with app.app_context():
        key = (bin_id, db.session.get(Bin, bin_id).created_at, wanted)
    assert runs.scan_from(key, 0) == runs.scan_from(key, 12) == 30  # nothing to look at again
    (match,) = store_captures(app, bin_id, [post("/wanted/1")])
    store_captures(app, bin_id, [post("/other")])
    behind = read_from(12)  # a listener further back reads from 30 on, and finds the match
    assert ([r.id for r in behind.requests], behind.next, behind.latest) == ([match], 32, 32)
    assert runs.scan_from(key, 0) == 30  # the match ends the run

    assert client.delete(f"/api/bins/{bin_id}").status_code == 204
    bins.create(id="filtered-runs")
    (again,) = store_captures(app, bin_id, [post("/wanted/2")])
    remade = read_from(0)
    assert [r.id for r in remade.requests] == [again]


def test_unmatched_runs_join_and_keep_the_furthest() -> None:
    runs = feed.UnmatchedRuns(size=2)
    runs.record("a", 0, 10)
    runs.record("a", 10, 25)  # joins: 0..25
    assert (runs.scan_from("a", 0), runs.scan_from("a", 24), runs.scan_from("a", 25)) == (
        25,
        25,
        25,
    )
    runs.record("a", 3, 7)  # inside: nothing changes
    assert runs.scan_from("a", 5) == 25
    runs.record("a", 40, 50)  # beyond a gap: the listeners moved on
    assert (runs.scan_from("a", 20), runs.scan_from("a", 45)) == (20, 50)
    # cursors the run reaches (their polls were woken for nothing); one on a match (a run
    # recorded after a match starts at it: 40) or beyond the run is not reached
    assert [runs.reaches("a", after) for after in (50, 45, 41, 40, 51)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    runs.record("a", 5, 5)  # empty: nothing
    runs.record("b", 0, 1)
    runs.record("c", 0, 1)  # over the size: the least recently recorded goes
    assert (runs.scan_from("a", 45), runs.scan_from("c", 0)) == (45, 1)


def test_receivers_worker_grows_its_pool_for_the_polls_its_app_holds(app: Flask) -> None:
    """The gunicorn worker hands its pool's `hold` to the app's watcher once the app is loaded
    (the pool is made before the app: ThreadWorker.init_process)."""

    class Loaded:
        def wsgi(self) -> Flask:
            return app

    cfg = Config()
    worker = CaseKeepingWorker(0, 0, [], Loaded(), 30, cfg, Logger(cfg))
    worker.tpool = worker.get_thread_pool()
    try:
        worker.load_wsgi()
        assert isinstance(worker.tpool, HoldingPool)
        assert services(app).feed.holding == worker.tpool.hold
    finally:
        worker.tpool.shutdown(wait=False)
        worker.tmp.close()  # the heartbeat file every gunicorn worker makes
