"""The read deadline (receiver/web/deadlines.py) on a real socket pair, with an injected clock:
what has arrived is always taken, what arrives earns time, and a sender that leaves the server
waiting past its deadline is cut."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from clocks import FakeClock

from receiver.web.deadlines import EARNED_PER_SECOND
from receiver.web.deadlines import DeadlineSocket
from receiver.web.deadlines import SlowSender

SECONDS = 2.0


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        yield ours, theirs


def test_bytes_that_have_arrived_are_taken_even_past_the_deadline(pair) -> None:
    ours, theirs = pair
    clock = FakeClock()
    deadline = DeadlineSocket(ours, SECONDS, clock.monotonic)
    theirs.sendall(b"all of it")

    clock.advance(SECONDS * 10)  # this thread waited for the CPU; the sender did not make it wait

    assert deadline.recv(64) == b"all of it"


def test_a_sender_that_leaves_the_server_waiting_past_the_deadline_is_cut(pair) -> None:
    ours, theirs = pair
    clock = FakeClock()
    deadline = DeadlineSocket(ours, SECONDS, clock.monotonic)
    clock.advance(SECONDS)

    with pytest.raises(SlowSender) as cut:
        deadline.recv(64)

    assert "2 s from its first byte" in str(cut.value)
    assert ours.gettimeout() is None  # the socket is left as gunicorn set it


def test_what_arrives_earns_a_second_for_every_64_kib(pair) -> None:
    ours, theirs = pair
    clock = FakeClock()
    deadline = DeadlineSocket(ours, SECONDS, clock.monotonic)
    piece = b"x" * (EARNED_PER_SECOND // 4)
    for _ in range(8):  # two seconds earned, a quarter at a time
        theirs.sendall(piece)
        received = b""
        while len(received) < len(piece):
            received += deadline.recv(len(piece))

    assert deadline.deadline == pytest.approx(SECONDS + 2)


def test_time_earned_runs_out_like_the_rest(pair) -> None:
    ours, theirs = pair
    clock = FakeClock()
    deadline = DeadlineSocket(ours, SECONDS, clock.monotonic)
    theirs.sendall(b"x" * (EARNED_PER_SECOND // 2))
    while deadline.deadline < SECONDS + 0.5:
        deadline.recv(EARNED_PER_SECOND)

    clock.advance(SECONDS + 0.5)
    with pytest.raises(SlowSender):
        deadline.recv(64)


def test_a_trickle_earns_next_to_nothing(pair) -> None:
    ours, theirs = pair
    clock = FakeClock()
    deadline = DeadlineSocket(ours, SECONDS, clock.monotonic)
    for _ in range(100):  # a byte at a time: a slowloris head
        theirs.sendall(b"x")
        assert deadline.recv(1) == b"x"

    assert deadline.deadline == pytest.approx(SECONDS + 100 / EARNED_PER_SECOND)


def test_a_new_request_on_the_connection_starts_a_new_deadline(pair) -> None:
    ours, theirs = pair
    clock = FakeClock()
    deadline = DeadlineSocket(ours, SECONDS, clock.monotonic)
    clock.advance(SECONDS * 5)

    deadline.renew(SECONDS)
    theirs.sendall(b"next")

    assert deadline.deadline == SECONDS * 6
    assert deadline.recv(64) == b"next"
