"""Signed tokens, one itsdangerous serializer per purpose, each with its own salt.

A private bin has two tokens, told apart by their salt: the owner's (``bin_token``: everything,
settings and deletion included) and the read-only one that its share link carries
(``read_token``: see the captures and replay them). Both carry the bin's ``token_version``, so
regenerating revokes both kinds.
"""

from __future__ import annotations

from typing import Literal

from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer

BIN_TOKEN_SALT = "receiver.bin-token"
READ_TOKEN_SALT = "receiver.bin-read-token"
RECENT_BINS_SALT = "receiver.recent-bins"
RECENT_BINS_MAX = 20

Role = Literal["owner", "read"]
OWNER: Role = "owner"
READ: Role = "read"
ROLES: tuple[Role, ...] = (OWNER, READ)


def bin_token(secret_key: str, bin_id: str, version: int = 0) -> str:
    """The owner's bearer token of a private bin, for the bin's current ``token_version``."""
    return URLSafeSerializer(secret_key, salt=BIN_TOKEN_SALT).dumps([bin_id, version])


def read_token(secret_key: str, bin_id: str, version: int = 0) -> str:
    """The read-only token of a private bin (its share link's), for its ``token_version``."""
    return URLSafeSerializer(secret_key, salt=READ_TOKEN_SALT).dumps([bin_id, version])


def check_bin_token(secret_key: str, bin_id: str, token: str | None, version: int = 0) -> bool:
    """True when ``token`` is the owner's token issued for ``bin_id`` at its current
    ``version`` by this installation (regenerating a bin's token bumps the version, revoking
    the older ones)."""
    return _signed_for(BIN_TOKEN_SALT, secret_key, bin_id, token, version, id_alone=True)


def check_read_token(secret_key: str, bin_id: str, token: str | None, version: int = 0) -> bool:
    """True when ``token`` is the read-only token of ``bin_id`` at its current ``version``."""
    return _signed_for(READ_TOKEN_SALT, secret_key, bin_id, token, version, id_alone=False)


def token_role(secret_key: str, bin_id: str, token: str | None, version: int = 0) -> Role | None:
    """What ``token`` lets its holder do with ``bin_id``: ``owner``, ``read``, or nothing."""
    if check_bin_token(secret_key, bin_id, token, version):
        return OWNER
    if check_read_token(secret_key, bin_id, token, version):
        return READ
    return None


def _signed_for(
    salt: str, secret_key: str, bin_id: str, token: str | None, version: int, *, id_alone: bool
) -> bool:
    if not token:
        return False
    try:
        loaded = URLSafeSerializer(secret_key, salt=salt).loads(token)
    except BadSignature:
        return False
    if isinstance(loaded, list) and len(loaded) == 2:
        return loaded[0] == bin_id and loaded[1] == version and not isinstance(loaded[1], bool)
    # owner tokens given out before they carried a version hold the id alone: version 0
    return id_alone and version == 0 and loaded == bin_id


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
