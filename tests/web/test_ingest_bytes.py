"""The byte-exact matrix through Werkzeug's real dev server with our request handler."""

from __future__ import annotations

import threading

import pytest
from bytecases import CASES
from bytecases import assert_stored
from bytecases import send
from werkzeug.serving import make_server

from receiver.web.serving import RawHeaderRequestHandler


@pytest.fixture
def dev_server(app):
    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=RawHeaderRequestHandler
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield server
    server.shutdown()
    thread.join(5)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_dev_server_stores_every_byte(dev_server, bins, case):
    bin_id = bins.create()["id"]
    status, body, _ = send("127.0.0.1", dev_server.port, bin_id, case)
    assert status == 200
    if case.method != "HEAD":
        assert body.startswith(b'{"ok": true')
    listed = bins.requests(bin_id)["requests"]
    assert len(listed) == 1
    assert_stored(bins.request(bin_id, listed[0]["id"]), case)


def test_dev_server_keeps_header_case_and_repeats(dev_server, bins):
    """The handler hands over the parsed list, not WSGI's folded, underscore-dropping keys."""
    case = next(c for c in CASES if c.name == "repeated-headers")
    bin_id = bins.create()["id"]
    send("127.0.0.1", dev_server.port, bin_id, case)
    stored = bins.request(bin_id, bins.requests(bin_id)["requests"][0]["id"])
    assert [p for p in stored["headers"] if p[0] == "X-Repeat"] == [
        ["X-Repeat", "one"],
        ["X-Repeat", "two, with comma"],
        ["X-Repeat", "three"],
    ]
    assert ["X_Under_Score", "kept"] in stored["headers"]
