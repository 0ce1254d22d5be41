"""WSGI and CLI entry: ``gunicorn -c gunicorn.conf.py app:app``, ``flask --app app …``,
or ``python app.py`` for the development server (which keeps repeated headers, see serving.py).
"""

import os

from receiver import create_app
from receiver.serving import RawHeaderRequestHandler
from receiver.serving import start_background_work

app = create_app()

if __name__ == "__main__":
    start_background_work(app)
    app.run(
        host=os.environ.get("RECEIVER_HOST", "127.0.0.1"),
        port=int(os.environ.get("RECEIVER_PORT", "5000")),
        request_handler=RawHeaderRequestHandler,
        threaded=True,
    )
