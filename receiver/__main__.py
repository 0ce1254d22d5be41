"""``python -m receiver``: the ``receiver`` command."""

from receiver.cli import main

main()
