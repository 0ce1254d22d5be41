"""Loads the pytest plugin for the tests below, as installing the package does for its users.

This repository is not pip-installed, so the ``pytest11`` entry point does not register the plugin
here. ``pytest_plugins = ["receiver.pytest_plugin"]`` cannot be used in this file: pytest refuses
``pytest_plugins`` in a conftest below the top level as soon as the whole suite is collected
("Defining 'pytest_plugins' in a non-top-level conftest is no longer supported"). Importing the
fixtures has the same effect for the tests in this folder, and stays correct when the package is
installed too (these definitions then shadow the entry point's identical ones here).
test_plugin_installed.py checks the entry point itself, in a separate pytest process.
"""

from receiver.pytest_plugin import receiver_server  # noqa: F401
from receiver.pytest_plugin import send_event_fixture  # noqa: F401
from receiver.pytest_plugin import send_recording_fixture  # noqa: F401
from receiver.pytest_plugin import webhook_bin  # noqa: F401
