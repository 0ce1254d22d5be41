"""The edge: ids beyond 64 bits answer 404 on every route, filters are checked (empty, unknown
or repeated values answer 400), wrong JSON types answer 400, and deeply nested JSON never
raises a RecursionError anywhere (ingest, the detail page, the API, HAR)."""

from __future__ import annotations

import random
import re

import pytest
from actions import BinActions

from receiver.web.converters import ID_MAX
from receiver.web.converters import digits_at_most

TOO_LARGE = (ID_MAX + 1, 2**64, 10**30)


@pytest.fixture
def bins(client):
    return BinActions(client)


def test_the_id_pattern_takes_exactly_the_numbers_up_to_its_limit():
    pattern = re.compile(digits_at_most(ID_MAX))
    rng = random.Random(63)
    near = [ID_MAX - rng.randrange(10**6) for _ in range(200)]
    near += [ID_MAX + rng.randrange(1, 10**6) for _ in range(200)]
    anywhere = [rng.randrange(10 ** rng.randrange(1, 22)) for _ in range(500)]
    for number in [0, 9, 10, ID_MAX, ID_MAX + 1, *near, *anywhere]:
        assert bool(pattern.fullmatch(str(number))) == (number <= ID_MAX), number


ID_ROUTES = [
    ("GET", "/api/bins/{bin}/requests/{id}"),
    ("DELETE", "/api/bins/{bin}/requests/{id}"),
    ("GET", "/api/bins/{bin}/requests/{id}/raw"),
    ("GET", "/api/bins/{bin}/requests/{id}/export.har"),
    ("GET", "/api/bins/{bin}/requests/{id}/replays"),
    ("POST", "/api/bins/{bin}/requests/{id}/replay"),
    ("POST", "/api/bins/{bin}/requests/{id}/promote"),
]


def test_a_request_id_beyond_64_bits_is_404_json_on_every_api_route(bins, client):
    bin_id = bins.create()["id"]
    for method, template in ID_ROUTES:
        for large in TOO_LARGE:
            path = template.format(bin=bin_id, id=large)
            response = client.open(path, method=method, json={"url": "http://x/"})
            assert response.status_code == 404, (method, path)
            assert response.get_json()["error"]["code"] == "not_found"


def test_the_inspector_with_a_request_id_beyond_64_bits_shows_the_bin(bins, client):
    bin_id = bins.create()["id"]
    for large in TOO_LARGE:
        assert client.get(f"/bins/{bin_id}?request={large}").status_code == 200


BAD_FILTERS = [
    "validation=",
    "method=",
    "event=",
    "q=",
    "q=%20%20",
    "q=%00%2B%C2%9A0%0A",  # a NUL: neither database takes it in a text parameter
    "q=abc%00",
    "validation=maybe",
    "method=GE%20T",
    "before=-1",
    f"after={ID_MAX + 1}",
    "limit=0",
    "limit=1.5",
    "method=GET&method=POST",
    "limit=5&limit=6",
]


def test_empty_unknown_or_repeated_filters_are_400(bins, client):
    bin_id = bins.create()["id"]
    for query in BAD_FILTERS:
        response = client.get(f"/api/bins/{bin_id}/requests?{query}")
        assert response.status_code == 400, (query, response.get_json())
        assert response.get_json()["error"]["code"] == "invalid_filter"


def test_wrong_json_types_in_bin_fields_are_400(bins, client):
    for label in ({}, [], 0, False, 1.5):
        assert client.post("/api/bins", json={"label": label}).status_code == 400, label
    bin_id = bins.create()["id"]
    for change in (
        {"provider": 0},
        {"forward_url": {}},
        {"forward_url": "http://a b c"},
        {"forward_url": "http://"},
        {"signature": {"scheme": "hmac-sha256", "secret": "s", "unknown": 1}},
    ):
        assert client.patch(f"/api/bins/{bin_id}", json=change).status_code == 400, change
    assert client.put("/api/catalog/someone", json={"detection": False}).status_code == 400


def test_a_whole_number_float_counts_as_an_integer(bins, client):
    bin_id = bins.create()["id"]
    response = client.patch(f"/api/bins/{bin_id}", json={"response": {"status": 202.0}})

    assert response.status_code == 200
    assert response.get_json()["response"]["status"] == 202


def test_a_catch_up_url_of_the_wrong_type_is_400(bins, client):
    bin_id = bins.create(forward_url="http://127.0.0.1:9/hooks")["id"]
    response = client.post(f"/api/bins/{bin_id}/forward", json={"url": {}})

    assert response.status_code == 400


def test_the_import_route_allows_only_post(client):
    response = client.options("/api/catalog/import")

    assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


def test_the_openapi_version_is_the_package_version(client):
    from importlib.metadata import version

    assert client.get("/api/openapi.json").get_json()["info"]["version"] == version("receiver")


DEEP = 100_000


