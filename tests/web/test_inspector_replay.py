"""The replay form in the inspector's detail pane, against real targets on loopback.

The form posts to ``/bins/<id>/requests/<rid>/replay`` (htmx) and gets the replay panel back:
one root element, ``#replay-panel``, with the form and the request's history. What a target
answers is hostile content like any capture: escaped and inside ``hx-disable``.
"""

from __future__ import annotations

import gzip
import socket
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from htmltree import Node
from htmltree import parse
from pytest_httpserver import HTTPServer
from werkzeug import Response

from receiver.delivery.forwarding import ForwardPolicy
from receiver.delivery.forwarding import forward_due
from receiver.signatures.registry import get_scheme
from receiver.signatures.registry import sign_headers
from receiver.signatures.registry import verify_signature
from receiver.storage.db import db
from receiver.web.serving import RAW_HEADERS_KEY

HTMX = {"HX-Request": "true"}

HOSTILE = '<script>alert(1)</script><div hx-get="/api/bins" hx-trigger="load">x</div>'


def panel_of(response: Any) -> Node:
    """The one root element of a replay-panel partial."""
    assert response.mimetype == "text/html"
    roots = [child for child in parse(response.data).children if isinstance(child, Node)]
    assert [root.attrs.get("id") for root in roots] == ["replay-panel"]
    return roots[0]


def history_of(panel: Node) -> list[Node]:
    """The entries of the replay history, newest first."""
    return panel.find_all("li", "replay-item")


def post_form(client: Any, bin_id: str, request_id: int, form: dict[str, str], **kw: Any) -> Any:
    return client.post(
        f"/bins/{bin_id}/requests/{request_id}/replay",
        data=form,
        headers={**HTMX, **kw.pop("headers", {})},
        **kw,
    )


def wire_headers(server: HTTPServer) -> list[tuple[str, str]]:
    ((got, _),) = server.log
    return list(got.environ[RAW_HEADERS_KEY])


def assert_inert(panel: Node, marker: str = "<script>") -> int:
    """No element or handler came out of hostile text; each copy of it is inside hx-disable."""
    for node in panel.walk():
        assert node.tag not in ("script", "img"), node.tag
        assert not any(name.startswith("on") for name in node.attrs), node.attrs
        assert node.attrs.get("hx-get") != "/api/bins"
    copies = [(node, text) for node, text in panel.texts() if marker in text]
    for node, text in copies:
        inert = node.tag == "textarea" or any("hx-disable" in el.attrs for el in node.lineage())
        assert inert, (node.tag, text)
    return len(copies)


# -- the form ------------------------------------------------------------------------------------


