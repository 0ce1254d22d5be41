"""The simulated providers' HTTP surface: one blueprint per provider under ``/mock/<provider>``,
each with the provider's documented routes and the simulator's own (``common``)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register the three mock APIs."""
    from receiver.web.mocks import akinon
    from receiver.web.mocks import apitree
    from receiver.web.mocks import qovery

    for module in (akinon, apitree, qovery):
        app.register_blueprint(module.bp)
