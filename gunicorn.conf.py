"""gunicorn settings for ``gunicorn -c gunicorn.conf.py app:app``: the same settings and hooks as
``receiver serve`` (see ``receiver/web/serving.py``), read from the same environment variables.

Every value can be overridden on the command line or through GUNICORN_CMD_ARGS.
"""

import os

from receiver.config import load_settings
from receiver.web.serving import gunicorn_settings

# gunicorn takes every module-level name that is one of its settings (hooks included)
globals().update(gunicorn_settings(load_settings(os.environ)))
