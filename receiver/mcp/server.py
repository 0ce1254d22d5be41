"""The MCP server of ``receiver mcp``: the official SDK's ``MCPServer`` with receiver's tools, on
stdio.

The SDK is imported here and only when the server is built: it is most of the start-up cost
(see bench/README.md), and nothing else in the package needs it. Each tool is registered from
its typed method (the SDK derives the JSON Schema of its input from the annotations and checks
every call against it), wrapped so that:

- a `ReceiverError` becomes the SDK's ``ToolError``: an ``is_error`` result whose text is the
  error in words. Anything unexpected is also an error result (the SDK's), never the end of the
  process: the server outlives the receiver server going away and coming back, since each call
  makes its own HTTP request.
- the method runs on a worker thread that a cancelled call abandons at once (the SDK would
  otherwise wait for it, and a wait could go on for minutes), after marking the call cancelled
  so that the thread stops at its next step and takes nothing from the next call
  (``captures.CALL_CANCELLED``). A client that stops waiting for an answer cancels the call.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Awaitable
from collections.abc import Callable
from importlib.metadata import version as package_version
from typing import TYPE_CHECKING
from typing import Any

from receiver.mcp.api import ReceiverAPI
from receiver.mcp.api import ReceiverError
from receiver.mcp.captures import CALL_CANCELLED
from receiver.mcp.tools import INSTRUCTIONS
from receiver.mcp.tools import ReceiverTools

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

NAME = "receiver"

log = logging.getLogger(__name__)


def build_server(api: ReceiverAPI) -> MCPServer:
    """An MCP server whose tools call ``api``'s receiver server."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import CallToolResult
    from mcp.types import TextContent
    from mcp.types import ToolAnnotations

    def answer(result: dict[str, Any]) -> CallToolResult:
        """The result as data, and as one line of JSON for a model to read (the SDK's own
        rendering is indented: a third more tokens for the same capture)."""
        text = json.dumps(result, ensure_ascii=False)
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=result
        )

    tools = ReceiverTools(api)
    server: MCPServer = MCPServer(
        NAME, instructions=INSTRUCTIONS, version=package_version("receiver"), log_level="WARNING"
    )
    # the SDK's own INFO lines are one per request; receiver's say what became of a wait, on
    # stderr (stdout carries the protocol), one line each: the SDK's handler wraps at 80 columns
    own = logging.getLogger("receiver.mcp")
    own.setLevel(logging.INFO)
    if not own.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        own.addHandler(handler)
        own.propagate = False
    for name, read_only in ReceiverTools.NAMES:
        server.add_tool(
            _reporting(getattr(tools, name), ToolError, answer),
            name=name,
            annotations=ToolAnnotations(read_only_hint=read_only, open_world_hint=True),
        )
    return server


def _reporting(
    tool: Callable[..., dict[str, Any]],
    error: type[Exception],
    answer: Callable[[dict[str, Any]], Any],
) -> Callable[..., Awaitable[Any]]:
    """``tool`` on a worker thread that a cancelled call abandons, its result made an
    ``answer``, raising ``error`` (the SDK's ToolError) with the words of a `ReceiverError`.

    ``functools.wraps`` keeps the method's name, docstring and signature, which the SDK reads.
    """
    import anyio
    import anyio.to_thread

    @functools.wraps(tool)
    async def call(**arguments: Any) -> Any:
        cancelled = threading.Event()
        # this call's own task context, which the worker thread gets a copy of
        CALL_CANCELLED.set(cancelled)
        try:
            result = await anyio.to_thread.run_sync(
                functools.partial(tool, **arguments), abandon_on_cancel=True
            )
        except ReceiverError as failure:
            raise error(str(failure)) from None
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            log.info("the client gave up on a call to %s", tool.__name__)
            raise
        return answer(result)

    return call


def run(server_url: str, token: str | None) -> None:
    """Serve MCP on stdin/stdout until the client closes stdin."""
    api = ReceiverAPI(server_url, token)
    try:
        build_server(api).run("stdio")
    finally:
        api.close()
