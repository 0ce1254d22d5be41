"""receiver's version: one string, read from the installed package's metadata.

Everything that names the version (the HAR creator, the User-Agent of samples and of
``receiver listen``, the OpenAPI document, ``receiver --version``) reads it here, so the figure
in ``pyproject.toml`` is the only place it is written.
"""

from __future__ import annotations

import functools

DISTRIBUTION = "receiver"


@functools.cache
def package_version() -> str:
    """The installed distribution's version (``0+unknown`` when it is not installed, as when
    the package is imported from a bare source tree). ``importlib.metadata`` is imported here,
    when a version is first asked for: it costs a command's start-up more than most modules."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"


def user_agent(component: str) -> str:
    """A User-Agent naming a part of receiver and its version (``receiver-send/0.2.0``)."""
    return f"{component}/{package_version()}"
