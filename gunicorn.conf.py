"""gunicorn settings for receiver: `gunicorn -c gunicorn.conf.py app:app`.

Every value can be overridden on the command line or through GUNICORN_CMD_ARGS.
"""

import os

from receiver.serving import pre_request  # noqa: F401  (gunicorn reads hooks by name)

bind = os.environ.get("RECEIVER_BIND", "127.0.0.1:5000")
worker_class = "gthread"
workers = int(os.environ.get("RECEIVER_WORKERS", "2"))
threads = int(os.environ.get("RECEIVER_THREADS", "4"))
# webhook senders put long signed query strings in URLs: allow gunicorn's largest bounded line
limit_request_line = 8190
# keep header names that contain an underscore: a capture tool must show what was sent
header_map = "dangerous"
# the live inspector polls; keep-alive saves a handshake per poll
keepalive = 5
# the runtime control socket (gunicorn 25+) is not used, and parallel servers would share its path
control_socket_disable = True
accesslog = os.environ.get("RECEIVER_ACCESS_LOG") or None


def post_worker_init(worker):
    """Each worker forwards captured requests in a thread of its own (see forwarding.py)."""
    from receiver.serving import start_background_work

    start_background_work(worker.wsgi)


def on_starting(server):
    """Create or upgrade the tables once, in the master, before any worker starts."""
    from receiver import create_app
    from receiver.migrate import upgrade_database

    app = create_app({"RECEIVER_AUTO_MIGRATE": False, "RECEIVER_FORWARD_WORKER": False})
    upgrade_database(app)
    app.extensions["receiver.capture"].close()
    os.environ["RECEIVER_AUTO_MIGRATE"] = "0"