@pytest.mark.parametrize(
    "body", [b"[" * DEEP + b"]" * DEEP, b'{"a":' * DEEP + b"1" + b"}" * DEEP, b"[" * DEEP]
)
def test_deep_json_is_stored_and_shown_without_a_recursion_error(bins, client, body):
    bin_id = bins.create()["id"]
    captured = bins.ingest(bin_id, body=body, headers=[("Content-Type", "application/json")])
    assert captured.status_code == 200
    request_id = captured.get_json()["request_id"]

    shown = bins.request(bin_id, request_id)
    assert shown["validation"]["status"] in ("not_json", "unknown_event")
    for path in (
        f"/bins/{bin_id}?request={request_id}",
        f"/api/bins/{bin_id}/requests/{request_id}/export.har",
        f"/api/bins/{bin_id}/export.har",
    ):
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/bins"),
        ("PUT", "/api/catalog/appery/DEEP"),
        ("POST", "/api/validate?provider=appery&event=PROJECT_BUILD_IOS_FAIL"),
    ],
)
def test_deep_json_sent_to_the_api_is_a_400_not_a_500(client, method, path):
    body = b"[" * DEEP + b"]" * DEEP
    response = client.open(path, method=method, data=body, content_type="application/json")

    assert response.status_code in (200, 400)
    assert response.is_json


def test_a_bin_deleted_while_its_settings_change_is_404_not_500(app, bins, client, monkeypatch):
    """Another request deletes the bin between this one's read and its write (Schemathesis
    found it with two workers): the change answers 404, as if the delete had come first."""
    from sqlalchemy import text

    from receiver.bins import lifecycle
    from receiver.storage.db import db

    bin_id = bins.create()["id"]
    apply_settings = lifecycle.apply_settings

    def delete_meanwhile(found, changes, **kwargs):
        apply_settings(found, changes, **kwargs)
        with db.engine.begin() as other:  # another connection: another request
            other.execute(text("DELETE FROM bin WHERE id = :id"), {"id": bin_id})

    monkeypatch.setattr(lifecycle, "apply_settings", delete_meanwhile)
    response = client.patch(f"/api/bins/{bin_id}", json={"label": "renamed"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    monkeypatch.undo()
    assert client.get(f"/api/bins/{bin_id}").status_code == 404
    assert client.post("/api/bins", json={"label": "next"}).status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/bins", {"label": "a\x00b"}),
        ("PATCH", "/api/bins/{bin}", {"label": "a\x00b"}),
        ("PATCH", "/api/bins/{bin}", {"provider": "a\x00b"}),
        ("PATCH", "/api/bins/{bin}", {"response": {"body": "a\x00b"}}),
        ("PATCH", "/api/bins/{bin}", {"signature": {"secret": "a\x00b"}}),
        ("GET", "/api/bins/{bin}/requests?event=a%00", None),
        ("GET", "/api/bins/{bin}/requests?q=a%00", None),
        ("PUT", "/api/catalog/acme", {"name": "a\x00"}),
    ],
)
def test_a_nul_in_text_is_a_400_on_both_databases(bins, client, method, path, body):
    """PostgreSQL's text cannot hold NUL (SQLite's FTS5 calls it a syntax error): refused alike
    in words, never a 500 or a 503 that says the database is away."""
    url = path.format(bin=bins.create()["id"])
    response = client.open(url, method=method, json=body)
    assert response.status_code == 400, response.get_json()
    assert "NUL" in response.get_json()["error"]["message"]


def test_a_user_schema_deleted_while_it_is_replaced_is_written_again(app, client, monkeypatch):
    """A DELETE that lands between a PUT's read and its write (Schemathesis found it) makes the
    commit find no row to update: the PUT writes again, and leaves the schema it was sent."""
    from sqlalchemy.orm.exc import StaleDataError

    from receiver.storage.db import db

    schema = {"type": "object", "required": ["id"]}
    assert client.put("/api/catalog/acme/thing", json={"schema": schema}).status_code == 201
    commit = db.session.commit
    failed = []

    def commit_after_a_delete():
        if not failed:
            failed.append(True)
            raise StaleDataError(
                "UPDATE statement on table 'user_schema' expected 1 row; 0 matched"
            )
        commit()

    monkeypatch.setattr(db.session, "commit", commit_after_a_delete)
    response = client.put("/api/catalog/acme/thing", json={"schema": {**schema, "title": "T"}})
    monkeypatch.undo()
    assert failed and response.status_code == 200, response.get_json()
    assert client.get("/api/catalog/acme/thing").get_json()["schema"]["title"] == "T"


@pytest.mark.parametrize(
    "path", ["/api/bins/a%00b", "/api/bins/a%00b/requests", "/bins/a%00b", "/api/bins/a%00b/feed"]
)
def test_a_bin_id_with_a_nul_is_an_unknown_bin_on_both_databases(client, path):
    """The document takes any text as a bin id: one no database can hold is a 404, as any
    unknown bin (PostgreSQL would refuse the lookup itself)."""
    assert client.get(path).status_code == 404
