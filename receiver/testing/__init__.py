"""Testing webhooks with receiver: the pytest plugin's fixtures and the helpers behind them.

``from receiver.testing import send_event, catalog_events`` in a test; the fixtures
(``webhook_bin``, ``receiver_server``, ``qovery_mock``, …) come with the plugin (``pytest_plugin``).
"""

from receiver.testing.client import Capture
from receiver.testing.client import ReceiverApiError
from receiver.testing.client import ReceiverServer
from receiver.testing.client import SendError
from receiver.testing.client import SentResponse
from receiver.testing.client import WebhookBin
from receiver.testing.client import catalog_events
from receiver.testing.client import send_event
from receiver.testing.client import send_recording
from receiver.testing.client import start_receiver
from receiver.testing.mocks import MockProvider

__all__ = [
    "Capture",
    "MockProvider",
    "ReceiverApiError",
    "ReceiverServer",
    "SendError",
    "SentResponse",
    "WebhookBin",
    "catalog_events",
    "send_event",
    "send_recording",
    "start_receiver",
]
