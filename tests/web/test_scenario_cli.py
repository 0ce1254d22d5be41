"""``receiver scenario`` from a shell: a bin's captures (by id, on this instance's database)
replayed in order to a real HTTP target, one line per send, and its exit status."""

from __future__ import annotations

import json
from typing import Any

from actions import numbered_captures
from werkzeug import Request
from werkzeug import Response


def test_the_scenario_command_replays_a_filter_in_order_with_duplicates(app, runner, bins, target):
    bin_id = bins.create()["id"]
    posts = numbered_captures(app, bin_id, 3, spacing_ms=1000)
    numbered_captures(app, bin_id, 2, spacing_ms=1000, method="PUT")
    seen: list[Any] = []

    def record(request: Request) -> Response:
        seen.append((request.method, request.path, json.loads(request.data)["n"]))
        return Response("ok")

    target.expect_request("/hooks/sub").respond_with_handler(record)
    result = runner.invoke(
        args=[
            "scenario",
            bin_id,
            "--to",
            target.url_for("/hooks"),
            "--method",
            "POST",
            "--interval",
            "10",
            "--duplicates",
            "1",
        ]
    )
    assert result.exit_code == 0, result.output
    assert seen == [("POST", "/hooks/sub", n) for n in range(3) for _ in range(2)]
    lines = result.output.splitlines()
    assert lines[0].endswith(f"6 sends to {target.url_for('/hooks')}")
    assert [line.split(" -> ")[0] for line in lines[1:7]] == [
        f"#{k + 1} request {rid}" for k, rid in enumerate(r for r in posts for _ in range(2))
    ]
    assert all(" -> 200 (" in line for line in lines[1:7])
    assert lines[-1] == "done: 6 of 6 sent, 0 failed"
    listed = bins.client.get(f"/api/bins/{bin_id}/scenarios").get_json()["scenarios"]
    assert [(s["status"], s["done"]) for s in listed] == [("done", 6)], "recorded for the inspector"


def test_the_scenario_command_exits_1_when_a_send_fails_and_2_on_misuse(app, runner, bins, target):
    bin_id = bins.create()["id"]
    numbered_captures(app, bin_id, 2, spacing_ms=1000)
    target.expect_request("/hooks/sub").respond_with_data("no", status=500)
    failed = runner.invoke(
        args=["scenario", bin_id, "--to", target.url_for("/hooks"), "--interval", "0"]
    )
    assert failed.exit_code == 1, failed.output
    assert failed.output.splitlines()[-1] == "done: 2 of 2 sent, 2 failed"

    both = runner.invoke(
        args=["scenario", bin_id, "--to", target.url_for("/"), "--interval", "5", "--speed", "2"]
    )
    assert both.exit_code == 2 and "--interval replaces the original spacing" in both.output
    missing = runner.invoke(args=["scenario", "no-such-bin", "--to", target.url_for("/")])
    assert missing.exit_code == 2 and "no bin 'no-such-bin'" in missing.output
