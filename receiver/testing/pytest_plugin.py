"""pytest plugin: a real webhook bin for your tests, and catalog webhooks for your handlers.

Installing ``receiver`` registers this plugin through the ``pytest11`` entry point, so a project
that depends on it gets the fixtures below with nothing to configure
(``-p no:receiver.testing.pytest_plugin`` turns it off). Without installing, load it with
``-p receiver.testing.pytest_plugin``, or with
``pytest_plugins = ["receiver.testing.pytest_plugin"]`` in the *top-level* ``conftest.py``
(pytest refuses ``pytest_plugins`` in deeper ones). The entry point is named after the module,
so listing it as well as installing the package registers it once.

Fixtures
--------
``receiver_server`` (session)
    A real receiver: Werkzeug's threaded server on a free ``127.0.0.1`` port, serving
    ``create_app`` with a temporary SQLite database (no forwarding thread, a random
    ``SECRET_KEY``). Shut down at the end of the session. It is a `ReceiverServer`: ``url``,
    ``app``, ``api(...)``, ``create_bin(...)``, ``put_schema(...)``.
``webhook_bin``
    A fresh bin for the test, created through the JSON API, deleted afterwards. It is a
    `WebhookBin`: ``id``, ``url`` (point the system under test at it), ``requests()``,
    ``wait_for(count=1, event=None, timeout=5.0)``, ``assert_all_valid()``,
    ``assert_all_verified()``, ``configure(**settings)``, ``send_event(provider, event, ...)``,
    ``save_recording(request, path)``, ``clear()``.
``send_event`` / ``send_recording``
    The helpers of the same names, for tests that prefer fixtures to imports.
``akinon_mock`` / ``apitree_mock`` / ``qovery_mock``
    A simulated provider's webhook-management API on the session's receiver, for an
    organization (ApiTree: a user, with the ``webhook`` scope) of the test's own, reset after
    the test. It is a `MockProvider`: ``base_url`` (where the provider client under test
    points), ``token`` and ``headers``, ``tenant`` (``organization_id`` / ``user_id``),
    ``trigger(event, **attributes)``, ``deliveries()``, ``settings(**changes)``,
    ``issue_token(scopes)``, ``reset()``.

The helpers themselves (``send_event``, ``send_recording``, ``catalog_events``, …) live in
``receiver.testing``: ``from receiver.testing import send_event``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from receiver.testing.client import ReceiverApiError
from receiver.testing.client import ReceiverServer
from receiver.testing.client import WebhookBin
from receiver.testing.client import send_event
from receiver.testing.client import send_recording
from receiver.testing.client import start_receiver
from receiver.testing.mocks import MockProvider

# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def receiver_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReceiverServer]:
    """A receiver on a free loopback port with a temporary database, for the whole session."""
    server = start_receiver(tmp_path_factory.mktemp("receiver"))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def webhook_bin(
    receiver_server: ReceiverServer, request: pytest.FixtureRequest
) -> Iterator[WebhookBin]:
    """A fresh bin, labelled with the test's id; deleted after the test."""
    created = receiver_server.create_bin(label=request.node.nodeid[-200:])
    yield created
    try:
        created.delete()
    except ReceiverApiError:  # the test deleted it itself
        pass


@pytest.fixture(name="send_event")
def send_event_fixture() -> Any:
    """The `send_event` helper."""
    return send_event


@pytest.fixture(name="send_recording")
def send_recording_fixture() -> Any:
    """The `send_recording` helper."""
    return send_recording


def _mock(server: ReceiverServer, provider: str) -> Iterator[MockProvider]:
    """A provider's mock for a new tenant, reset after the test."""
    mock = server.mock(provider)
    yield mock
    mock.reset()


@pytest.fixture
def akinon_mock(receiver_server: ReceiverServer) -> Iterator[MockProvider]:
    """Akinon ABP's project webhook API (``/mock/akinon``) for a new organization."""
    yield from _mock(receiver_server, "akinon")


@pytest.fixture
def apitree_mock(receiver_server: ReceiverServer) -> Iterator[MockProvider]:
    """ApiTree's Event-API webhooks (``/mock/apitree``) for a new user (scope ``webhook``)."""
    yield from _mock(receiver_server, "apitree")


@pytest.fixture
def qovery_mock(receiver_server: ReceiverServer) -> Iterator[MockProvider]:
    """Qovery's organization webhook API (``/mock/qovery``) for a new organization."""
    yield from _mock(receiver_server, "qovery")
