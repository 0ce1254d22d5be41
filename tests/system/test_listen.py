"""``receiver listen`` as a process, against ``receiver serve`` and a target on loopback: killed
mid-stream and restarted under its name, a target that goes down for a while, several
listeners on one bin, Ctrl-C, and a private bin without its token."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import RECEIVER
from servers import WAIT_SECONDS
from servers import Process
from servers import ServedReceiver
from servers import free_port
from servers import run
from servers import serve_receiver
from servers import wait_until

pytestmark = pytest.mark.system

KEY = "Receiver-Idempotency-Key"


class Target:
    """A local HTTP server that records what it receives and can go down and come back on the
    same port; past ``hold_after`` requests it holds each answer until ``release`` is set (a
    delivery kept in flight for as long as a test needs)."""

    def __init__(self, hold_after: int | None = None) -> None:
        self.port = free_port()
        self.hold_after = hold_after
        self.release = threading.Event()
        self.received: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one_request(self) -> None:
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline:
                    self.close_connection = True
                    return
                if not self.parse_request():
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with target.changed:
                    target.received.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": list(self.headers.items()),
                            "body": body,
                            "key": int(self.headers[KEY]),
                        }
                    )
                    target.changed.notify_all()
                    held = (
                        target.hold_after is not None and len(target.received) > target.hold_after
                    )
                if held:
                    target.release.wait(WAIT_SECONDS)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the sender is gone (killed while this answer was held)
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Down: the port refuses connections until `start`."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def keys(self) -> list[int]:
        with self.changed:
            return [item["key"] for item in self.received]

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[int]:
        """The idempotency keys received, once ``count`` distinct ones have come."""
        with self.changed:
            self.changed.wait_for(lambda: len(set(self.keys())) >= count, timeout)
        return self.keys()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedReceiver]:
    """One ``receiver serve`` (two workers, SQLite) for this module's listeners."""
    served = serve_receiver(tmp_path_factory.mktemp("listen") / "serve.log", workers=2)
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def target() -> Iterator[Target]:
    made = Target()
    made.start()
    yield made
    made.stop()


def listen(server: ServedReceiver, tmp_path: Path, bin_id: str, to: str, *args: str) -> Process:
    """Start ``receiver listen`` on the bin's ingest URL."""
    command = [RECEIVER, "listen", server.url(f"/b/{bin_id}"), "--to", to, *args]
    return Process(command, log=tmp_path / f"listen-{time.monotonic_ns()}.log", cwd=tmp_path)


def wait_for_listener(
    server: ServedReceiver, bin_id: str, name: str, process: Process, token: str | None = None
) -> None:
    """Wait until the listener exists on the server: what is captured from then on reaches it."""
    auth = {"Authorization": f"Bearer {token}"} if token else {}

    def started() -> bool:
        if not process.running():
            process.fail("receiver listen exited")
        answer = httpx.get(
            server.url(f"/api/bins/{bin_id}/listeners/{name}"), headers=auth, timeout=10
        )
        return answer.status_code == 200 and "Listening to bin" in process.output()

    wait_until(started, what=f"listener {name} to start")


def send_into(server: ServedReceiver, bin_id: str, n: int, **request: Any) -> int:
    """Send one request into the bin; the id of the capture."""
    request.setdefault("content", f'{{"n": {n}}}'.encode())
    answer = httpx.request(
        request.pop("method", "POST"),
        server.url(f"/b/{bin_id}{request.pop('path', '')}"),
        timeout=10,
        **request,
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["request_id"])


def stop_cleanly(process: Process) -> str:
    """Ctrl-C: the listener stops with status 0 and says where it is."""
    assert process.stop(signal.SIGINT) == 0, process.describe()
    assert "stopped:" in process.output()
    return process.output()


def test_a_listener_killed_mid_stream_resumes_under_its_name_and_delivers_everything_in_order(
    server: ServedReceiver, tmp_path: Path
) -> None:
    bin_id = server.api("POST", "/api/bins", {})["id"]
    target = Target(hold_after=4)
    target.start()
    try:
        first = listen(server, tmp_path, bin_id, target.url("/hooks"), "--name", "laptop")
        wait_for_listener(server, bin_id, "laptop", first)
        ids = [send_into(server, bin_id, n) for n in range(12)]
        target.wait_for(5)
        first.kill()  # SIGKILL, with the fifth delivery under way (its answer is held)
        target.release.set()
        assert len(set(target.keys())) == 5
        # a killed listener cannot say it left: it counts as connected until it times out
        assert server.api("GET", f"/api/bins/{bin_id}/listeners/laptop")["connected"] is True
        ids += [send_into(server, bin_id, n) for n in range(12, 20)]  # while it is down
        second = listen(server, tmp_path, bin_id, target.url("/hooks"), "--name", "laptop")
        received = target.wait_for(len(ids))
        output = stop_cleanly(second)
    finally:
        target.stop()
    assert "resuming after capture" in output
    # capture order, everything, at most one twice (the one in flight at the kill, right after
    # itself)
    assert len(received) - len(ids) in (0, 1), received
    if len(received) > len(ids):
        twice = next(i for i in range(len(received) - 1) if received[i] == received[i + 1])
        received = received[:twice] + received[twice + 1 :]
    assert received == ids
    shown = server.api("GET", f"/api/bins/{bin_id}/listeners/laptop")
    assert (shown["position"], shown["behind"], shown["last_status"]) == (20, 0, 200)
    # one stopped with Ctrl-C said so: disconnected at once
    assert shown["connected"] is False


