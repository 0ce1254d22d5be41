"""The change feed's guarantee under real load: two ``receiver serve`` processes sharing nothing
but the database, several sender processes posting into one bin through both, and followers
reading the bin while it fills. Every acknowledged capture must be seen once, none skipped.

Two followers run: one on the feed (``/feed?after=<seq>``) and one on the request list's
``after=<id>`` cursor, which keeps working with the same guarantee within a bin.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import Process
from servers import ServedReceiver
from servers import serve_receiver

pytestmark = pytest.mark.system

SENDERS = 3
THREADS = 4
PER_THREAD = 50
# each thread of a sender process posts alternately to both servers and prints the id of every
# capture answered 2xx
SENDER = """
import http.client, json, sys, threading
ports, bin_id = sys.argv[1].split(","), sys.argv[2]
count, threads = int(sys.argv[3]), int(sys.argv[4])
lock = threading.Lock()
def send(worker):
    connections = [http.client.HTTPConnection("127.0.0.1", int(p), timeout=30) for p in ports]
    for n in range(count):
        connection = connections[n % len(connections)]
        body = json.dumps({"worker": worker, "n": n}).encode()
        connection.request("POST", f"/b/{bin_id}", body, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        payload = answer.read()
        if answer.status == 200:
            with lock:
                print(json.loads(payload)["request_id"], flush=True)
workers = [threading.Thread(target=send, args=(w,)) for w in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
"""


class Follower(threading.Thread):
    """Reads one cursor again and again, alternating between the servers, until the senders are
    done and a read begun after that finds nothing new; keeps every id it was given, in order."""

    def __init__(self, name: str, servers: list[ServedReceiver], read: Callable[..., Any]):
        super().__init__(name=name, daemon=True)
        self.servers = servers
        self.read = read
        self.seen: list[int] = []
        self.seqs: list[int] = []
        self.sent = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            cursor = 0
            turn = 0
            with httpx.Client(timeout=30) as http:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    server = self.servers[turn % len(self.servers)]
                    turn += 1
                    sent = self.sent.is_set()
                    cursor, got = self.read(http, server, cursor, self)
                    if not got:
                        if sent:  # everything acknowledged was committed before this read
                            return
                        time.sleep(0.005)
        except BaseException as error:  # reported by the test
            self.error = error


def read_feed(http: httpx.Client, server: ServedReceiver, cursor: int, into: Follower) -> Any:
    bin_id = into.name.split(":")[1]
    page = http.get(server.url(f"/api/bins/{bin_id}/feed"), params={"after": cursor, "limit": 50})
    page.raise_for_status()
    body = page.json()
    assert body["removed"] == 0, body
    into.seen += [item["id"] for item in body["requests"]]
    into.seqs += [item["seq"] for item in body["requests"]]
    return body["next"], bool(body["requests"])


def read_list(http: httpx.Client, server: ServedReceiver, cursor: int, into: Follower) -> Any:
    bin_id = into.name.split(":")[1]
    params = {"after": cursor, "limit": 50}
    page = http.get(server.url(f"/api/bins/{bin_id}/requests"), params=params)
    page.raise_for_status()
    ids = sorted(item["id"] for item in page.json()["requests"])
    into.seen += ids
    return (ids[-1] if ids else cursor), bool(ids)


def test_followers_see_every_acknowledged_capture_once_with_two_servers_under_load(
    database_url: str, tmp_path: Path
) -> None:
    servers = [
        serve_receiver(tmp_path / f"serve-{n}.log", workers=2, database_url=database_url)
        for n in range(2)
    ]
    senders: list[Process] = []
    try:
        bin_id = servers[0].api("POST", "/api/bins", {})["id"]
        followers = [
            Follower(f"feed:{bin_id}", servers, read_feed),
            Follower(f"list:{bin_id}", servers, read_list),
        ]
        for follower in followers:
            follower.start()
        script = tmp_path / "sender.py"
        script.write_text(SENDER)
        ports = ",".join(str(server.port) for server in servers)
        senders = [
            Process(
                [sys.executable, script, ports, bin_id, str(PER_THREAD), str(THREADS)],
                log=tmp_path / f"sender-{n}.log",
                cwd=tmp_path,
            )
            for n in range(SENDERS)
        ]
        for sender in senders:
            if sender.popen.wait(120) != 0:
                sender.fail("a sender failed")
        acknowledged = [
            int(line) for sender in senders for line in sender.output().split() if line.isdigit()
        ]
        assert len(acknowledged) == SENDERS * THREADS * PER_THREAD
        for follower in followers:
            follower.sent.set()
        for follower in followers:
            follower.join(60)
            assert not follower.is_alive(), f"{follower.name} did not catch up"
            assert follower.error is None, follower.error
            skipped = set(acknowledged) - set(follower.seen)
            assert not skipped, f"{follower.name} skipped {len(skipped)}: {sorted(skipped)[:20]}"
            assert len(follower.seen) == len(set(follower.seen)), f"{follower.name} saw twice"
            assert set(follower.seen) == set(acknowledged)
        # the feed gives the captures in their numbered order, every number once
        assert followers[0].seqs == list(range(1, len(acknowledged) + 1))
        for server in servers:
            assert "Traceback" not in server.output(), server.describe()
    finally:
        for sender in senders:
            sender.kill()
        for server in servers:
            server.stop()
