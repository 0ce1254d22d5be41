"""The inspector's tester's tools: the response script panel with its presets, the step shown on
each captured request, and a scenario started from the list's current filter."""

from __future__ import annotations

from htmltree import parse

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
    assert "step 1 of the response script" in text
    other = client.get(f"/bins/{bin_id}/requests/{listed[1]['id']}", headers=HX)
    assert (
        "of the response script"
        not in parse(other.get_data(as_text=True)).find(id="detail-response").text()
    )


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
