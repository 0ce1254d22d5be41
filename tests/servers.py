"""Ports, processes and waits for tests, in one place: `free_port`, a clean environment for
children, commands whose output ends up in the failure message (`run`, `Process`), ``receiver
serve`` with every worker answering (`serve_receiver`), and `wait_until` a condition holds.

A test that starts a process carries the ``system`` marker (tests/conftest.py enforces it).
When such a test fails, its report shows what the processes printed: `run` fails with the
transcript, and prints it (pytest shows it under "Captured stdout" when a later assertion
fails); a `Process`'s log is added to the report by tests/conftest.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# the test run's own virtualenv (.venv/bin when run as `make test` does)
BIN = Path(sys.executable).parent
RECEIVER = BIN / "receiver"
# what a child must not inherit from the test process or from the shell that started it
INHERITED_PREFIXES = ("PYTEST_", "RECEIVER_", "FLASK_")
INHERITED_NAMES = ("PYTHONPATH", "DATABASE_URL", "SECRET_KEY", "GUNICORN_CMD_ARGS")
STOP_TIMEOUT = 15.0
# the processes started during the current test, whose output a failure report shows
STARTED: list[Process] = []


# how long a test waits for something that happens in the background (a thread, a process, a
# browser) before it calls it lost: long enough that a busy machine is only slow, never wrong;
# a working test never waits this long
WAIT_SECONDS = 60.0


def wait_until(
    condition: Any, timeout: float = WAIT_SECONDS, what: str = "the condition to hold"
) -> None:
    """Return as soon as ``condition()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:g} s for {what}")
        time.sleep(0.02)


