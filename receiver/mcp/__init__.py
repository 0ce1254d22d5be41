"""``receiver mcp``: a Model Context Protocol server on stdio for coding agents.

It is a client of any receiver server (its JSON API and change feed), like ``receiver listen``:
no Flask, no database, no app in this process.

- ``api.py``: the receiver server over HTTP, with the tokens each call needs and every failure
  put in words an agent can act on.
- ``captures.py``: what an agent reads of a capture, and ``wait_for_request``'s cursor over the
  change feed.
- ``tools.py``: the tools, each a typed method whose docstring is what the agent reads.
- ``server.py``: the SDK's ``MCPServer`` with those tools, on stdio (the SDK is imported only
  there, and only when the server starts).
"""
