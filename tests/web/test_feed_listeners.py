"""Named listeners: positions kept on the server, reports of local answers kept beside replays
and forwards, and the inspector's listeners panel with its command line."""

from __future__ import annotations

import re
from typing import Any

import pytest
from actions import store_captures
from flask import Flask
from flask import render_template
from flask.testing import FlaskClient

from receiver.capture.request import RawRequest
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import Replay

HTMX = {"HX-Request": "true"}


def post(path: str = "/") -> RawRequest:
    return RawRequest("POST", path, "", [("Content-Type", "application/json")], b"{}")


def open_listener(client: FlaskClient, bin_id: str, name: str, **body: Any) -> Any:
    return client.put(f"/api/bins/{bin_id}/listeners/{name}", json=body or None)


def report(
    client: FlaskClient, bin_id: str, name: str, request_id: int, seq: int, **fields: Any
) -> Any:
    body = {
        "request_id": request_id,
        "seq": seq,
        "delivered": True,
        "url": "http://localhost:8000/hooks",
        "method": "POST",
        "request_headers": [["Content-Type", "application/json"]],
        "status_code": 204,
        "elapsed_ms": 4.5,
        **fields,
    }
    return client.post(f"/api/bins/{bin_id}/listeners/{name}/deliveries", json=body)


