"""The JSON API under /api: stable shapes, errors always ``{"error": {"code", "message"}}``.

One blueprint (``api``, in ``common``) whose routes live in a module per resource.
"""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register the API's routes (importing a module adds its routes to the blueprint)."""
    from receiver.web.api import bins  # noqa: F401
    from receiver.web.api import catalog  # noqa: F401
    from receiver.web.api import compare  # noqa: F401
    from receiver.web.api import delivery  # noqa: F401
    from receiver.web.api import feed  # noqa: F401
    from receiver.web.api import requests  # noqa: F401
    from receiver.web.api import scenarios  # noqa: F401
    from receiver.web.api.common import bp

    app.register_blueprint(bp)
