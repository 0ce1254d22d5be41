"""Signed tokens, one itsdangerous serializer per purpose, each with its own salt."""

from __future__ import annotations

from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer

BIN_TOKEN_SALT = "receiver.bin-token"
RECENT_BINS_SALT = "receiver.recent-bins"
RECENT_BINS_MAX = 20


def bin_token(secret_key: str, bin_id: str, version: int = 0) -> str:
    """The bearer token that opens a private bin, for the bin's current ``token_version``."""
    return URLSafeSerializer(secret_key, salt=BIN_TOKEN_SALT).dumps([bin_id, version])


def check_bin_token(secret_key: str, bin_id: str, token: str | None, version: int = 0) -> bool:
    """True when ``token`` was issued for ``bin_id`` at its current ``version`` by this
    installation (regenerating a bin's token bumps the version, revoking the older ones)."""
    if not token:
        return False
    try:
        loaded = URLSafeSerializer(secret_key, salt=BIN_TOKEN_SALT).loads(token)
    except BadSignature:
        return False
    if isinstance(loaded, list) and len(loaded) == 2:
        return loaded[0] == bin_id and loaded[1] == version and not isinstance(loaded[1], bool)
    # tokens given out before they carried a version hold the id alone: they are version 0
    return version == 0 and loaded == bin_id


def dump_recent_bins(secret_key: str, bins: list[tuple[str, str]]) -> str:
    """The recent-bins cookie value: a signed list of [bin_id, token-or-empty]."""
    serializer = URLSafeSerializer(secret_key, salt=RECENT_BINS_SALT)
    return serializer.dumps([list(pair) for pair in bins[:RECENT_BINS_MAX]])


def load_recent_bins(secret_key: str, value: str | None) -> list[tuple[str, str]]:
    """The browser's recent bins, newest first; empty when the cookie is missing or forged."""
    if not value:
        return []
    try:
        loaded = URLSafeSerializer(secret_key, salt=RECENT_BINS_SALT).loads(value)
    except BadSignature:
        return []
    if not isinstance(loaded, list):
        return []
    return [
        (str(item[0]), str(item[1])) for item in loaded if isinstance(item, list) and len(item) == 2
    ][:RECENT_BINS_MAX]
