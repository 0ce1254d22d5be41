"""HTTP's own grammar and names, checked by several concepts (RFC 9110)."""

from __future__ import annotations

import re

# a token: what a method or a header name may be
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# the methods the inspector offers as filters and replay choices (any token is captured)
COMMON_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