def test_the_form_sends_the_edited_request_and_answers_the_panel(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(
        bin_id,
        path="/sub",
        query="q=1",
        body=b'{"a": 1}',
        headers=[("Content-Type", "application/json"), ("X-Old", "1")],
    )
    target.expect_request("/t/sub", method="PUT").respond_with_data("accepted", status=202)

    response = post_form(
        client,
        bin_id,
        request_id,
        {
            "url": target.url_for("/t"),
            "method": "PUT",
            "append_path": "on",
            "headers": "X-Edited: yes\r\nContent-Type: text/plain\r\n\r\nX-Edited: again",
            "body": "new body\r\nsecond line",
        },
    )

    assert response.status_code == 200
    panel = panel_of(response)
    ((got, _),) = target.log
    assert got.method == "PUT"
    assert got.environ["REQUEST_URI"] == "/t/sub?q=1"
    # a browser sends textarea line breaks as CRLF; the body goes out as typed, with LF
    assert got.get_data() == b"new body\nsecond line"
    assert wire_headers(target) == [
        ("Host", f"{target.host}:{target.port}"),
        ("X-Edited", "yes"),
        ("Content-Type", "text/plain"),
        ("X-Edited", "again"),
        ("Content-Length", "20"),
    ]
    (item,) = history_of(panel)
    assert "202" in item.text()
    assert target.url_for("/t/sub") + "?q=1" in item.text()
    assert "accepted" in item.text()
    # the form keeps the URL for the next try
    assert panel.find_all("input")[0].attrs["value"] == target.url_for("/t")


def test_a_form_without_edit_fields_sends_what_was_captured(bins, client, target):
    bin_id = bins.create()["id"]
    body = bytes(range(256))
    headers = [("Content-Type", "application/octet-stream"), ("X-Repeat", "a"), ("X-Repeat", "b")]
    request_id = bins.capture(bin_id, body=body, headers=headers)
    target.expect_request("/plain").respond_with_data("ok")

    response = post_form(
        client, bin_id, request_id, {"url": target.url_for("/plain"), "method": "POST"}
    )

    assert response.status_code == 200
    ((got, _),) = target.log
    assert got.get_data() == body
    assert wire_headers(target) == [
        ("Host", f"{target.host}:{target.port}"),
        *headers,
        ("Content-Length", "256"),
    ]


def test_edits_are_sent_as_typed_without_any_box_to_tick(bins, client, target):
    """What a person edits is what is sent (there once was an "edit" box to tick as well)."""
    bin_id = bins.create()["id"]
    request_id = bins.capture(
        bin_id, body=b'{"a": 1}', headers=[("Content-Type", "application/json")]
    )
    target.expect_request("/edited").respond_with_data("ok")

    response = post_form(
        client,
        bin_id,
        request_id,
        {
            "url": target.url_for("/edited"),
            "method": "PATCH",
            "headers": "Content-Type: application/json\r\nX-Edited: yes",
            "body": '{"a": 2}',
        },
    )

    assert response.status_code == 200
    ((got, _),) = target.log
    assert got.method == "PATCH"
    assert got.get_data() == b'{"a": 2}'
    assert ("X-Edited", "yes") in wire_headers(target)
    # the panel keeps what was sent: the method, the headers and the body as edited
    panel = panel_of(response)
    (selected,) = [n for n in panel.walk() if n.tag == "option" and "selected" in n.attrs]
    assert selected.attrs["value"] == "PATCH"
    assert "X-Edited: yes" in textarea_value(panel, "headers")
    assert textarea_value(panel, "body") == '{"a": 2}'


def test_an_untouched_header_box_sends_the_captured_pairs(bins, client, target):
    """The box as the pane filled it in sends the captured pairs: order, repeats and case."""
    bin_id = bins.create()["id"]
    headers = [("x-lower", "1"), ("X-Dup", "a"), ("X-Other", "b: c"), ("X-Dup", "d")]
    request_id = bins.capture(bin_id, body=b"x", headers=headers)
    target.expect_request("/same").respond_with_data("ok")
    detail = parse(client.get(f"/bins/{bin_id}/requests/{request_id}", headers=HTMX).data)

    response = post_form(
        client,
        bin_id,
        request_id,
        {"url": target.url_for("/same"), "headers": textarea_value(detail, "headers") or ""},
    )

    assert response.status_code == 200
    assert [pair for pair in wire_headers(target) if pair[0].lower().startswith("x-")] == headers


def test_without_append_path_the_url_is_used_as_given(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, path="/deep/path", query="x=1", body=b"{}")
    target.expect_request("/exact").respond_with_data("ok")

    response = post_form(
        client, bin_id, request_id, {"url": target.url_for("/exact") + "?mine=1", "method": "POST"}
    )

    assert response.status_code == 200
    ((got, _),) = target.log
    assert got.environ["REQUEST_URI"] == "/exact?mine=1"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"url": "ftp://example.com/x"}, "is not an http:// or https:// URL"),
        ({"url": ""}, "the target URL is empty"),
        ({"url": "http://127.0.0.1:9/", "headers": "no colon"}, "needs a colon"),
        ({"url": "http://127.0.0.1:9/", "method": "BAD METHOD"}, "is not an HTTP token"),
    ],
    ids=["scheme", "empty", "header-line", "method"],
)
def test_what_cannot_be_sent_answers_400_with_the_panel_and_the_error(bins, client, form, message):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")

    response = post_form(client, bin_id, request_id, {"method": "POST", **form})

    assert response.status_code == 400
    panel = panel_of(response)
    (alert,) = [node for node in panel.walk() if node.attrs.get("role") == "alert"]
    assert message in alert.text()
    assert history_of(panel) == []
    replays = client.get(f"/api/bins/{bin_id}/requests/{request_id}/replays").get_json()
    assert replays == {"replays": []}


def test_a_refused_target_is_a_recorded_attempt_in_words(bins, client):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    response = post_form(
        client, bin_id, request_id, {"url": f"http://127.0.0.1:{port}/x", "method": "POST"}
    )

    assert response.status_code == 200
    (item,) = history_of(panel_of(response))
    assert f"connection refused by 127.0.0.1:{port}" in item.text()
    assert "error" in item.text()


