"""WSGI entry for a clone: ``gunicorn -c gunicorn.conf.py app:app``, ``flask --app app …``, or
``python app.py`` for the development server (which keeps repeated headers, see serving.py).

Installed, the ``receiver`` command does all of this without this file (``receiver serve``).
"""

from receiver import create_app
from receiver.web.serving import run_dev_server

app = create_app()

if __name__ == "__main__":
    run_dev_server(app)
