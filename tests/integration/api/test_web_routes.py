"""The student page at `/`, its assets, and the local sign-in it uses in development."""

from __future__ import annotations

import jwt
import pytest

from tests.conftest import TEST_JWT_SECRET, auth_header


@pytest.fixture
def dist(container, tmp_path, monkeypatch):
    """A built page: index.html naming its hashed assets."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(
        '<!doctype html><script type="module" src="/assets/index-abc123.js"></script>'
    )
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('pizarra')")
    monkeypatch.setattr(container.settings, "web_dist_dir", tmp_path)
    return tmp_path


def test_the_page_is_served_at_the_root_and_its_assets_are_cached_for_good(client, dist):
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert b"/assets/index-abc123.js" in page.data
    assert page.headers["Cache-Control"] == "no-cache"  # a new build is seen at once
    script = client.get("/assets/index-abc123.js")
    assert script.status_code == 200 and script.data == b"console.log('pizarra')"
    assert "immutable" in script.headers["Cache-Control"]


@pytest.mark.parametrize(
    "path", ["/assets/missing.js", "/assets/../index.html", "/assets/%2e%2e/index.html"]
)
def test_an_asset_that_does_not_exist_is_not_found_and_nothing_outside_is_served(
    client, dist, path
):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "NOT_FOUND"


def test_without_a_build_the_root_says_how_to_build_the_page(
    client, container, tmp_path, monkeypatch
):
    monkeypatch.setattr(container.settings, "web_dist_dir", tmp_path / "missing")
    page = client.get("/")
    assert page.status_code == 503
    assert "npm run build" in page.text and "make run" in page.text


def test_a_local_deployment_tells_the_page_to_offer_dev_sign_in(client):
    assert client.get("/api/v1/client-config").json == {
        "supabase_url": None,
        "supabase_anon_key": None,
        "local_auth": True,
    }


def test_dev_sign_in_gives_a_token_the_api_takes(client):
    response = client.post(
        "/api/v1/auth/dev-token", json={"email": " Lola@Example.com ", "full_name": "Lola"}
    )
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    claims = jwt.decode(
        body["access_token"], TEST_JWT_SECRET, algorithms=["HS256"], audience="authenticated"
    )
    assert claims["email"] == "lola@example.com" and claims["exp"] == pytest.approx(
        body["expires_at"], abs=2
    )
    me = client.get("/api/v1/auth/me", headers=auth_header(body["access_token"]))
    assert me.json["profile"]["email"] == "lola@example.com"
    assert me.json["profile"]["full_name"] == "Lola"
    # Signing in again is the same student.
    again = client.post("/api/v1/auth/dev-token", json={"email": "lola@example.com"})
    assert (
        jwt.decode(
            again.json["access_token"],
            TEST_JWT_SECRET,
            algorithms=["HS256"],
            audience="authenticated",
        )["sub"]
        == claims["sub"]
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"email": "no-at-sign"}, 400),
        ({"email": "a@b.c", "admin": True}, 400),
        ({"email": ["a@b.c"]}, 400),
        ({"email": "a" * 300 + "@b.c"}, 400),
        ("a@b.c", 400),
    ],
)
def test_dev_sign_in_refuses_bad_input_clearly(client, body, status):
    response = client.post("/api/v1/auth/dev-token", json=body)
    assert response.status_code == status
    assert response.json["error"]["code"] == "INVALID_INPUT"
