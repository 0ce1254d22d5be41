"""All bins (issue 18, item 16): behind a team token, a page lists every bin of the deployment
with its request count and last activity, searched by label, in keyset pages; without a team
token the page does not exist and nothing lists bins this browser does not know.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from htmltree import parse
from sqlalchemy import event
from sqlalchemy import update

from receiver.bins import directory
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import utcnow

TEAM = "team-token"
HTMX = {"HX-Request": "true"}
BEARER = {"Authorization": f"Bearer {TEAM}"}


@pytest.fixture
def team(make_app: Any) -> Flask:
    return make_app(RECEIVER_ACCESS_TOKEN=TEAM)


def member(app: Flask) -> FlaskClient:
    """A browser logged in to the team deployment."""
    browser = app.test_client()
    assert browser.post("/login", data={"token": TEAM}).status_code == 303
    return browser


def make_bin(app: Flask, **fields: Any) -> dict[str, Any]:
    """A bin made by someone else (a script with the team token)."""
    response = app.test_client().post("/api/bins", json=fields, headers=BEARER)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def listed(response: Any) -> list[str]:
    """The bin ids a page or partial lists, top to bottom."""
    return [node.text() for node in parse(response.data).find_all(cls="bin-list-id")]


def test_an_open_deployment_lists_no_bins_it_does_not_know(client, bins):
    bins.create(label="someone else's")
    assert client.get("/bins").status_code == 404
    home = parse(client.get("/").data)
    assert not [a for a in home.find_all("a") if a.attrs.get("href") == "/bins"]


def test_a_team_member_sees_every_bin_with_its_count_and_activity(team):
    first = make_bin(team, label="Staging hooks")
    second = make_bin(team, label="Payments")
    browser = member(team)
    browser.post(f"/b/{first['id']}", data=b"{}")
    page = browser.get("/bins")
    assert page.status_code == 200
    assert listed(page) == [first["id"], second["id"]]  # the most recently active first
    row = parse(page.data).find_all(cls="bin-list-item")[0]
    assert "Staging hooks" in row.text() and "1 request" in row.text()
    assert "last" in row.find_all(cls="bin-list-activity")[0].text()
    nav = parse(browser.get("/").data).find_all("nav")[0]
    assert "/bins" in [a.attrs.get("href") for a in nav.find_all("a")]


def test_private_bins_are_listed_only_to_a_browser_holding_their_token(team):
    public = make_bin(team, label="public")
    hidden = make_bin(team, label="hidden", private=True)
    browser = member(team)
    assert listed(browser.get("/bins")) == [public["id"]]
    browser.get(f"/bins/{hidden['id']}/share/{hidden['inspect_url'].rsplit('/', 1)[1]}")
    assert listed(browser.get("/bins")) == [hidden["id"], public["id"]]
    assert listed(member(team).get("/bins")) == [public["id"]]


def test_the_search_finds_labels_in_any_case_and_ids_by_their_start(team):
    make_bin(team, label="Stripe staging")
    wanted = make_bin(team, label="GitHub payments")
    literal = make_bin(team, label="100%_sure")
    readable = make_bin(team, id="ci-bin-1", label="")
    browser = member(team)
    assert listed(browser.get("/bins?q=PAYMENTS")) == [wanted["id"]]
    assert listed(browser.get("/bins?q=%25_")) == [literal["id"]]  # % and _ are letters here
    assert listed(browser.get("/bins?q=ci-bin")) == [readable["id"]]
    searched = browser.get("/bins?q=nothing-like-this", headers=HTMX)
    assert searched.headers["HX-Push-Url"] == "/bins?q=nothing-like-this"
    assert "No bin's label contains" in parse(searched.data).text()


def test_pages_follow_a_cursor_and_each_bin_appears_once(team):
    made = [make_bin(team, label=f"bin {n}")["id"] for n in range(7)]
    with team.app_context():
        # two bins with the same expiry: the id breaks the tie
        same = utcnow() + timedelta(days=3)
        db.session.execute(update(Bin).where(Bin.id.in_(made[2:4])).values(expires_at=same))
        db.session.commit()
        seen: list[str] = []
        cursor = None
        while True:
            page = directory.list_bins(db.session, now=utcnow(), before=cursor, limit=2)
            seen += [found.id for found in page.bins]
            if page.next is None:
                break
            cursor = directory.Cursor.parse(str(page.next))
        ordered = db.session.scalars(
            db.select(Bin.id).order_by(Bin.expires_at.desc(), Bin.id.desc())
        ).all()
    assert seen == list(ordered) and sorted(seen) == sorted(made)


def test_the_page_brings_the_next_page_on_request(team, monkeypatch):
    monkeypatch.setattr(directory, "PAGE_SIZE", 2)
    made = [make_bin(team, label=f"bin {n}")["id"] for n in range(5)]
    browser = member(team)
    page = parse(browser.get("/bins").data)
    more = page.find_all(cls="load-older")[0].find_all("button")[0].attrs["hx-get"]
    rows = browser.get(more, headers=HTMX)
    assert listed(rows) == list(reversed(made))[2:4]


@pytest.mark.parametrize("cursor", ["x", "2026-01-01T00:00:00.000000Z~", "1~abc", "a" * 300])
def test_a_cursor_this_list_did_not_hand_out_is_a_400(team, cursor):
    assert member(team).get("/bins", query_string={"before": cursor}).status_code == 400


def test_expired_bins_are_not_listed(team):
    gone = make_bin(team, label="gone")
    kept = make_bin(team, label="kept")
    with team.app_context():
        db.session.execute(
            update(Bin).where(Bin.id == gone["id"]).values(expires_at=utcnow() - timedelta(1))
        )
        db.session.commit()
    assert listed(member(team).get("/bins")) == [kept["id"]]


@pytest.mark.parametrize("paged", [False, True], ids=["first page", "next page"])
def test_on_sqlite_a_page_walks_the_expiry_index(team, database_url, paged):
    """Cheap at 100,000 bins: a page reads the index in order from where the last one ended and
    stops after a page, with no sort of the whole table. The plan is asked of the statement as
    it ran, with its parameters (with literal values SQLite plans differently). PostgreSQL's
    planner picks its own plan on small tables: bench figures are in the README."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the query plan is SQLite's")
    before = directory.Cursor(utcnow() + timedelta(days=3), "some-bin") if paged else None
    ran: list[tuple[str, Any]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if "FROM bin" in statement:
            ran.append((statement, parameters))

    with team.app_context():
        event.listen(db.engine, "before_cursor_execute", keep)
        try:
            directory.list_bins(db.session, now=utcnow(), also_private=["mine"], before=before)
        finally:
            event.remove(db.engine, "before_cursor_execute", keep)
        statement, parameters = ran[-1]
        plan = db.session.connection().exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}", parameters
        )
        details = " ".join(str(row[-1]) for row in plan.all())
    assert "USING INDEX ix_bin_expires_at (expires_at" in details, details
    assert "USE TEMP B-TREE FOR ORDER BY" not in details, details
    assert "MULTI-INDEX OR" not in details, details