def test_a_new_listener_starts_from_now_and_an_existing_one_resumes(
    app: Flask, client: FlaskClient, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    store_captures(app, bin_id, [post() for _ in range(3)])
    created = open_listener(client, bin_id, "laptop")
    assert created.status_code == 201
    shown = created.get_json()
    assert (shown["name"], shown["position"], shown["behind"], shown["connected"]) == (
        "laptop",
        3,
        0,
        True,
    )
    assert shown["signature"] == {"scheme": None, "header": None}
    store_captures(app, bin_id, [post()])
    again = open_listener(client, bin_id, "laptop", **{"from": "start"})
    assert again.status_code == 200
    assert (again.get_json()["position"], again.get_json()["behind"]) == (3, 1)


def test_from_start_begins_before_the_oldest_capture_the_bin_still_holds(
    client: FlaskClient, bins: Any, make_app: Any
) -> None:
    bin_id = bins.create()["id"]
    store_captures(make_app(RECEIVER_MAX_REQUESTS_PER_BIN=2), bin_id, [post() for _ in range(5)])
    shown = open_listener(client, bin_id, "ci", **{"from": "start"}).get_json()
    assert shown["position"] == 3
    page = client.get(f"/api/bins/{bin_id}/feed", query_string={"after": 3}).get_json()
    assert [item["seq"] for item in page["requests"]] == [4, 5] and page["removed"] == 0
    empty = bins.create()["id"]
    assert open_listener(client, empty, "ci", **{"from": "start"}).get_json()["position"] == 0


def test_a_listener_can_be_made_again_at_its_own_position(
    app: Flask, client: FlaskClient, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    store_captures(app, bin_id, [post() for _ in range(4)])
    assert open_listener(client, bin_id, "x", position=2).get_json()["position"] == 2
    assert open_listener(client, bin_id, "y", position=99).get_json()["position"] == 4


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("-dash", None),
        ("a" * 65, None),
        ("ok", {"from": "yesterday"}),
        ("ok", {"from": "start", "position": 1}),
        ("ok", {"position": -1}),
        ("ok", {"position": True}),
        ("ok", {"colour": "red"}),
    ],
)
def test_unusable_listener_requests_answer_400(
    client: FlaskClient, bins: Any, name: str, body: Any
) -> None:
    bin_id = bins.create()["id"]
    response = client.put(f"/api/bins/{bin_id}/listeners/{name}", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"]


def test_reports_move_the_position_forward_and_are_kept_as_listen_replays(
    app: Flask, client: FlaskClient, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    open_listener(client, bin_id, "laptop")
    ids = store_captures(app, bin_id, [post("/a"), post("/b")])
    answer = report(client, bin_id, "laptop", ids[1], 2)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["listener"]["position"] == 2
    assert answer.get_json()["listener"]["last_status"] == 204
    late = report(client, bin_id, "laptop", ids[0], 1)  # a late report never moves it back
    assert late.get_json()["listener"]["position"] == 2
    replays = client.get(f"/api/bins/{bin_id}/requests/{ids[1]}/replays").get_json()["replays"]
    assert [(r["kind"], r["status_code"], r["url"]) for r in replays] == [
        ("listen", 204, "http://localhost:8000/hooks")
    ]
    with app.app_context():
        names = {r.listener_name for r in db.session.scalars(db.select(Replay))}
    assert names == {"laptop"}


def test_a_target_that_stays_down_is_recorded_once_per_capture(
    app: Flask, client: FlaskClient, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    open_listener(client, bin_id, "laptop")
    (request_id,) = store_captures(app, bin_id, [post()])
    down = {"delivered": False, "status_code": None, "error": "connection refused"}
    for _ in range(3):
        answer = report(client, bin_id, "laptop", request_id, 1, **down)
        assert answer.status_code == 200
    assert answer.get_json()["replay_id"] is None
    listener = answer.get_json()["listener"]
    assert (listener["position"], listener["last_error"]) == (0, "connection refused")
    report(client, bin_id, "laptop", request_id, 1)
    kinds = [
        (r["status_code"], r["error"])
        for r in client.get(f"/api/bins/{bin_id}/requests/{request_id}/replays").get_json()[
            "replays"
        ]
    ]
    assert kinds == [(204, None), (None, "connection refused")]


def test_a_report_for_an_evicted_capture_still_moves_the_position(
    client: FlaskClient, bins: Any, make_app: Any
) -> None:
    bin_id = bins.create()["id"]
    open_listener(client, bin_id, "laptop")
    ids = store_captures(make_app(RECEIVER_MAX_REQUESTS_PER_BIN=1), bin_id, [post(), post()])
    answer = report(client, bin_id, "laptop", ids[0], 1)
    assert answer.status_code == 200
    assert answer.get_json() == {**answer.get_json(), "replay_id": None}
    assert answer.get_json()["listener"]["position"] == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"seq": 99},
        {"seq": 0},
        {"delivered": "yes"},
        {"status_code": 99},
        {"status_code": None, "error": None},
        {"error": ""},
        {"error": "x" * 2001},
        {"url": ""},
        {"method": "M" * 17},
        {"elapsed_ms": -1},
        {"elapsed_ms": True},
        {"request_headers": [["a"]]},
        {"request_headers": [["a", "b"]] * 201},
        {"response_headers": [["a", "x" * 70000]]},
        {"response_body_base64": "***"},
        {"response_body_base64": "A" * 90000},
        {"extra": 1},
    ],
)
def test_unusable_reports_answer_400(
    app: Flask, client: FlaskClient, bins: Any, changes: dict[str, Any]
) -> None:
    bin_id = bins.create()["id"]
    open_listener(client, bin_id, "laptop")
    (request_id,) = store_captures(app, bin_id, [post()])
    fields = dict(changes)
    answer = report(client, bin_id, "laptop", request_id, fields.pop("seq", 1), **fields)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] in ("invalid_report", "invalid_request")


def test_reports_for_unknown_listeners_and_bins_answer_404(
    app: Flask, client: FlaskClient, bins: Any
) -> None:
    made = bins.create(private=True)
    bin_id = made["id"]
    (request_id,) = store_captures(app, bin_id, [post()])
    token = {"Authorization": f"Bearer {made['token']}"}
    assert client.put(f"/api/bins/{bin_id}/listeners/x").status_code == 404
    assert client.put(f"/api/bins/{bin_id}/listeners/x", headers=token).status_code == 201
    assert report(client, bin_id, "x", request_id, 1).status_code == 404
    assert report(client, bin_id, "nobody", request_id, 1).status_code == 404
    assert client.get(f"/api/bins/{bin_id}/listeners").status_code == 404
    assert client.get(f"/api/bins/{bin_id}/listeners/x").status_code == 404
    assert client.get(f"/api/bins/{bin_id}/listeners/x", headers=token).status_code == 200
    assert client.get(f"/api/bins/{bin_id}/listeners/-x", headers=token).status_code == 404


