"""The baseline for bench/capture_throughput.py: a bare Flask app that answers and stores nothing.

Same route shape and same answer shape as the real ingest, so the ratio measures capture alone.
"""

from flask import Flask
from flask import request

app = Flask(__name__)


@app.route("/b/<bin_id>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def capture(bin_id: str):
    request.get_data()
    return {"ok": True, "request_id": "1"}
