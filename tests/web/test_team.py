"""Team access (``RECEIVER_ACCESS_TOKEN``): the API answers 401 JSON without the token, pages go
to the login page, the login cookie is signed, HttpOnly and SameSite=Lax, logging out works, and
ingest, static files and the health check stay open."""

from __future__ import annotations

from typing import Any

import pytest
from actions import BinActions
from flask.testing import FlaskClient

from receiver.web import team

TOKEN = "team-token-0123456789"


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"RECEIVER_ACCESS_TOKEN": TOKEN}


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def log_in(client: FlaskClient, token: str = TOKEN, target: str = "/") -> Any:
    return client.post("/login", data={"token": token, "next": target})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/bins/some-bin/requests"),
        ("POST", "/api/bins"),
        ("GET", "/api/catalog"),
        ("PUT", "/api/catalog/appery/PROJECT_BUILD_IOS_FAIL"),
        ("DELETE", "/api/catalog/appery/PROJECT_BUILD_IOS_FAIL"),
        ("GET", "/api/openapi.json"),
    ],
)
def test_the_api_without_the_token_answers_401_json(client, method, path):
    response = client.open(path, method=method, json={})

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_bearer_token_is_refused_and_the_right_one_opens_the_api(client):
    assert client.get("/api/catalog", headers=bearer("nope")).status_code == 401
    assert client.get("/api/catalog", headers=bearer(TOKEN + "x")).status_code == 401
    assert client.get("/api/catalog", headers=bearer()).status_code == 200
    created = client.post("/api/bins", json={"label": "team"}, headers=bearer())
    assert created.status_code == 201


@pytest.mark.parametrize("path", ["/", "/catalog", "/bins/some-bin"])
def test_pages_without_the_token_redirect_to_the_login_page(client, path):
    response = client.get(path)

    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=")


def test_an_htmx_request_gets_hx_redirect_not_a_303(client):
    response = client.get(
        "/catalog", headers={"HX-Request": "true", "HX-Current-URL": "http://x/catalog"}
    )

    assert response.status_code == 200
    assert response.headers["HX-Redirect"].startswith("/login")


def test_login_sets_a_signed_httponly_samesite_lax_cookie_and_opens_pages_and_api(client):
    assert client.get("/login").status_code == 200
    refused = log_in(client, "wrong")
    assert refused.status_code == 403
    assert team.ACCESS_COOKIE not in refused.headers.get("Set-Cookie", "")

    response = log_in(client, target="/bins/x?request=1")

    assert response.status_code == 303
    assert response.headers["Location"] == "/bins/x?request=1"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{team.ACCESS_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here
    assert TOKEN not in cookie  # the cookie proves the token, it does not carry it
    assert client.get("/").status_code == 200
    assert client.get("/api/catalog").status_code == 200


def test_the_cookie_is_secure_behind_https(client):
    response = client.post("/login", data={"token": TOKEN}, base_url="https://receiver.example")
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_forged_cookie_opens_nothing(client):
    client.set_cookie(team.ACCESS_COOKIE, "forged.value.here")
    assert client.get("/api/catalog").status_code == 401
    assert client.get("/").status_code == 303


def test_login_goes_only_to_paths_on_this_site(client):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = log_in(client, target=target)
        assert response.headers["Location"] == "/", target


def test_logout_forgets_the_cookie(client):
    log_in(client)
    assert client.get("/api/catalog").status_code == 200

    response = client.post("/logout")

    assert response.status_code == 303
    assert f"{team.ACCESS_COOKIE}=;" in response.headers["Set-Cookie"]
    assert client.get("/api/catalog").status_code == 401
    assert client.get("/").status_code == 303


def test_ingest_static_files_and_the_health_check_stay_open(client):
    bin_id = client.post("/api/bins", json={}, headers=bearer()).get_json()["id"]
    anonymous = client.application.test_client()

    captured = BinActions(anonymous).ingest(bin_id, body=b'{"hello": "team"}')
    assert captured.status_code == 200
    assert anonymous.get("/healthz").get_json() == {"status": "ok", "database": "ok"}
    static = anonymous.get("/static/css/receiver.css")
    static.close()
    assert static.status_code == 200
    listed = anonymous.get(f"/api/bins/{bin_id}/requests", headers=bearer())
    assert len(listed.get_json()["requests"]) == 1


def test_the_token_is_compared_in_constant_time(monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    original = team.hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(team.hmac, "compare_digest", spy)

    assert team.token_matches(TOKEN, TOKEN)
    assert not team.token_matches("x" * len(TOKEN), TOKEN)
    assert compared == [(TOKEN.encode(), TOKEN.encode()), (b"x" * len(TOKEN), TOKEN.encode())]


def test_without_the_setting_nothing_asks_for_a_token(make_app):
    open_client = make_app(RECEIVER_ACCESS_TOKEN="").test_client()

    assert open_client.get("/api/catalog").status_code == 200
    assert open_client.get("/").status_code == 200
    assert open_client.get("/login").status_code == 303
