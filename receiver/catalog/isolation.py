"""Heavy checks in a worker process with a deadline and a memory limit.

A Rust validation call cannot be interrupted from Python, so a check that may run long (a schema
whose ``$ref``s expand enormously, or a large payload against a large schema) is sent to a
child process (``python -m receiver.catalog.isolation``) that holds compiled schemas; the
caller waits at most the time budget and kills the child when it passes, so a hostile schema or
payload costs one budget, never a stuck worker. One child per serving process, started on
first use; one check at a time goes through it (the others wait within their own budget).

Frames on the pipes are a 4-byte big-endian length and a JSON document.
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from typing import IO
from typing import Any

from receiver.catalog.checking import check
from receiver.catalog.compiled import Compiled
from receiver.catalog.issues import BudgetExceeded
from receiver.catalog.issues import Issue

# bytes of address space the child may use (a schema's compiled form plus a payload's errors),
# read when a child starts
MEMORY_LIMIT = 1024 * 1024 * 1024
# the child's exit status when a check needed more memory than that
OUT_OF_MEMORY = 3
# a child that needs longer than this to start or to compile a schema is not used
SETUP_SECONDS = 20.0
MAX_FRAME = 256 * 1024 * 1024


class _Child:
    """The worker process and the schemas it has compiled."""

    def __init__(self) -> None:
        self.memory_limit = MEMORY_LIMIT
        self.process = subprocess.Popen(
            [sys.executable, "-m", "receiver.catalog.isolation", str(self.memory_limit)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self.loaded: set[str] = set()
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin: IO[bytes] = self.process.stdin
        self.stdout: IO[bytes] = self.process.stdout
        if self.receive(time.monotonic() + SETUP_SECONDS) != {"ready": True}:
            raise OSError("the validation worker did not start")

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode("utf-8")
        self.stdin.write(struct.pack(">I", len(data)) + data)
        self.stdin.flush()

    def receive(self, deadline: float) -> Any:
        """The next frame, or None when the deadline passes first."""
        head = self._read(4, deadline)
        if head is None:
            return None
        (length,) = struct.unpack(">I", head)
        body = self._read(length, deadline)
        return None if body is None else json.loads(body)

    def _read(self, count: int, deadline: float) -> bytes | None:
        chunks = []
        fd = self.stdout.fileno()
        while count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, min(count, 1 << 20))
            if not chunk:
                raise EOFError("the validation worker stopped")
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    def why_stopped(self, problem: BaseException) -> str:
        """Words for a worker that stopped answering (its exit status says when it ran out of
        memory)."""
        try:
            status = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            status = None
        if status == OUT_OF_MEMORY:
            limit = self.memory_limit // (1024 * 1024)
            return f"the check needed more than the validation worker's {limit} MiB of memory"
        return f"the check stopped: {problem or 'the validation worker stopped'}"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        for stream in (self.stdin, self.stdout):
            stream.close()


_lock = threading.Lock()
_child: _Child | None = None


def check_isolated(
    schema: dict[str, Any], payload: Any, budget_ms: int
) -> tuple[list[Issue], list[Issue]]:
    """Validate in the worker process; (errors, warnings) as ``validate_against`` gives them.

    :raise BudgetExceeded: the check (not the worker's start or the schema's compilation) took
        longer than ``budget_ms``, another long check held the worker meanwhile, or the worker
        ran out of memory.
    """
    global _child
    started = time.monotonic()
    if not _lock.acquire(timeout=budget_ms / 1000):
        raise BudgetExceeded(Issue("", "another long check held the validator", "budget"))
    # waiting for the lock counts against the budget; starting the worker and compiling do not
    remaining = max(0.0, budget_ms / 1000 - (time.monotonic() - started))
    try:
        try:
            if _child is None:
                _child = _Child()
            key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
            if key not in _child.loaded:
                _child.send({"load": key, "schema": schema})
                if _child.receive(time.monotonic() + SETUP_SECONDS) != {"loaded": True}:
                    raise EOFError("the schema did not compile in time")
                _child.loaded.add(key)
            started = time.monotonic()
            _child.send({"check": key, "payload": payload, "budget_ms": int(remaining * 1000)})
            answer = _child.receive(started + remaining + 0.02)
        except (OSError, EOFError, ValueError, struct.error) as exc:
            why = _child.why_stopped(exc) if _child is not None else f"the check stopped: {exc}"
            _reset()
            raise BudgetExceeded(Issue("", why, "budget")) from None
        if answer is None:
            _reset()
            spent = (time.monotonic() - started) * 1000
            raise BudgetExceeded(
                Issue(
                    "",
                    f"the check was stopped after {spent:.0f} ms (budget {budget_ms} ms)",
                    "budget",
                )
            )
        if "timed_out" in answer:
            raise BudgetExceeded(Issue(**answer["timed_out"]))
        return (
            [Issue(**item) for item in answer["errors"]],
            [Issue(**item) for item in answer["warnings"]],
        )
    finally:
        _lock.release()


def _reset() -> None:
    global _child
    if _child is not None:
        _child.stop()
        _child = None


def _serve(memory_limit: int) -> None:
    """The child: load schemas, check payloads, answer one frame per request."""
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    except (ValueError, OSError):
        pass
    reader, writer = sys.stdin.buffer, sys.stdout.buffer
    compiled: dict[str, Compiled] = {}

    def answer(message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode("utf-8")
        writer.write(struct.pack(">I", len(data)) + data)
        writer.flush()

    answer({"ready": True})
    while True:
        head = reader.read(4)
        if len(head) < 4:
            return
        (length,) = struct.unpack(">I", head)
        if length > MAX_FRAME:
            return
        request = json.loads(reader.read(length))
        if "load" in request:
            if len(compiled) > 64:
                compiled.clear()
            compiled[request["load"]] = Compiled(request["schema"])
            answer({"loaded": True})
            continue
        found = compiled[request["check"]]
        deadline = time.monotonic() + request["budget_ms"] / 1000
        try:
            errors, warnings = check(found, request["payload"], deadline)
        except BudgetExceeded as exceeded:
            answer({"timed_out": exceeded.issue.to_dict()})
            continue
        answer(
            {
                "errors": [issue.to_dict() for issue in errors],
                "warnings": [issue.to_dict() for issue in warnings],
            }
        )


if __name__ == "__main__":
    try:
        _serve(int(sys.argv[1]))
    except MemoryError:
        os._exit(OUT_OF_MEMORY)