def test_a_target_down_for_a_while_loses_nothing_and_keeps_the_order(
    server: ServedReceiver, tmp_path: Path, target: Target
) -> None:
    bin_id = server.api("POST", "/api/bins", {})["id"]
    ids = [send_into(server, bin_id, n) for n in range(3)]  # before any listener
    other = Target()
    other.start()
    try:
        laptop = listen(
            server, tmp_path, bin_id, target.url("/hooks"), "--name", "laptop", "--from-start"
        )
        ci = listen(server, tmp_path, bin_id, other.url("/"), "--name", "ci", "--from-start")
        wait_for_listener(server, bin_id, "laptop", laptop)
        wait_for_listener(server, bin_id, "ci", ci)
        assert target.wait_for(3) == ids
        target.stop()
        headers = [("X-Twice", "one"), ("Content-Type", "application/octet-stream")]
        headers += [("X-Twice", "two"), ("x-Lower-Case", "kept")]
        ids.append(
            send_into(
                server,
                bin_id,
                3,
                method="PUT",
                path="/deep/path?a=1&a=2&b=%20x",
                headers=headers,
                content=bytes(range(256)),
            )
        )
        ids += [send_into(server, bin_id, n) for n in range(4, 8)]
        assert other.wait_for(len(ids)) == ids  # the other listener is not held up
        # down for a while: the listener backs off and tries the same capture again
        wait_until(
            lambda: laptop.output().count("target down") >= 2, what="a retry after a back-off"
        )
        assert len(target.keys()) == 3
        target.start()
        assert target.wait_for(len(ids)) == ids
        stop_cleanly(laptop)
        stop_cleanly(ci)
    finally:
        other.stop()
    assert "target down" in laptop.output()
    exact = target.received[3]
    assert (exact["method"], exact["path"]) == ("PUT", "/hooks/deep/path?a=1&a=2&b=%20x")
    assert exact["body"] == bytes(range(256))
    sent = [(name, value) for name, value in exact["headers"] if name.lower().startswith("x-")]
    assert sent == [("X-Twice", "one"), ("X-Twice", "two"), ("x-Lower-Case", "kept")]
    assert [value for name, value in exact["headers"] if name == KEY] == [str(ids[3])]
    # the local answers are reported: the listener's last one, and each attempt beside replays
    shown = server.api("GET", f"/api/bins/{bin_id}/listeners/laptop")
    assert (shown["position"], shown["last_status"], shown["last_error"]) == (8, 200, None)
    replays = server.api("GET", f"/api/bins/{bin_id}/requests/{ids[3]}/replays")["replays"]
    attempts = [(r["kind"], r["status_code"], r["error"] is None) for r in replays]
    assert ("listen", 200, True) in attempts and ("listen", None, False) in attempts
    assert {r["listener"] for r in replays} == {"laptop", "ci"}  # each listener its own
    page = httpx.get(server.url(f"/bins/{bin_id}?request={ids[3]}"), timeout=30).text
    assert 'class="badge">listen</span>' in page and ">laptop</span>" in page


def test_a_private_bin_without_its_token_is_refused_like_a_missing_bin(
    server: ServedReceiver, tmp_path: Path, target: Target
) -> None:
    made = server.api("POST", "/api/bins", {"private": True})
    hidden = run(
        [RECEIVER, "listen", server.url(f"/b/{made['id']}"), "--to", target.url()],
        cwd=tmp_path,
        check=False,
        timeout=30,
    )
    missing = run(
        [RECEIVER, "listen", server.url("/b/no-such-bin"), "--to", target.url()],
        cwd=tmp_path,
        check=False,
        timeout=30,
    )
    assert hidden.returncode == missing.returncode == 2
    assert "it is private: give its token with --token" in hidden.stderr
    assert "it is private: give its token with --token" in missing.stderr
    allowed = listen(
        server, tmp_path, made["id"], target.url(), "--name", "laptop", "--token", made["token"]
    )
    wait_for_listener(server, made["id"], "laptop", allowed, made["token"])
    number = send_into(server, made["id"], 1)
    assert target.wait_for(1) == [number]
    stop_cleanly(allowed)