def free_port() -> int:
    """A loopback port nothing listens on (the kernel picked it a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without test, receiver and path settings, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in INHERITED_NAMES and not name.startswith(INHERITED_PREFIXES)
    }
    return {**env, **(extra or {})}


def transcript(
    command: Sequence[str | os.PathLike[str]], returncode: int | None, output: str, errors: str = ""
) -> str:
    """A command, how it ended and what it printed, for a failure message."""
    shown = " ".join(str(part) for part in command)
    ended = "still running" if returncode is None else f"exit status {returncode}"
    text = f"$ {shown}\n[{ended}]\n--- output ---\n{output.rstrip()}\n"
    if errors:
        text += f"--- stderr ---\n{errors.rstrip()}\n"
    return text


def described(result: subprocess.CompletedProcess[str]) -> str:
    """The transcript of a finished `run`."""
    return transcript(result.args, result.returncode, result.stdout, result.stderr)


def run(
    command: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end; with ``check``, a non-zero exit fails the test with its output."""
    try:
        result = subprocess.run(
            [str(part) for part in command],
            cwd=cwd,
            env=dict(env) if env is not None else clean_env(),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout or b""
        errors = expired.stderr or b""
        text = transcript(
            command,
            None,
            output.decode(errors="replace") if isinstance(output, bytes) else output,
            errors.decode(errors="replace") if isinstance(errors, bytes) else errors,
        )
        pytest.fail(f"timed out after {timeout} s:\n{text}")
    text = described(result)
    print(text)
    if check and result.returncode != 0:
        pytest.fail(text)
    return result


class Process:
    """A started command whose output (stdout and stderr together) goes to a log file.

    It runs in a session of its own, so `kill` reaches its children too (gunicorn's workers).
    """

    def __init__(
        self,
        command: Sequence[str | os.PathLike[str]],
        *,
        log: Path,
        cwd: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.command = [str(part) for part in command]
        self.log = log
        with log.open("ab") as sink:
            self.popen = subprocess.Popen(
                self.command,
                cwd=cwd,
                env=dict(env) if env is not None else clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.popen.pid
        STARTED.append(self)

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def running(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def describe(self) -> str:
        """The transcript so far, for a failure message."""
        return transcript(self.command, self.returncode, self.output())

    def fail(self, reason: str) -> None:
        """Fail the test with ``reason`` and everything the process printed (stopping it)."""
        self.kill()
        pytest.fail(f"{reason}\n{self.describe()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send ``sig`` and wait for the exit; killed (exit -9) when it takes longer."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._kill_group()
        return self.popen.wait()

    def kill(self) -> int:
        """SIGKILL the process and every process of its session."""
        self._kill_group()
        return self.popen.wait(timeout=STOP_TIMEOUT)

    def _kill_group(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class ServedReceiver(Process):
    """``receiver serve`` (gunicorn with receiver's settings and hooks) on a loopback port."""

    def __init__(
        self,
        *,
        log: Path,
        workers: int,
        database_url: str | None = None,
        instance_path: Path | None = None,
        receiver: Path = RECEIVER,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.workers = workers
        self.base_url = f"http://127.0.0.1:{self.port}"
        settings = {
            "SECRET_KEY": "served-receiver-test-secret",
            "RECEIVER_AUTO_MIGRATE": "1",
            "RECEIVER_INSTANCE_PATH": str(instance_path or log.parent / "instance"),
            "PYTHONUNBUFFERED": "1",
        }
        if database_url is not None:
            settings["DATABASE_URL"] = database_url
        command = [receiver, "serve", "--bind", f"127.0.0.1:{self.port}"]
        command += ["--workers", str(workers)]
        super().__init__(
            command,
            log=log,
            cwd=cwd if cwd is not None else log.parent,
            env=clean_env({**settings, **(env or {})}),
        )

    def url(self, path: str) -> str:
        return self.base_url + path

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the JSON API; a non-2xx answer fails the test with the server's log."""
        answer = httpx.request(method, self.url(path), json=body, timeout=30)
        if not answer.is_success:
            self.fail(f"{method} {path} answered {answer.status_code}: {answer.text[:2000]}")
        return answer.json() if answer.content else None

    def worker_pids(self) -> set[int]:
        """The pids of the master's children (gunicorn's workers)."""
        return child_pids(self.pid)

    def wait_until_every_worker_answers(self, timeout: float = 60.0) -> None:
        """Send requests until each of the ``workers`` workers has answered one.

        Which worker served a request is read from /proc: the one holding the server side of
        the connection. A worker still importing the app accepts nothing, and would otherwise
        skew the first timings (or miss a test's first requests).
        """
        deadline = time.monotonic() + timeout
        answered: set[int] = set()
        while time.monotonic() < deadline:
            if not self.running():
                self.fail(f"receiver serve exited with {self.returncode} while starting")
            workers = self.worker_pids()
            if len(workers) >= self.workers and workers <= answered:
                return
            answered |= self._probe(2 * self.workers, workers)
            time.sleep(0.05)
        self.fail(
            f"not all {self.workers} workers answered within {timeout:.0f} s "
            f"(answered: {sorted(answered)}, workers: {sorted(self.worker_pids())})"
        )

    def _probe(self, connections: int, workers: set[int]) -> set[int]:
        """Hold ``connections`` requests open at once; the workers that answered them."""
        opened: list[socket.socket] = []
        served: set[int] = set()
        request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode()
        try:
            for _ in range(connections):
                try:
                    connection = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                except OSError:
                    return served  # not listening yet
                opened.append(connection)
                connection.sendall(request)
            for connection in opened:
                try:
                    if not connection.recv(1):
                        continue
                except OSError:
                    continue
                pid = serving_pid(self.port, connection.getsockname()[1], workers)
                if pid is not None:
                    served.add(pid)
        finally:
            for connection in opened:
                connection.close()
        return served


def serve_receiver(
    log: Path,
    *,
    workers: int = 2,
    database_url: str | None = None,
    instance_path: Path | None = None,
    receiver: Path = RECEIVER,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    port: int | None = None,
) -> ServedReceiver:
    """Start ``receiver serve --bind 127.0.0.1:<free port> --workers N`` (what ``make run``
    serves) and return once every worker answers; failure shows the server's log.

    Without ``database_url`` the server uses the SQLite file in its instance folder; ``port``
    starts it where an earlier one was (a server that comes back).
    """
    server = ServedReceiver(
        log=log,
        workers=workers,
        database_url=database_url,
        instance_path=instance_path,
        receiver=receiver,
        cwd=cwd,
        env=env,
        port=port,
    )
    try:
        server.wait_until_every_worker_answers(timeout)
    except BaseException:
        server.kill()
        raise
    return server


# -- /proc: which process serves a connection ------------------------------------------------


def child_pids(parent: int) -> set[int]:
    """The pids whose parent is ``parent``."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == parent:
            children.add(int(stat.parent.name))
    return children


def socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server side of the loopback connection from ``client_port``."""
    local, remote = f":{server_port:04X}", f":{client_port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[1].endswith(local) and fields[2].endswith(remote):
                return fields[9]
    return None


def serving_pid(server_port: int, client_port: int, candidates: set[int]) -> int | None:
    """Which of ``candidates`` holds the server side of the connection from ``client_port``."""
    inode = socket_inode(server_port, client_port)
    if inode is None:
        return None
    wanted = f"socket:[{inode}]"
    for pid in candidates:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(descriptor) == wanted:
                    return pid
            except OSError:
                continue
    return None
