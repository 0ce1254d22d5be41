"""Static files: htmx's minified build, compressed as the browser accepts, cacheable for a year
under a URL that names the file's content, revalidated otherwise."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import brotli
import pytest
from flask import url_for
from htmltree import parse

from receiver.web import static_files

STATIC = Path(__file__).resolve().parents[2] / "static"
HTMX = "vendor/htmx-2.0.11.min.js"


def version_of(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def script_sources(client) -> list[str]:
    page = parse(client.get("/").get_data(as_text=True))
    return [node.attrs["src"] for node in page.find_all("script") if node.attrs.get("src")]


def test_pages_load_htmxs_minified_build_under_a_url_that_names_its_content(client):
    sources = script_sources(client)

    assert f"/static/{HTMX}?v={version_of(HTMX)}" in sources
    assert all(re.search(r"\?v=[0-9a-f]{12}$", source) for source in sources), sources


def test_the_minified_build_is_htmx_2_0_11_with_its_licence_beside_it():
    minified = (STATIC / HTMX).read_bytes()
    readable = (STATIC / "vendor" / "htmx-2.0.11.js").read_bytes()

    assert len(minified) < len(readable) / 3
    assert b'version:"2.0.11"' in minified and b"version: '2.0.11'" in readable
    assert b"BSD" in (STATIC / "vendor" / "htmx.LICENSE").read_bytes()


@pytest.mark.parametrize(
    ("accepted", "encoding", "decode"),
    [
        ("gzip, deflate, br, zstd", "br", brotli.decompress),
        ("gzip, deflate", "gzip", gzip.decompress),
        ("br;q=0.5, gzip", "gzip", gzip.decompress),
        ("", None, bytes),
        ("identity", None, bytes),
    ],
)
def test_text_files_are_compressed_as_the_request_accepts(client, accepted, encoding, decode):
    for name in (HTMX, "css/receiver.css", "js/receiver.js"):
        answer = client.get(f"/static/{name}", headers={"Accept-Encoding": accepted})

        assert answer.status_code == 200
        assert answer.headers.get("Content-Encoding") == encoding
        assert answer.headers["Vary"] == "Accept-Encoding"
        assert decode(answer.get_data()) == (STATIC / name).read_bytes()
        if encoding is not None:
            assert len(answer.get_data()) < len((STATIC / name).read_bytes()) / 2


def test_the_current_version_is_cached_for_a_year_and_anything_else_revalidated(client):
    current = client.get(f"/static/{HTMX}?v={version_of(HTMX)}")
    bare = client.get(f"/static/{HTMX}")
    stale = client.get(f"/static/{HTMX}?v=000000000000")

    assert current.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert bare.headers["Cache-Control"] == "no-cache"
    assert stale.headers["Cache-Control"] == "no-cache"
    assert current.headers["X-Content-Type-Options"] == "nosniff"
    assert current.mimetype in ("text/javascript", "application/javascript")


def test_a_revalidation_of_an_unchanged_file_is_answered_304_per_encoding(client):
    gzipped = client.get(f"/static/{HTMX}", headers={"Accept-Encoding": "gzip"})
    plain = client.get(f"/static/{HTMX}", headers={"Accept-Encoding": "identity"})
    assert gzipped.headers["ETag"] != plain.headers["ETag"]

    again = client.get(
        f"/static/{HTMX}",
        headers={"Accept-Encoding": "gzip", "If-None-Match": gzipped.headers["ETag"]},
    )
    other = client.get(
        f"/static/{HTMX}",
        headers={"Accept-Encoding": "identity", "If-None-Match": gzipped.headers["ETag"]},
    )

    assert (again.status_code, again.get_data()) == (304, b"")
    assert other.status_code == 200


def test_a_changed_file_gets_a_new_version_and_is_served_anew(make_app, tmp_path):
    folder = tmp_path / "static"
    folder.mkdir()
    (folder / "app.css").write_text("body { color: red; }\n")
    app = make_app()
    app.static_folder = str(folder)
    static_files.init_app(app)  # on this folder
    client = app.test_client()
    with app.test_request_context():
        first = url_for("static", filename="app.css")
        (folder / "app.css").write_text("body { color: blue; margin: 0; }\n")
        second = url_for("static", filename="app.css")

    assert first != second
    assert client.get(second).get_data() == b"body { color: blue; margin: 0; }\n"


@pytest.mark.parametrize("path", ["vendor/nope.js", "../pyproject.toml", "vendor", "%2e%2e/app.py"])
def test_what_is_not_a_static_file_is_404(client, path):
    assert client.get(f"/static/{path}").status_code == 404
