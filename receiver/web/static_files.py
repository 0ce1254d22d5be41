"""Static files (the stylesheet, receiver's script, the vendored htmx): compressed when the
browser accepts it, and cacheable under a URL that names their content.

- ``url_for("static", filename=...)`` adds ``?v=<the first 12 hex digits of the file's
  SHA-256>``. An answer to the URL with the file's current version may be kept for a year
  (``immutable``): a release that changes the file changes its URL, so browsers fetch it at once.
  Without a version, or with another one, the answer is ``no-cache`` (kept, but asked again).
- Text files (CSS, JavaScript, SVG, JSON, text) go out Brotli- or gzip-compressed when the
  request's ``Accept-Encoding`` allows it (``Vary: Accept-Encoding``), each encoding with its own
  strong ETag, so ``If-None-Match`` answers ``304``.
- Each file is read, hashed and compressed once per process, when it is first asked for, and
  kept in memory (the folder holds a few small files); a file whose size or modification time
  changed (a development checkout) is read again.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import threading
from dataclasses import dataclass
from typing import Any

import brotli
from flask import Flask
from flask import Response
from flask import abort
from flask import request
from werkzeug.security import safe_join

VERSION_DIGITS = 12
# a year: what browsers keep of an immutable file
CACHED_SECONDS = 365 * 24 * 3600
COMPRESSED_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")
ENCODINGS = ("br", "gzip")


@dataclass(frozen=True)
class StaticFile:
    """One file as it is served: its bytes in each encoding, its version and type."""

    encoded: dict[str, bytes]
    version: str
    mimetype: str
    stamp: tuple[int, int]


class StaticFiles:
    """The static folder's files, read and compressed on first use."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._files: dict[str, StaticFile] = {}
        self._lock = threading.Lock()

    def get(self, filename: str) -> StaticFile | None:
        """The file at ``filename`` below the folder; None when there is no such file."""
        path = safe_join(self.folder, filename)
        if path is None:
            return None
        try:
            status = os.stat(path)
        except OSError:
            return None
        if not os.path.isfile(path):
            return None
        stamp = (status.st_size, status.st_mtime_ns)
        found = self._files.get(path)
        if found is None or found.stamp != stamp:
            found = _load(path, stamp)
            with self._lock:
                self._files[path] = found
        return found

    def serve(self, filename: str) -> Response:
        """A static file in the best encoding the request accepts, with its cache headers.

        :raise 404: no such file.
        """
        found = self.get(filename)
        if found is None:
            abort(404)
        encoding = request.accept_encodings.best_match(
            [name for name in ENCODINGS if name in found.encoded], default="identity"
        )
        response = Response(found.encoded[encoding], mimetype=found.mimetype)
        if encoding != "identity":
            response.headers["Content-Encoding"] = encoding
        response.headers["Vary"] = "Accept-Encoding"
        tag = found.version if encoding == "identity" else f"{found.version}-{encoding}"
        response.set_etag(tag)
        if request.args.get("v") == found.version:
            response.headers["Cache-Control"] = f"public, max-age={CACHED_SECONDS}, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        response.make_conditional(request)
        return response

    def add_version(self, endpoint: str, values: dict[str, Any]) -> None:
        """``url_for`` hook: a static file's URL carries its version (``?v=``)."""
        if endpoint != "static" or "v" in values or "filename" not in values:
            return
        found = self.get(values["filename"])
        if found is not None:
            values["v"] = found.version


def _load(path: str, stamp: tuple[int, int]) -> StaticFile:
    with open(path, "rb") as handle:
        data = handle.read()
    mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    encoded = {"identity": data}
    if mimetype.startswith(COMPRESSED_TYPES):
        for name, packed in (
            ("br", brotli.compress(data, quality=11)),
            ("gzip", gzip.compress(data, compresslevel=9, mtime=0)),
        ):
            if len(packed) < len(data):
                encoded[name] = packed
    version = hashlib.sha256(data).hexdigest()[:VERSION_DIGITS]
    return StaticFile(encoded, version, mimetype, stamp)


def init_app(app: Flask) -> None:
    """Serve the app's static folder through `StaticFiles.serve`, and version its URLs."""
    if app.static_folder is None:
        return
    files = StaticFiles(app.static_folder)
    app.view_functions["static"] = files.serve
    app.url_defaults(files.add_version)