def test_the_form_of_a_private_bin_needs_its_token(client, target):
    created = client.post("/api/bins", json={"private": True}).get_json()
    bin_id = created["id"]
    ingest = client.post(f"/b/{bin_id}", data=b"{}", environ_overrides={RAW_HEADERS_KEY: []})
    request_id = int(ingest.headers["X-Receiver-Request-Id"])
    form = {"url": target.url_for("/p"), "method": "POST"}
    target.expect_request("/p").respond_with_data("ok")

    assert post_form(client, bin_id, request_id, form).status_code == 404
    assert target.log == []

    auth = {"Authorization": f"Bearer {created['token']}"}
    assert post_form(client, bin_id, request_id, form, headers=auth).status_code == 200
    assert len(target.log) == 1


def test_a_request_of_another_bin_is_404(bins, client):
    mine = bins.create()["id"]
    other = bins.create()["id"]
    request_id = bins.capture(other, body=b"{}")

    response = post_form(client, mine, request_id, {"url": "http://127.0.0.1:9/"})

    assert response.status_code == 404


# -- re-signing from the form --------------------------------------------------------------------


def test_the_form_can_resign_with_a_fresh_timestamp(bins, client, target):
    bin_id = bins.create()["id"]
    secret = get_scheme("standard-webhooks").generate_secret()
    client.patch(
        f"/api/bins/{bin_id}",
        json={"signature": {"scheme": "standard-webhooks", "secret": secret}},
    )
    body = b'{"type": "ping"}'
    stale = sign_headers(
        scheme="standard-webhooks",
        secret=secret,
        body=body,
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    request_id = bins.capture(bin_id, body=body, headers=stale)
    target.expect_request("/signed").respond_with_data("ok")
    detail = parse(client.get(f"/bins/{bin_id}/requests/{request_id}", headers=HTMX).data)
    assert any(node.attrs.get("name") == "resign" for node in detail.walk())

    response = post_form(
        client,
        bin_id,
        request_id,
        {"url": target.url_for("/signed"), "method": "POST", "resign": "on"},
    )

    assert response.status_code == 200
    ((got, _),) = target.log
    result = verify_signature(
        scheme="standard-webhooks",
        secret=secret,
        headers=list(got.environ[RAW_HEADERS_KEY]),
        body=got.get_data(),
        now=datetime.now(UTC),
    )
    assert result.status == "verified", result.reason


def test_a_bin_without_a_secret_offers_no_resigning(bins, client):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")

    detail = parse(client.get(f"/bins/{bin_id}/requests/{request_id}", headers=HTMX).data)

    assert not any(node.attrs.get("name") == "resign" for node in detail.walk())


# -- history -------------------------------------------------------------------------------------


def test_the_detail_page_shows_the_replay_history_newest_first(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")
    target.expect_request("/first").respond_with_data("one", status=200)
    target.expect_request("/second").respond_with_data("two", status=500)
    for path in ("/first", "/second"):
        made = client.post(
            f"/api/bins/{bin_id}/requests/{request_id}/replay", json={"url": target.url_for(path)}
        )
        assert made.status_code == 201

    page = client.get(f"/bins/{bin_id}", query_string={"request": request_id})

    assert page.status_code == 200
    (panel,) = [n for n in parse(page.data).walk() if n.attrs.get("id") == "replay-panel"]
    items = history_of(panel)
    assert len(items) == 2
    assert target.url_for("/second") in items[0].text()
    assert "500" in items[0].text()
    assert target.url_for("/first") in items[1].text()
    assert "200" in items[1].text()
    partial = parse(client.get(f"/bins/{bin_id}/requests/{request_id}", headers=HTMX).data)
    (panel,) = [n for n in partial.walk() if n.attrs.get("id") == "replay-panel"]
    assert [item.text() for item in history_of(panel)] == [item.text() for item in items]


def test_forward_attempts_show_in_the_history_with_their_kind(app, bins, client, target):
    bin_id = bins.create()["id"]
    client.patch(f"/api/bins/{bin_id}", json={"forward_url": target.url_for("/fwd")})
    request_id = bins.capture(bin_id, body=b"{}")
    target.expect_request("/fwd").respond_with_data("forwarded")
    with app.app_context():
        assert forward_due(db.engine, ForwardPolicy(timeout=5.0)) == 1

    detail = parse(client.get(f"/bins/{bin_id}/requests/{request_id}", headers=HTMX).data)

    (panel,) = [n for n in detail.walk() if n.attrs.get("id") == "replay-panel"]
    (item,) = history_of(panel)
    badges = [node.text() for node in item.find_all("span", "badge")]
    assert badges == ["200", "forward"]


# -- hostile answers -----------------------------------------------------------------------------


def test_a_hostile_target_answer_is_escaped_and_inert_in_the_panel(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(bin_id, body=b"{}")
    target.expect_request("/evil").respond_with_response(
        Response(HOSTILE, status=200, headers={"X-Evil": HOSTILE}, content_type="text/html")
    )

    response = post_form(client, bin_id, request_id, {"url": target.url_for("/evil")})

    assert response.status_code == 200
    text = response.data.decode()
    assert "<script>alert(1)" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    panel = panel_of(response)
    # the body and the header value, each inside hx-disable
    assert assert_inert(panel) >= 2
    assert "Content-Security-Policy" in response.headers


def test_a_hostile_capture_and_url_are_escaped_in_the_panel(bins, client, target):
    bin_id = bins.create()["id"]
    request_id = bins.capture(
        bin_id,
        path="/<script>alert(1)</script>",
        body=HOSTILE.encode(),
        headers=[("X-Evil", HOSTILE)],
    )
    target.expect_request("/t/<script>alert(1)</script>").respond_with_data("ok")

    response = post_form(
        client, bin_id, request_id, {"url": target.url_for("/t"), "append_path": "on"}
    )

    assert response.status_code == 200
    text = response.data.decode()
    assert "<script>alert(1)" not in text
    assert len(target.log) == 1
    assert assert_inert(panel_of(response)) >= 3

    bad = post_form(client, bin_id, request_id, {"url": 'javascript:"><script>alert(1)</script>'})

    assert bad.status_code == 400
    assert "<script>alert(1)" not in bad.data.decode()
    assert_inert(panel_of(bad))


# -- editing bodies ------------------------------------------------------------------------------


def textarea_value(tree: Node, name: str) -> str | None:
    """What a browser submits for a textarea: its text, one leading newline dropped, CRLF."""
    found = [node for node in tree.walk() if node.tag == "textarea" and node.attrs["name"] == name]
    if not found:
        return None
    text = found[0].text().removeprefix("\n")
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def submit_unchanged(client: Any, bin_id: str, request_id: int, url: str) -> Any:
    """Send the edit fields exactly as the detail pane filled them in."""
    detail = parse(client.get(f"/bins/{bin_id}/requests/{request_id}", headers=HTMX).data)
    form = {"url": url, "method": "POST"}
    for name in ("headers", "body"):
        value = textarea_value(detail, name)
        if value is not None:
            form[name] = value
    return post_form(client, bin_id, request_id, form)


def test_editing_the_headers_of_a_binary_capture_keeps_its_bytes(bins, client, target):
    bin_id = bins.create()["id"]
    body = bytes(range(256)) * 2
    request_id = bins.capture(
        bin_id, body=body, headers=[("Content-Type", "application/octet-stream")]
    )
    target.expect_request("/bin").respond_with_data("ok")

    response = submit_unchanged(client, bin_id, request_id, target.url_for("/bin"))

    assert response.status_code == 200
    ((got, _),) = target.log
    assert got.get_data() == body
    assert ("Content-Type", "application/octet-stream") in wire_headers(target)


def test_an_unchanged_edit_of_a_gzip_capture_sends_what_was_captured(bins, client, target):
    bin_id = bins.create()["id"]
    body = gzip.compress(b'{"compressed": true}', mtime=0)
    headers = [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]
    request_id = bins.capture(bin_id, body=body, headers=headers)
    target.expect_request("/gz").respond_with_data("ok")

    response = submit_unchanged(client, bin_id, request_id, target.url_for("/gz"))

    assert response.status_code == 200
    ((got, _),) = target.log
    sent = dict(wire_headers(target))
    if sent.get("Content-Encoding") == "gzip":
        assert got.get_data() == body
    else:
        assert got.get_data() == b'{"compressed": true}'


def test_an_unchanged_edit_of_a_multipart_capture_keeps_its_crlf(bins, client, target):
    bin_id = bins.create()["id"]
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\nline one\r\nline two\r\n'
        b"--XyZ--\r\n"
    )
    headers = [("Content-Type", "multipart/form-data; boundary=XyZ")]
    request_id = bins.capture(bin_id, body=body, headers=headers)
    target.expect_request("/mp").respond_with_data("ok")

    response = submit_unchanged(client, bin_id, request_id, target.url_for("/mp"))

    assert response.status_code == 200
    ((got, _),) = target.log
    assert got.get_data() == body


def test_an_unchanged_edit_keeps_a_leading_line_break(bins, client, target):
    bin_id = bins.create()["id"]
    body = b'\n{"a": 1}\n'
    request_id = bins.capture(bin_id, body=body, headers=[("Content-Type", "text/plain")])
    target.expect_request("/nl").respond_with_data("ok")

    response = submit_unchanged(client, bin_id, request_id, target.url_for("/nl"))

    assert response.status_code == 200
    ((got, _),) = target.log
    assert got.get_data() == body
