"""``receiver mcp`` driven over stdio by the MCP SDK's own client, against ``receiver serve`` on
each database: the tools and their schemas; an agent's session (create a bin, deliver with
curl, wait, read the verdict and its errors, replay to a local target, which gets the exact
bytes); two captures between two waits; and every error an agent must be able to act on,
the receiver server stopping and coming back on the same port included.

Nothing here measures time: waits are the tools' own, with generous timeouts.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from mcp import ClientSession
from mcp import MCPError
from mcp.client.stdio import StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult
from servers import RECEIVER
from servers import ServedReceiver
from servers import free_port
from servers import run
from servers import serve_receiver
from standardwebhooks.webhooks import Webhook

from receiver.web.serving import RAW_HEADERS_KEY

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(shutil.which("curl") is None, reason="delivers with the curl binary"),
]

TEAM_TOKEN = "team-token-for-the-mcp-tests"
TOOLS = {
    "create_bin",
    "wait_for_request",
    "list_requests",
    "get_request",
    "validate_payload",
    "catalog",
    "send_event",
    "replay",
    "set_response",
}
READ_ONLY = {"wait_for_request", "list_requests", "get_request", "validate_payload", "catalog"}
PROVIDER, EVENT = "appery", "PROJECT_BUILD_IOS_FAIL"
# generous: a busy machine may take long to answer, and nothing here asserts on time
WAIT = 60


# -- driving receiver mcp ---------------------------------------------------------------------


@asynccontextmanager
async def mcp_session(
    server_url: str, log: Path, token: str | None = TEAM_TOKEN
) -> AsyncIterator[ClientSession]:
    """``receiver mcp --server URL [--token T]`` started by the SDK's stdio client, initialized.

    Its stderr goes to ``log`` (shown when a test fails through `failure_text`).
    """
    args = ["mcp", "--server", server_url, *(["--token", token] if token else [])]
    params = StdioServerParameters(command=str(RECEIVER), args=args, cwd=str(log.parent))
    with log.open("a") as errors:
        async with stdio_client(params, errlog=errors) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=WAIT * 3) as session:
                await session.initialize()
                yield session


def run_session(session: Callable[[], Awaitable[None]]) -> None:
    """Run a test's MCP session on a thread of its own: in a test process whose browser tests
    ran first, Playwright's event loop holds the main thread, where anyio would not start one."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(anyio.run, session).result()


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def call(session: ClientSession, name: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured answer; a tool error fails the test with its words."""
    result = await session.call_tool(name, arguments)
    assert not result.is_error, f"{name}({arguments}) failed: {text_of(result)}"
    assert result.structured_content is not None
    # what a model reads is the same answer, as JSON
    assert json.loads(text_of(result)) == result.structured_content
    return result.structured_content


async def refused(session: ClientSession, name: str, **arguments: Any) -> str:
    """The words of a tool error (the call must fail)."""
    result = await session.call_tool(name, arguments)
    assert result.is_error, f"{name}({arguments}) did not fail: {text_of(result)[:2000]}"
    return text_of(result)


def curl(url: str, body: bytes, tmp_path: Path, *headers: str) -> None:
    """POST ``body`` with a real curl, header lines as given (repeats kept)."""
    path = tmp_path / f"body-{len(list(tmp_path.glob('body-*')))}.bin"
    path.write_bytes(body)
    command = ["curl", "--silent", "--show-error", "--fail", "--max-time", "30", "-X", "POST"]
    for header in headers:
        command += ["-H", header]
    run([*command, "--data-binary", f"@{path}", url], cwd=tmp_path)


async def wait_for_line(log: Path, text: str, timeout: float = WAIT) -> None:
    """Wait until ``receiver mcp`` has written ``text`` to its stderr."""
    with anyio.fail_after(timeout):
        while text not in log.read_text(errors="replace"):
            await anyio.sleep(0.05)


def invalid_build(example: dict[str, Any]) -> bytes:
    """The documented example with two documented rules broken."""
    payload = json.loads(json.dumps(example))
    payload["build"]["platform"] = "android"
    payload["project"]["owner"]["email"] = "not an address"
    return json.dumps(payload, indent=1).encode()


def wire_headers(request: Any) -> list[tuple[str, str]]:
    """What a target read, as pairs in order, without the two headers a re-send recomputes."""
    return [
        (name, value)
        for name, value in request.environ[RAW_HEADERS_KEY]
        if name.lower() not in ("host", "content-length")
    ]


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[ServedReceiver]:
    """``receiver serve`` on the test's database, behind a team access token."""
    server = serve_receiver(
        tmp_path / "serve.log",
        workers=2,
        database_url=database_url,
        env={"RECEIVER_ACCESS_TOKEN": TEAM_TOKEN},
    )
    yield server
    server.stop()


# -- the tools ------------------------------------------------------------------------------------


def test_the_tools_come_with_json_schemas_and_the_server_says_what_it_is(tmp_path: Path):
    async def session() -> None:
        # listing needs no receiver server: nothing listens on this port
        async with mcp_session(f"http://127.0.0.1:{free_port()}", tmp_path / "mcp.log") as mcp:
            tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
        assert set(tools) == TOOLS
        for name, tool in tools.items():
            schema = tool.input_schema
            assert schema["type"] == "object" and schema["properties"], name
            assert tool.description and len(tool.description) > 60, name
            for field, spec in schema["properties"].items():
                assert spec.get("description"), f"{name}.{field} has no description"
            assert tool.annotations is not None
            assert tool.annotations.read_only_hint is (name in READ_ONLY), name
        wait = tools["wait_for_request"].input_schema
        assert wait["required"] == ["bin"]
        assert wait["properties"]["timeout"]["maximum"] == 300
        assert "invalid" in json.dumps(wait["properties"]["verdict"])
        assert tools["get_request"].input_schema["required"] == ["bin", "request_id"]
        assert set(tools["replay"].input_schema["required"]) == {"bin", "request_id", "to"}
        assert set(tools["send_event"].input_schema["required"]) == {"provider", "event"}

    run_session(session)


def test_the_mcp_server_runs_without_flask_sqlalchemy_or_the_app(tmp_path: Path):
    code = (
        "import sys\n"
        "import receiver.mcp.server\n"
        "assert 'mcp' not in sys.modules, 'the SDK is imported only to serve'\n"
        "from receiver.mcp.api import ReceiverAPI\n"
        "receiver.mcp.server.build_server(ReceiverAPI('http://127.0.0.1:9'))\n"
        "found = {'flask', 'werkzeug', 'sqlalchemy'} & set(sys.modules)\n"
        "assert not found, found\n"
    )
    run([sys.executable, "-c", code], cwd=tmp_path)


def test_a_server_that_is_not_an_http_url_is_a_usage_error(tmp_path: Path):
    result = run([RECEIVER, "mcp", "--server", "ftp://example.com"], cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "--server must be an http:// or https:// URL" in result.stderr


# -- a session ------------------------------------------------------------------------------------


def test_an_agent_creates_a_bin_reads_a_curl_delivery_with_its_errors_and_replays_the_bytes(
    served: ServedReceiver, target: Any, tmp_path: Path
):
    async def session() -> None:
        async with mcp_session(served.base_url, tmp_path / "mcp.log") as mcp:
            created = await call(mcp, "create_bin", label="agent", provider=PROVIDER, event=EVENT)
            bin_id, ingest = created["id"], created["ingest_url"]
            assert ingest == served.url(f"/b/{bin_id}")
            documented = await call(mcp, "catalog", provider=PROVIDER, event=EVENT)
            body = invalid_build(documented["example"])

            headers = ("Content-Type: application/json", "X-Trace: one", "x-trace: two")
            curl(f"{ingest}/hooks/appery?attempt=1", body, tmp_path, *headers)
            got = await call(mcp, "wait_for_request", bin=bin_id, timeout=WAIT)

            assert (got["method"], got["path"], got["query_string"]) == (
                "POST",
                "/hooks/appery",
                "attempt=1",
            )
            assert [pair for pair in got["headers"] if pair[0].lower() == "x-trace"] == [
                ["X-Trace", "one"],
                ["x-trace", "two"],
            ]
            assert (got["body"], got["body_encoding"]) == (body.decode(), "text")
            assert got["event"]["event"] == EVENT
            validation = got["validation"]
            assert validation["status"] == "invalid"
            paths = {error["path"] for error in validation["errors"]}
            assert {"/build/platform", "/project/owner/email"} <= paths
            assert "invalid" in got["summary"] and "/build/platform" in got["summary"]
            assert got["signature"]["status"] == "not_configured"
            assert got["response"]["status"] == 200
            assert got["cursor"] == got["seq"] == 1

            read = await call(mcp, "get_request", bin=ingest, request_id=got["id"])
            assert (read["body"], read["headers"]) == (got["body"], got["headers"])

            # from this machine, then by the receiver server: the same bytes both times
            target.expect_request("/handler/hooks/appery").respond_with_data("handled")
            here = await call(
                mcp, "replay", bin=bin_id, request_id=got["id"], to=target.url_for("/handler")
            )
            assert (here["status_code"], here["response_body"]) == (200, "handled")
            there = await call(
                mcp,
                "replay",
                bin=bin_id,
                request_id=got["id"],
                to=target.url_for("/handler"),
                on_server=True,
            )
            assert (there["status_code"], there["error"]) == (200, None)

        captured = [
            (name, value)
            for name, value in got["headers"]
            if name.lower() not in ("host", "content-length")
        ]
        assert len(target.log) == 2
        for request, _ in target.log:
            assert request.method == "POST"
            assert request.environ["REQUEST_URI"] == "/handler/hooks/appery?attempt=1"
            assert request.get_data() == body
            assert wire_headers(request) == captured

    run_session(session)


def test_two_captures_between_two_waits_come_back_both_in_order(
    served: ServedReceiver, tmp_path: Path
):
    log = tmp_path / "mcp.log"

    async def session() -> None:
        async with mcp_session(served.base_url, log) as mcp:
            bin_id = (await call(mcp, "create_bin"))["id"]
            ingest = served.url(f"/b/{bin_id}")
            curl(ingest, b'{"n": 0}', tmp_path)
            first = await call(mcp, "wait_for_request", bin=bin_id, timeout=WAIT)
            curl(f"{ingest}/a", b'{"n": 1}', tmp_path)
            curl(f"{ingest}/b", b'{"n": 2}', tmp_path)
            second = await call(mcp, "wait_for_request", bin=bin_id, timeout=WAIT)
            third = await call(mcp, "wait_for_request", bin=bin_id, timeout=WAIT)
            listed = await call(mcp, "list_requests", bin=bin_id)

            # a wait the client gave up on (its own timeout) takes nothing from the next one,
            # even when a capture arrives before that one starts
            with pytest.raises(MCPError, match="timed out"):
                await mcp.call_tool(
                    "wait_for_request", {"bin": bin_id, "timeout": WAIT}, read_timeout_seconds=1
                )
            # the capture comes once the server knows: were it sent before the cancellation
            # reached the server, the wait would find it first and answer (into the void)
            await wait_for_line(log, "the client gave up on a call to wait_for_request")
            curl(f"{ingest}/late", b'{"n": 3}', tmp_path)
            await wait_for_line(log, "found capture #4: it stays for the next call")
            late = await call(mcp, "wait_for_request", bin=bin_id, timeout=WAIT)
            assert (late["path"], late["cursor"]) == ("/late", 4)

        assert [item["body"] for item in (first, second, third)] == [
            '{"n": 0}',
            '{"n": 1}',
            '{"n": 2}',
        ]
        assert [item["cursor"] for item in (first, second, third)] == [1, 2, 3]
        assert second["captures_after"] == 1 and third["captures_after"] == 0
        assert [row["seq"] for row in listed["requests"]] == [3, 2, 1]

    run_session(session)


def test_a_wait_with_filters_passes_over_what_does_not_match(
    served: ServedReceiver, tmp_path: Path
):
    async def session() -> None:
        async with mcp_session(served.base_url, tmp_path / "mcp.log") as mcp:
            bin_id = (await call(mcp, "create_bin"))["id"]
            ingest = served.url(f"/b/{bin_id}")
            sent = await call(mcp, "send_event", provider=PROVIDER, event=EVENT, bin=bin_id)
            assert sent["capture"]["validation"]["status"] == "valid"
            curl(f"{ingest}/github/push", b"not json", tmp_path)
            curl(f"{ingest}/github/ping", b'{"zen": "ok"}', tmp_path)
            found = await call(
                mcp, "wait_for_request", bin=bin_id, path_prefix="/github", timeout=WAIT
            )
            assert (found["path"], found["passed_over"]) == ("/github/push", 1)
            not_json = await call(
                mcp, "wait_for_request", bin=bin_id, verdict="not_json", after=0, timeout=WAIT
            )
            assert (not_json["path"], not_json["passed_over"]) == ("/github/push", 1)
            pinged = await call(mcp, "wait_for_request", bin=bin_id, method="POST", timeout=WAIT)
            assert (pinged["path"], pinged["passed_over"]) == ("/github/ping", 0)

    run_session(session)


def test_events_sent_signed_and_changed_replays_signed_again_and_a_scripted_answer(
    served: ServedReceiver, target: Any, tmp_path: Path
):
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    signature = {"scheme": "standard-webhooks", "secret": secret}
    target.expect_request("/hooks").respond_with_data("ok")
    target.expect_request("/again").respond_with_data("ok again")

    async def session() -> None:
        async with mcp_session(served.base_url, tmp_path / "mcp.log") as mcp:
            created = await call(
                mcp, "create_bin", provider=PROVIDER, event=EVENT, signature=signature
            )
            bin_id = created["id"]
            changed = {"/build/status": "started"}

            # into the bin, signed and changed here: the capture names the rule the change broke
            # and the signature holds
            into = await call(
                mcp,
                "send_event",
                provider=PROVIDER,
                event=EVENT,
                bin=bin_id,
                secret=secret,
                overrides=changed,
            )
            capture = into["capture"]
            assert capture["signature"]["status"] == "verified", capture["signature"]
            assert [e["path"] for e in capture["validation"]["errors"]] == ["/build/status"]

            # to a handler from here (the provider documents no scheme: Standard Webhooks)
            sent = await call(
                mcp,
                "send_event",
                provider=PROVIDER,
                event=EVENT,
                to=target.url_for("/hooks"),
                secret=secret,
                overrides={"build.status": "started"},
            )
            assert (sent["status_code"], sent["response_body"]) == (200, "ok")

            # the capture again, signed afresh with the secret create_bin was given
            again = await call(
                mcp,
                "replay",
                bin=bin_id,
                request_id=capture["id"],
                to=target.url_for("/again"),
                append_path=False,
                resign=True,
            )
            assert again["status_code"] == 200

            # a checked payload, named or detected; nothing is stored
            named = await call(
                mcp, "validate_payload", payload={"build": {}}, provider=PROVIDER, event=EVENT
            )
            assert named["status"] == "invalid" and "/build" in named["summary"]
            example = (await call(mcp, "catalog", provider=PROVIDER, event=EVENT))["example"]
            detected = await call(mcp, "validate_payload", payload=json.dumps(example))
            assert (detected["status"], detected["event"]) == ("valid", EVENT)

            # a flaky service: one scripted failure, then the bin's own (changed) answer
            answer = await call(
                mcp, "set_response", bin=bin_id, status=503, body="busy", script=[{"status": 500}]
            )
            assert answer["response"]["status"] == 503 and len(answer["response_script"]) == 1
            ingest = created["ingest_url"]
            statuses = [httpx.post(ingest, content=b"{}", timeout=30).status_code for _ in (1, 2)]
            assert statuses == [500, 503]
            answered = [
                (await call(mcp, "wait_for_request", bin=bin_id, timeout=WAIT))["response"]
                for _ in range(3)
            ][1:]
            assert [(item["status"], item["step"]) for item in answered] == [(500, 0), (503, None)]

        sent_request, replayed = (request for request, _ in target.log)
        body = sent_request.get_data()
        assert json.loads(body)["build"]["status"] == "started"
        Webhook(secret).verify(body, dict(sent_request.headers))
        assert replayed.get_data().decode() == capture["body"]
        Webhook(secret).verify(replayed.get_data(), dict(replayed.headers))

    run_session(session)


# -- errors an agent can act on -------------------------------------------------------------------


def test_errors_come_back_as_tool_errors_in_words_and_the_server_outlives_them(
    served: ServedReceiver, tmp_path: Path
):
    private = httpx.post(
        served.url("/api/bins"),
        json={"private": True},
        headers={"Authorization": f"Bearer {TEAM_TOKEN}"},
        timeout=30,
    ).json()

    async def session() -> None:
        async with mcp_session(served.base_url, tmp_path / "mcp.log") as mcp:
            bin_id = (await call(mcp, "create_bin"))["id"]

            missing = await refused(mcp, "list_requests", bin="no-such-bin")
            assert "no bin 'no-such-bin'" in missing and "does not exist" in missing
            hidden = await refused(mcp, "get_request", bin=private["id"], request_id=1)
            assert "private" in hidden and "token" in hidden
            opened = await call(mcp, "list_requests", bin=private["id"], token=private["token"])
            assert opened["requests"] == []

            timed_out = await refused(mcp, "wait_for_request", bin=bin_id, timeout=1)
            assert "timed out" in timed_out and "cursor stays at #0" in timed_out
            too_long = await refused(mcp, "wait_for_request", bin=bin_id, timeout=100000)
            assert "timeout" in too_long and "less than or equal to 300" in too_long
            unknown = await refused(mcp, "wait_for_request", bin=bin_id, verdict="great")
            assert "verdict is one of" in unknown
            both = await refused(
                mcp, "send_event", provider=PROVIDER, event=EVENT, bin=bin_id, to="http://x"
            )
            assert "exactly one of to" in both
            no_event = await refused(mcp, "catalog", provider=PROVIDER, event="NOPE")
            assert "404" in no_event or "no event" in no_event
            bad_status = await refused(mcp, "create_bin", response={"status": 99})
            assert "status" in bad_status and "599" in bad_status

            # still serving after all of that
            assert (await call(mcp, "list_requests", bin=bin_id))["requests"] == []

        async with mcp_session(served.base_url, tmp_path / "wrong.log", token="wrong") as mcp:
            wrong = await refused(mcp, "create_bin")
            assert "refused the token" in wrong
        async with mcp_session(served.base_url, tmp_path / "none.log", token=None) as mcp:
            needed = await refused(mcp, "catalog")
            assert "needs its access token" in needed and "--token" in needed

    run_session(session)


def test_a_server_that_is_not_a_receiver_is_named_as_such(target: Any, tmp_path: Path):
    target.expect_request("/api/catalog").respond_with_data(
        "<html>a web site</html>", content_type="text/html"
    )

    async def session() -> None:
        async with mcp_session(target.url_for("/").rstrip("/"), tmp_path / "mcp.log") as mcp:
            answer = await refused(mcp, "catalog")
        assert "not receiver's API (text/html" in answer and "is it a receiver server?" in answer

    run_session(session)


def test_the_server_survives_the_receiver_server_going_away_and_coming_back(
    database_url: str, tmp_path: Path
):
    first = serve_receiver(
        tmp_path / "serve-1.log",
        workers=1,
        database_url=database_url,
        env={"RECEIVER_ACCESS_TOKEN": TEAM_TOKEN},
    )
    servers: list[ServedReceiver] = [first]

    def come_back_and_deliver(bin_id: str) -> None:
        again = serve_receiver(
            tmp_path / "serve-2.log",
            workers=1,
            database_url=database_url,
            env={"RECEIVER_ACCESS_TOKEN": TEAM_TOKEN},
            port=first.port,
        )
        servers.append(again)
        curl(again.url(f"/b/{bin_id}/back"), b'{"back": true}', tmp_path)

    async def session() -> None:
        async with mcp_session(first.base_url, tmp_path / "mcp.log") as mcp:
            bin_id = (await call(mcp, "create_bin"))["id"]
            first.stop()

            down = await refused(mcp, "list_requests", bin=bin_id)
            assert "cannot be reached" in down and first.base_url in down

            # a wait under way while the receiver server is away gets what arrives once it is back
            found: dict[str, Any] = {}

            async def wait() -> None:
                found.update(await call(mcp, "wait_for_request", bin=bin_id, timeout=WAIT * 2))

            async with anyio.create_task_group() as group:
                group.start_soon(wait)
                await anyio.to_thread.run_sync(come_back_and_deliver, bin_id)
            assert (found["path"], found["body"]) == ("/back", '{"back": true}')
            assert (await call(mcp, "list_requests", bin=bin_id))["requests"][0]["seq"] == 1

    try:
        run_session(session)
    finally:
        for server in servers:
            server.stop()
