"""Security headers and markup rules on every HTML response: a strict CSP, no sniffing, no
framing, a locked-down htmx config, and templates without inline script, style or handlers."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from htmltree import parse

HTMX = {"HX-Request": "true"}


def directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as {directive: [sources]}."""
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            parsed[words[0].lower()] = words[1:]
    return parsed


def ingest_id(response: Any) -> int:
    return int(response.headers["X-Receiver-Request-Id"])


def rendered_html(client: FlaskClient, bins: Any) -> Iterator[tuple[str, Any]]:
    """Every page and partial the inspector renders, with content that fills each branch."""
    location = client.post("/bins", data={"label": "mine", "private": "on"}).headers["Location"]
    bin_id = location.rsplit("/", 1)[1]
    ids = [
        ingest_id(bins.ingest(bin_id, body=b'{"a": [1, {"b": null}]}', query="x=1&y=")),
        ingest_id(bins.ingest(bin_id, body=b"plain text")),
        ingest_id(bins.ingest(bin_id, body=b"\x00\xff binary")),
        ingest_id(
            bins.ingest(
                bin_id,
                body=gzip.compress(b'{"z": 1}'),
                headers=[("Content-Encoding", "gzip"), ("Content-Type", "application/json")],
            )
        ),
        ingest_id(bins.ingest(bin_id, body=b"not gzip", headers=[("Content-Encoding", "gzip")])),
        ingest_id(bins.ingest(bin_id, method="GET")),
    ]
    yield "home", client.get("/")
    yield "bin page", client.get(f"/bins/{bin_id}")
    for rid in ids:
        yield f"page with request {rid}", client.get(f"/bins/{bin_id}?request={rid}")
        yield f"detail partial {rid}", client.get(f"/bins/{bin_id}/requests/{rid}", headers=HTMX)
    yield "filtered page", client.get(f"/bins/{bin_id}?method=GET")
    yield "poll", client.get(f"/bins/{bin_id}/requests/poll?after=0", headers=HTMX)
    yield "older", client.get(f"/bins/{bin_id}/requests/older?before={ids[-1]}", headers=HTMX)
    yield (
        "settings error",
        client.post(f"/bins/{bin_id}/settings", data={"status": "abc"}, headers=HTMX),
    )
    yield (
        "settings saved",
        client.post(
            f"/bins/{bin_id}/settings",
            data={"status": "200", "headers": "X-A: 1", "body": "b", "delay_ms": "0"},
            headers=HTMX,
        ),
    )
    yield "request deleted", client.delete(f"/bins/{bin_id}/requests/{ids[0]}", headers=HTMX)
    yield "taken id", client.post("/bins", data={"id": "sec-taken"})
    yield "taken id again", client.post("/bins", data={"id": "sec-taken"})
    yield "not found", client.get("/no/such/page")
    yield "missing bin", client.get("/bins/never-was")


@pytest.fixture
def responses(client, bins) -> list[tuple[str, Any]]:
    return list(rendered_html(client, bins))


def test_every_html_response_carries_a_strict_policy(responses):
    for name, response in responses:
        assert response.status_code < 500, name
        if response.mimetype != "text/html":
            continue
        policy = directives(response.headers.get("Content-Security-Policy", ""))
        assert policy.get("script-src") == ["'self'"], name
        assert not any("'unsafe-inline'" in v or "'unsafe-eval'" in v for v in policy.values())
        assert policy.get("frame-ancestors") == ["'none'"], name
        assert "default-src" in policy, name
        assert response.headers["X-Content-Type-Options"] == "nosniff", name


