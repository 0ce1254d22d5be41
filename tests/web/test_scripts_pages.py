"""The inspector's tester's tools: the response script panel with its presets, the step shown on
each captured request, and a scenario started from the list's current filter."""

from __future__ import annotations

from htmltree import parse

from receiver.storage.db import db
from receiver.storage.models import Scenario

HX = {"HX-Request": "true"}


def script_form(client, bin_id: str, **fields: str):
    return client.post(f"/bins/{bin_id}/script", data=fields, headers=HX)


def bin_settings(client, bin_id: str) -> dict:
    return client.get(f"/api/bins/{bin_id}").get_json()


def test_the_presets_set_the_script_and_the_panel_shows_what_is_left(app, client, bins):
    bin_id = bins.create()["id"]
    empty = client.get(f"/bins/{bin_id}/script", headers=HX).get_data(as_text=True)
    assert "No script: every request gets the bin's own answer (200)" in empty

    answer = script_form(
        client, bin_id, preset="fail_then_succeed", failures="2", failure_status="503"
    )
    assert answer.status_code == 200
    assert bin_settings(client, bin_id)["response_script"] == [{"status": 503}, {"status": 503}]
    panel = parse(answer.get_data(as_text=True))
    assert len(panel.find(id="response-script").find_all("li")) == 2
    bins.ingest(bin_id, body=b"x")
    left = client.get(f"/bins/{bin_id}/script", headers=HX).get_data(as_text=True)
    assert len(parse(left).find_all("li")) == 1

    max_delay = app.config["RECEIVER_MAX_RESPONSE_DELAY_MS"]
    script_form(client, bin_id, preset="time_out_once", delay_ms=str(max_delay))
    assert bin_settings(client, bin_id)["response_script"] == [{"delay_ms": max_delay}]

    script_form(client, bin_id, preset="always_410")
    shown = bin_settings(client, bin_id)
    assert (shown["response"]["status"], shown["response_script"]) == (410, [])
    assert bins.ingest(bin_id, body=b"x").status_code == 410

    script_form(client, bin_id, preset="custom", steps='[{"status": 500}, {"body": "ok"}]')
    assert bin_settings(client, bin_id)["response_script"] == [{"status": 500}, {"body": "ok"}]
    script_form(client, bin_id, preset="clear")
    assert bin_settings(client, bin_id)["response_script"] == []


def test_a_bad_script_is_refused_in_the_panel_and_changes_nothing(client, bins):
    bin_id = bins.create()["id"]
    for fields, words in (
        ({"preset": "custom", "steps": "[{"}, "the steps are a JSON list of answers"),
        (
            {"preset": "custom", "steps": '[{"status": 99}]'},
            "response_script[0].status must be from 200 to 599",
        ),
        ({"preset": "fail_then_succeed", "failures": "99"}, "fail 1 to 20 times"),
    ):
        answer = script_form(client, bin_id, **fields)
        assert answer.status_code == 400
        assert words in answer.get_data(as_text=True)
    assert bin_settings(client, bin_id)["response_script"] == []


def test_each_capture_shows_the_step_that_answered_it(client, bins):
    bin_id = bins.create()["id"]
    client.patch(f"/api/bins/{bin_id}", json={"response_script": [{"status": 502}]})
    first = bins.ingest(bin_id, body=b"a")
    second = bins.ingest(bin_id, body=b"b")
    assert (first.status_code, second.status_code) == (502, 200)
    listed = sorted(bins.requests(bin_id)["requests"], key=lambda r: r["id"])
    detail = client.get(f"/bins/{bin_id}/requests/{listed[0]['id']}", headers=HX)
    text = parse(detail.get_data(as_text=True)).find(id="detail-response").text()
    assert "response_script[0]" in text
    other = client.get(f"/bins/{bin_id}/requests/{listed[1]['id']}", headers=HX)
    assert (
        "of the response script"
        not in parse(other.get_data(as_text=True)).find(id="detail-response").text()
    )