def test_a_poll_naming_its_listener_marks_it_seen_and_moves_it_up_to_its_cursor(
    app: Flask, client: FlaskClient, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    open_listener(client, bin_id, "laptop")
    store_captures(app, bin_id, [post() for _ in range(3)])
    page = client.get(
        f"/api/bins/{bin_id}/feed",
        query_string={"after": 2, "listener": "laptop", "path_prefix": "/x"},
    ).get_json()
    assert page["next"] == 3
    shown = client.get(f"/api/bins/{bin_id}/listeners/laptop").get_json()
    assert shown["position"] == 2
    client.get(f"/api/bins/{bin_id}/feed", query_string={"after": 999, "listener": "laptop"})
    assert client.get(f"/api/bins/{bin_id}/listeners/laptop").get_json()["position"] == 3


def test_a_listener_that_leaves_is_disconnected_at_once_until_it_polls_again(
    client: FlaskClient, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    open_listener(client, bin_id, "laptop")
    assert client.get(f"/api/bins/{bin_id}/listeners/laptop").get_json()["connected"] is True
    assert 'badge-valid">connected<' in panel(client, bin_id).get_data(as_text=True)

    left = client.post(f"/api/bins/{bin_id}/listeners/laptop/leave")

    assert left.status_code == 200, left.get_json()
    assert (left.get_json()["connected"], left.get_json()["position"]) == (False, 0)
    assert client.get(f"/api/bins/{bin_id}/listeners/laptop").get_json()["connected"] is False
    html = panel(client, bin_id).get_data(as_text=True)
    assert "offline" in html and ">connected<" not in html
    client.get(f"/api/bins/{bin_id}/feed", query_string={"after": 0, "listener": "laptop"})
    assert client.get(f"/api/bins/{bin_id}/listeners/laptop").get_json()["connected"] is True
    assert client.post(f"/api/bins/{bin_id}/listeners/nobody/leave").status_code == 404


def test_opening_a_listener_gives_the_bins_secret_only_to_a_holder_of_its_token(
    client: FlaskClient, bins: Any
) -> None:
    signature = {"scheme": "hmac-sha256", "secret": "s3cret"}
    public = bins.create(signature=signature)["id"]
    private = bins.create(private=True, signature=signature)
    token = {"Authorization": f"Bearer {private['token']}"}

    share = private["inspect_url"].rsplit("/", 1)[1]  # the share link's read-only token
    reader = {"Authorization": f"Bearer {share}"}

    anyone = client.put(f"/api/bins/{public}/listeners/x").get_json()["signature"]
    holder = client.put(f"/api/bins/{private['id']}/listeners/x", headers=token).get_json()
    shared = client.put(f"/api/bins/{private['id']}/listeners/y", headers=reader).get_json()

    assert anyone == {"scheme": "hmac-sha256", "header": None}
    assert holder["signature"] == {"scheme": "hmac-sha256", "header": None, "secret": "s3cret"}
    # a share link's holder may listen, but is never handed the secret the owner signs with
    assert shared["signature"] == {"scheme": "hmac-sha256", "header": None}


def test_listeners_are_listed_and_forgotten(client: FlaskClient, bins: Any) -> None:
    bin_id = bins.create()["id"]
    for name in ("a", "b"):
        open_listener(client, bin_id, name)
    listed = client.get(f"/api/bins/{bin_id}/listeners").get_json()
    assert sorted(item["name"] for item in listed["listeners"]) == ["a", "b"]
    assert listed["latest"] == 0
    assert client.delete(f"/api/bins/{bin_id}/listeners/a").status_code == 204
    assert client.delete(f"/api/bins/{bin_id}/listeners/a").status_code == 404
    listed = client.get(f"/api/bins/{bin_id}/listeners").get_json()
    assert [item["name"] for item in listed["listeners"]] == ["b"]


# -- the inspector's panel -----------------------------------------------------------------------


def panel(client: FlaskClient, bin_id: str, **headers: str) -> Any:
    return client.get(f"/bins/{bin_id}/listeners", headers={**HTMX, **headers})


def test_the_panel_shows_each_listener_and_a_command_line_to_copy(
    app: Flask, client: FlaskClient, bins: Any
) -> None:
    made = bins.create()
    bin_id = made["id"]
    open_listener(client, bin_id, "laptop")
    ids = store_captures(app, bin_id, [post(), post()])
    report(client, bin_id, "laptop", ids[0], 1, status_code=500)
    response = panel(client, bin_id)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="listeners"')
    assert f"receiver listen {made['inspect_url']} --to http://localhost:8000/webhooks" in html
    assert "<code>laptop</code>" in html and "connected" in html
    assert "#1" in html and "1 behind" in html
    assert 'badge-invalid">500<' in html
    assert f"request={ids[0]}" in html
    assert 'id="listener-rows"' in html and 'hx-select="#listener-rows"' in html


def test_a_listeners_error_is_escaped_and_inert(app: Flask, client: FlaskClient, bins: Any) -> None:
    bin_id = bins.create()["id"]
    open_listener(client, bin_id, "laptop")
    (request_id,) = store_captures(app, bin_id, [post()])
    hostile = '<img src=x onerror=alert(1)><div hx-get="/evil" hx-trigger="load"></div>'
    report(client, bin_id, "laptop", request_id, 1, status_code=None, error=hostile)
    html = panel(client, bin_id).get_data(as_text=True)
    assert "<img" not in html and 'hx-get="/evil"' not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    body = html[html.index("<tbody") :]
    assert body.startswith("<tbody hx-disable>")


def test_a_private_bins_command_line_carries_the_token_the_browser_holds(
    client: FlaskClient, bins: Any
) -> None:
    made = bins.create(private=True)
    hidden = panel(client, made["id"])
    assert hidden.status_code == 404
    shown = panel(client, made["id"], Authorization=f"Bearer {made['token']}")
    assert f"--token {made['token']}" in shown.get_data(as_text=True)


def test_a_team_deployments_command_line_names_the_access_token_without_showing_it(
    make_app: Any,
) -> None:
    app = make_app(RECEIVER_ACCESS_TOKEN="team-secret")
    client = app.test_client()
    auth = {"Authorization": "Bearer team-secret"}
    made = client.post("/api/bins", json={}, headers=auth).get_json()
    html = panel(client, made["id"], **auth).get_data(as_text=True)
    assert "--token &#34;$RECEIVER_ACCESS_TOKEN&#34;" in html
    assert "team-secret" not in html


def test_the_panel_loads_itself_when_included_without_its_context(app: Flask, bins: Any) -> None:
    bin_id = bins.create()["id"]
    with app.test_request_context(f"/bins/{bin_id}"):
        found = db.session.get(Bin, bin_id)
        html = render_template("partials/_listeners.html", bin=found)
    assert re.search(r'<section id="listeners"[^>]*hx-trigger="load"', html)
    assert f'hx-get="/bins/{bin_id}/listeners"' in html


def test_the_panel_url_loaded_directly_goes_to_the_bin_page_and_a_gone_bin_stops_polling(
    client: FlaskClient, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    direct = client.get(f"/bins/{bin_id}/listeners")
    assert direct.status_code in (302, 303)
    assert direct.headers["Location"].endswith(f"/bins/{bin_id}")
    assert "HX-Request" in direct.headers.get("Vary", "")
    client.delete(f"/api/bins/{bin_id}")
    assert panel(client, bin_id).status_code == 286


def test_the_bin_page_shows_the_listeners_panel_which_then_loads_itself(
    client: FlaskClient, bins: Any
) -> None:
    bin_id = bins.create()["id"]
    html = client.get(f"/bins/{bin_id}").get_data(as_text=True)
    assert re.search(
        rf'<section id="listeners"[^>]*hx-get="/bins/{bin_id}/listeners"[^>]*hx-trigger="load"',
        html,
    )
