"""When the server holds no key for a token (no JWT secret, not in the JWKS), Supabase Auth itself
is asked; a logout through the backend also signs the user out of Supabase."""

import json
import uuid

import pytest

from app import create_app
from tests.conftest import auth_header, make_settings
from tests.fake_gotrue import FakeGoTrue
from tests.jwt_factory import sign_hs256, supabase_claims


@pytest.fixture
def gotrue():
    fake = FakeGoTrue()
    yield fake
    fake.close()


@pytest.fixture
def supabase_app(gotrue, database_url, redis_url, tmp_path):
    application = create_app(
        make_settings(
            database_url=database_url,
            redis_url=redis_url,
            data_dir=tmp_path,
            local_auth=False,
            supabase_jwt_secret=None,
            supabase_url=gotrue.url,
            supabase_key=gotrue.anon_key,
            supabase_service_key=gotrue.service_key,
        )
    )
    yield application
    application.extensions["pizarra"].close()


def signed_in_user(container, gotrue, email="lu@example.com"):
    """A Supabase user with a login session and an access token signed with a key we lack."""
    claims = supabase_claims(iss=f"{gotrue.url}/auth/v1", email=email)
    with container.db.transaction() as conn:
        conn.execute(
            "INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES (%s, %s, %s)",
            (claims["sub"], email, json.dumps({"full_name": "Lu Remota"})),
        )
        conn.execute(
            "INSERT INTO auth.sessions (id, user_id) VALUES (%s, %s)",
            (claims["session_id"], claims["sub"]),
        )
    token = sign_hs256(claims, "the-project-secret-this-server-does-not-have-0123")
    gotrue.users_by_token[token] = gotrue.user(claims["sub"], email)
    return token, claims


def test_a_token_without_local_key_is_verified_by_supabase(supabase_app, gotrue, container):
    token, claims = signed_in_user(container, gotrue)
    client = supabase_app.test_client()
    response = client.get("/api/v1/auth/me", headers=auth_header(token))
    assert response.status_code == 200
    assert response.json["profile"]["id"] == claims["sub"]
    user_calls = [r for r in gotrue.requests if r["path"] == "/auth/v1/user"]
    assert user_calls[0]["apikey"] == gotrue.anon_key and user_calls[0]["token"] == token
    client.get("/api/v1/auth/me", headers=auth_header(token))
    assert len([r for r in gotrue.requests if r["path"] == "/auth/v1/user"]) == 1, "cached"


def test_a_token_supabase_refuses_is_unauthorized(supabase_app, gotrue, container):
    token, _ = signed_in_user(container, gotrue)
    gotrue.users_by_token.clear()
    response = supabase_app.test_client().get("/api/v1/auth/me", headers=auth_header(token))
    assert response.status_code == 401


def test_a_token_for_another_user_than_supabase_says_is_unauthorized(
    supabase_app, gotrue, container
):
    token, _ = signed_in_user(container, gotrue)
    gotrue.users_by_token[token] = gotrue.user(str(uuid.uuid4()), "otro@example.com")
    response = supabase_app.test_client().get("/api/v1/auth/me", headers=auth_header(token))
    assert response.status_code == 401


def test_supabase_down_fails_closed(supabase_app, gotrue, container):
    token, _ = signed_in_user(container, gotrue)
    gotrue.close()
    response = supabase_app.test_client().get("/api/v1/auth/me", headers=auth_header(token))
    assert response.status_code == 401


def test_logout_signs_out_of_supabase_too(supabase_app, gotrue, container):
    token, _ = signed_in_user(container, gotrue)
    client = supabase_app.test_client()
    assert client.post("/api/v1/auth/logout", headers=auth_header(token)).status_code == 204
    [logout] = [r for r in gotrue.requests if r["path"] == "/auth/v1/logout"]
    assert logout["query"] == {"scope": ["global"]}
    assert logout["apikey"] == gotrue.service_key and logout["token"] == token
    assert client.get("/api/v1/auth/me", headers=auth_header(token)).status_code == 401


def test_the_page_signs_in_with_supabase_and_offers_no_dev_sign_in(supabase_app, gotrue):
    client = supabase_app.test_client()
    assert client.get("/api/v1/client-config").json == {
        "supabase_url": gotrue.url,
        "supabase_anon_key": gotrue.anon_key,
        "local_auth": False,
    }
    refused = client.post("/api/v1/auth/dev-token", json={"email": "eve@example.com"})
    assert refused.status_code == 404
    assert refused.json["error"]["code"] == "NOT_FOUND"