def test_rendered_markup_has_no_inline_script_style_or_handlers(responses):
    for name, response in responses:
        if response.mimetype != "text/html" or not response.data:
            continue
        for node in parse(response.data).walk():
            handlers = [attr for attr in node.attrs if attr.lower().startswith("on")]
            assert not handlers, (name, node.tag, handlers)
            assert "style" not in node.attrs, (name, node.tag)
            assert not any(attr.startswith("hx-on") for attr in node.attrs), (name, node.tag)
            if node.tag == "script":
                assert node.attrs.get("src"), (name, "inline script")
                assert not node.text().strip(), (name, "script with a body")
            assert node.tag != "style", name
            for attr in ("href", "src", "action", "hx-get", "hx-post", "hx-delete"):
                value = (node.attrs.get(attr) or "").strip().lower()
                assert not value.startswith(("javascript:", "js:")), (name, attr, value)
                if attr != "href":
                    assert not value.startswith("data:"), (name, attr, value)


def test_pages_use_only_same_origin_scripts(client):
    page = parse(client.get("/").data)
    sources = [node.attrs["src"] for node in page.find_all("script")]
    assert sources and all(src.startswith("/static/") for src in sources)
    assert any("htmx" in src for src in sources)
    for src in sources:
        with client.get(src) as response:
            assert response.status_code == 200


def test_htmx_config_is_locked_down(client):
    page = parse(client.get("/").data)
    meta = page.find(name="htmx-config")
    assert meta is not None
    config = json.loads(meta.attrs["content"])
    assert config["selfRequestsOnly"] is True
    assert config["allowScriptTags"] is False
    assert config["allowEval"] is False
    assert config["includeIndicatorStyles"] is False
    assert config["historyRestoreAsHxRequest"] is False


def test_pages_can_not_be_framed(client):
    response = client.get("/")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert directives(response.headers["Content-Security-Policy"])["frame-ancestors"] == ["'none'"]


def test_referrer_does_not_leak_bin_urls_to_other_sites(client, bins):
    bin_id = bins.create()["id"]
    policy = client.get(f"/bins/{bin_id}").headers["Referrer-Policy"]
    assert policy in ("same-origin", "no-referrer", "strict-origin")


def test_json_and_raw_answers_are_never_sniffed(client, bins):
    bin_id = bins.create()["id"]
    rid = ingest_id(bins.ingest(bin_id, body=b"<html>", headers=[("Content-Type", "text/html")]))
    for url in (
        f"/api/bins/{bin_id}",
        f"/api/bins/{bin_id}/requests",
        f"/api/bins/{bin_id}/requests/{rid}/raw",
        "/api/nope",
    ):
        assert client.get(url).headers["X-Content-Type-Options"] == "nosniff", url
    raw = client.get(f"/api/bins/{bin_id}/requests/{rid}/raw")
    assert raw.headers["Content-Disposition"].startswith("attachment")
    assert "sandbox" in raw.headers["Content-Security-Policy"]


def test_ingest_answers_are_sandboxed(bins):
    bin_id = bins.create()["id"]
    for response in (bins.ingest(bin_id), bins.client.get("/b/unknown-bin")):
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_static_files_are_not_sniffed(client):
    with client.get("/static/js/receiver.js") as response:
        assert response.status_code == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}],
)
def test_cross_site_forms_cannot_create_bins_or_change_them(client, bins, headers):
    """A cross-site POST would otherwise overwrite the visitor's recent-bins cookie."""
    refused = client.post("/bins", data={"label": "planted"}, headers=headers)
    assert refused.status_code == 403
    assert "Set-Cookie" not in refused.headers
    bin_id = bins.create()["id"]
    assert client.post(f"/bins/{bin_id}/clear", headers=headers).status_code == 403
    api = client.delete(f"/api/bins/{bin_id}", headers=headers)
    assert api.status_code == 403
    assert api.get_json()["error"]["code"] == "cross_site_request"
    assert client.get(f"/api/bins/{bin_id}").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Sec-Fetch-Site": "same-origin"}, {"Origin": "http://localhost"}],
)
def test_same_site_and_non_browser_writes_are_allowed(client, headers):
    assert client.post("/bins", data={"label": "mine"}, headers=headers).status_code == 303


def test_ingest_takes_cross_site_posts(client, bins):
    bin_id = bins.create()["id"]
    answer = client.post(f"/b/{bin_id}", data=b"{}", headers={"Origin": "https://sender.example"})
    assert answer.status_code == 200
