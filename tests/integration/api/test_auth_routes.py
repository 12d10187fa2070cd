import time

import jwt
import pytest

from tests.conftest import TEST_JWT_SECRET, auth_header


def me(client, token):
    return client.get("/api/v1/auth/me", headers=auth_header(token))


def test_signed_in_student_sees_profile_plan_credits_and_limits(client, issue_token):
    response = me(client, issue_token("ana@example.com", "Ana Pérez"))
    assert response.status_code == 200
    body = response.json
    assert body["profile"]["email"] == "ana@example.com"
    assert body["profile"]["full_name"] == "Ana Pérez"
    assert body["profile"]["time_zone"] == "UTC"
    assert body["plan"]["name"] == "free"
    assert body["credits"]["remaining"] == 10
    assert body["daily"] == {
        "limit": 5,
        "used": 0,
        "remaining": 5,
        "resets_at": body["daily"]["resets_at"],
    }
    assert body["progress"] == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer not.a.jwt"},
    ],
)
def test_requests_without_a_valid_token_are_refused(client, headers):
    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "UNAUTHORIZED"


def test_expired_token_is_refused(client, issue_token):
    token = issue_token()
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    expired = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")
    response = me(client, expired)
    assert response.status_code == 401
    assert "expiró" in response.json["error"]["message"]


def test_profile_is_provisioned_from_the_token_when_missing(client, container, issue_token):
    token = issue_token("beto@example.com", "Beto Ruiz")
    with container.db.transaction() as conn:
        conn.execute("DELETE FROM profiles WHERE email = 'beto@example.com'")
    body = me(client, token).json
    assert body["profile"]["full_name"] == "Beto Ruiz"
    assert body["credits"]["remaining"] == 10


def test_logout_takes_effect_although_the_token_is_still_valid(client, container, issue_token):
    token = issue_token()
    assert me(client, token).status_code == 200
    user_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    container.dev_tokens.end_sessions(user_id=user_id)
    time.sleep(container.settings.auth_session_cache_seconds + 0.2)
    response = me(client, token)
    assert response.status_code == 401
    assert "sesión se cerró" in response.json["error"]["message"]


def test_a_banned_student_is_refused(client, container, issue_token):
    token = issue_token("mal@example.com")
    assert me(client, token).status_code == 200
    with container.db.transaction() as conn:
        conn.execute(
            "UPDATE auth.users SET banned_until = now() + interval '1 day' "
            "WHERE email = 'mal@example.com'"
        )
    time.sleep(container.settings.auth_session_cache_seconds + 0.2)
    assert me(client, token).status_code == 401


def test_a_deleted_account_is_refused(client, container, issue_token):
    token = issue_token("gone@example.com")
    with container.db.transaction() as conn:
        conn.execute("DELETE FROM auth.users WHERE email = 'gone@example.com'")
    time.sleep(container.settings.auth_session_cache_seconds + 0.2)
    assert me(client, token).status_code == 401


def test_student_updates_preferences(client, issue_token):
    token = issue_token()
    response = client.patch(
        "/api/v1/auth/me",
        json={
            "full_name": "  Ana María  ",
            "learning_level": "advanced",
            "preferred_language": "es",
            "time_zone": "America/Bogota",
        },
        headers=auth_header(token),
    )
    assert response.status_code == 200
    profile = response.json["profile"]
    assert profile["full_name"] == "Ana María"
    assert profile["learning_level"] == "advanced"
    assert profile["time_zone"] == "America/Bogota"
    assert response.json["daily"]["resets_at"].endswith("-05:00")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"learning_level": "genius"}, "learning_level"),
        ({"credits_remaining": 999}, "credits_remaining"),
        ({"plan_type": "pro"}, "plan_type"),
        ({"full_name": ""}, "full_name"),
        ({"full_name": "x" * 101}, "full_name"),
    ],
)
def test_invalid_or_forbidden_changes_are_refused_by_field(client, issue_token, payload, field):
    token = issue_token()
    response = client.patch("/api/v1/auth/me", json=payload, headers=auth_header(token))
    assert response.status_code == 400
    assert response.json["error"]["code"] == "INVALID_INPUT"
    assert field in {d["field"] for d in response.json["error"]["details"]}
    assert me(client, token).json["credits"]["remaining"] == 10


def test_malformed_bodies_get_clear_errors(client, issue_token):
    headers = auth_header(issue_token())
    response = client.patch(
        "/api/v1/auth/me", data="{no es json", headers=headers, content_type="application/json"
    )
    assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_INPUT"
    response = client.patch("/api/v1/auth/me", data="full_name=x", headers=headers)
    assert response.status_code == 415 and response.json["error"]["code"] == "INVALID_INPUT"
    response = client.patch("/api/v1/auth/me", json=["full_name"], headers=headers)
    assert response.status_code == 400
    response = client.patch("/api/v1/auth/me", json={}, headers=headers)
    assert response.status_code == 200  # nothing to change is not an error


def test_logout_ends_the_token_at_once_and_the_live_sessions(client, container, issue_token):
    from app.models.session import SessionState

    token = issue_token()
    other_device = issue_token()  # the same student signed in elsewhere
    user_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    container.sessions.save_session("live-1", SessionState(user_id=user_id))
    container.sessions.save_session("live-2", SessionState(user_id=user_id))

    response = client.post("/api/v1/auth/logout", headers=auth_header(token))
    assert response.status_code == 204
    assert me(client, token).status_code == 401  # no waiting for a cache to expire
    assert container.sessions.get_session("live-1") is None
    assert container.sessions.get_session("live-2") is None
    time.sleep(container.settings.auth_session_cache_seconds + 0.2)
    assert me(client, other_device).status_code == 401  # local auth: signed out everywhere