def test_the_page_numbers_script_steps_as_the_api_does(client, bins):
    """The API's ``response.step`` is the step's index in the script as it was set; the row,
    the detail and the script panel say the same number, as an index."""
    bin_id = bins.create()["id"]
    steps = [{"status": 500}, {"status": 503}, {"status": 202}]
    client.patch(f"/api/bins/{bin_id}", json={"response_script": steps})
    bins.ingest(bin_id, body=b"a")
    second = int(bins.ingest(bin_id, body=b"b").headers["X-Receiver-Request-Id"])
    assert bins.request(bin_id, second)["response"]["step"] == 1
    page = parse(client.get(f"/bins/{bin_id}").data)
    badge = page.find(id=f"row-{second}").find_all(cls="badge-step")[0].text()
    assert "script[1] · 503" in " ".join(badge.split())
    detail = client.get(f"/bins/{bin_id}/requests/{second}", headers=HX)
    assert "response_script[1]" in parse(detail.data).find(id="detail-response").text()
    panel = parse(client.get(f"/bins/{bin_id}/script", headers=HX).data)
    left = [item.text().split() for item in panel.find(id="response-script").find_all("li")]
    assert [words[:2] for words in left] == [["response_script[2]", "202"]]


def test_a_scenario_starts_from_the_lists_current_filter(client, bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id, method="PUT", body=b"p")
    bins.ingest(bin_id, method="POST", body=b"q")
    panel = client.get(f"/bins/{bin_id}/scenarios?method=PUT", headers=HX).get_data(as_text=True)
    form = parse(panel).find(id="scenario-panel")
    assert "the captures this filter shows" in form.text()
    assert form.find(name="method", value="PUT") is not None

    started = client.post(
        f"/bins/{bin_id}/scenarios",
        data={
            "url": "http://127.0.0.1:9/hooks",
            "method": "PUT",
            "timing": "interval",
            "interval_ms": "0",
        },
        headers=HX,
    )
    assert started.status_code == 200, started.get_data(as_text=True)
    made = client.get(f"/api/bins/{bin_id}/scenarios").get_json()["scenarios"]
    assert [(s["total"], s["spec"]["filter"]) for s in made] == [(1, {"method": "PUT"})]
    progress = parse(started.get_data(as_text=True)).find(id=f"scenario-progress-{made[0]['id']}")
    assert progress is not None and progress.attrs.get("hx-trigger") == "every 1s"

    refused = client.post(f"/bins/{bin_id}/scenarios", data={"url": "ftp://x"}, headers=HX)
    assert refused.status_code == 400


def checked_timing(panel) -> str:
    (chosen,) = [
        node.attrs["value"]
        for node in panel.find_all("input", name="timing")
        if "checked" in node.attrs
    ]
    return chosen


def field(panel, name: str) -> str:
    found = panel.find(name=name)
    assert found is not None, name
    return found.attrs.get("value") or ""


def test_the_scenario_form_comes_back_as_it_was_sent(client, bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id, body=b"{}")
    fresh = parse(client.get(f"/bins/{bin_id}/scenarios", headers=HX).get_data(as_text=True))
    assert (checked_timing(fresh), field(fresh, "interval_ms")) == ("original", "100")

    sent = {
        "url": "http://127.0.0.1:9/hooks",
        "timing": "interval",
        "interval_ms": "250",
        "speed": "3",
        "duplicates": "1",
        "shuffle_window": "2",
    }
    started = client.post(f"/bins/{bin_id}/scenarios", data=sent, headers=HX)
    assert started.status_code == 200, started.get_data(as_text=True)
    refused = client.post(
        f"/bins/{bin_id}/scenarios", data={**sent, "duplicates": "many"}, headers=HX
    )
    assert refused.status_code == 400

    for answer in (started, refused):
        panel = parse(answer.get_data(as_text=True)).find(id="scenario-panel")
        assert checked_timing(panel) == "interval"
        assert field(panel, "url") == "http://127.0.0.1:9/hooks"
        assert field(panel, "interval_ms") == "250"
        assert field(panel, "speed") == "3"
        assert field(panel, "shuffle_window") == "2"
    assert field(parse(refused.get_data(as_text=True)), "duplicates") == "many"


def test_earlier_runs_show_how_many_of_their_sends_failed(app, client, bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id, body=b"{}")
    made = client.post(f"/api/bins/{bin_id}/scenarios", json={"url": "http://127.0.0.1:9/"})
    with app.app_context():
        scenario = db.session.get(Scenario, made.get_json()["id"])
        scenario.status, scenario.done, scenario.failed = "done", 1, 1
        db.session.commit()

    panel = parse(client.get(f"/bins/{bin_id}/scenarios", headers=HX).get_data(as_text=True))

    (run,) = panel.find(cls="scenario-history").find_all("li")
    assert " ".join(run.text().split()).startswith("done 1/1 sent, 1 failed to http://127.0.0.1:9/")
    assert "badge-invalid" in run.find_all("span", cls="badge")[0].attrs["class"]
