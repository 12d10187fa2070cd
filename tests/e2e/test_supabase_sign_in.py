"""Signing in with Google through Supabase on the student page, in a real browser against a real
server process (web/e2e/supabase.e2e.js): the deployment has SUPABASE_URL and SUPABASE_KEY and
no local auth, the page's @supabase/supabase-js runs the PKCE flow against Supabase Auth (the
loopback stand-in tests/fake_gotrue.py, which plays Google's consent too), and the session's
token gets a lesson from the backend. Screenshots go to test-artifacts/web/.

Needs Node.js and Chromium, as tests/e2e/test_web_client.py; skipped, saying which, without."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import TEST_JWT_SECRET, create_database, drop_database
from tests.e2e.test_web_client import _browser_tests, built_page
from tests.fake_gotrue import FakeGoTrue, GoogleAccount
from tests.live_server import ROOT, running_server

__all__ = ["built_page"]  # the fixture, shared with the other browser tests

pytestmark = pytest.mark.slow

AUTH_SCHEMA = ROOT / "migrations" / "local" / "000_auth_shim.sql"


@pytest.fixture
def gotrue() -> Iterator[FakeGoTrue]:
    # The server verifies HS256 tokens with this secret, as with a project's legacy JWT secret.
    fake = FakeGoTrue(jwt_secret=TEST_JWT_SECRET)
    yield fake
    fake.close()


@pytest.fixture
def supabase_database(pg_server_url: str) -> Iterator[str]:
    """A database with the `auth` schema Supabase has (the local shim stands in for it): with
    LOCAL_AUTH=false the server's migrations expect it and never create it."""
    url = create_database(pg_server_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(AUTH_SCHEMA.read_bytes(), prepare=False)
    yield url
    drop_database(pg_server_url, url)


def sign_up_in_supabase(db, account: GoogleAccount) -> None:
    """The rows Supabase writes on a first Google sign-in: the user and the login session."""
    with db.transaction() as conn:
        conn.execute(
            """
            INSERT INTO auth.users (id, email, raw_app_meta_data, raw_user_meta_data,
                                    last_sign_in_at)
            VALUES (%s, %s, %s, %s, now())
            """,
            (
                account.user_id,
                account.email,
                json.dumps({"provider": "google", "providers": ["google"]}),
                json.dumps({"full_name": account.full_name, "email": account.email}),
            ),
        )
        conn.execute(
            "INSERT INTO auth.sessions (id, user_id) VALUES (%s, %s)",
            (account.session_id, account.user_id),
        )


@pytest.mark.timeout(600)
def test_a_student_signs_in_with_google_through_supabase(
    built_page, gotrue, supabase_database, pg_server_url, redis_url, tmp_path
):
    account = GoogleAccount(
        user_id=str(uuid.uuid4()),
        session_id=str(uuid.uuid4()),
        email="lucia.google@example.com",
        full_name="Lucía Gómez",
    )
    with running_server(
        pg_server_url,
        redis_url,
        tmp_path,
        database_url=supabase_database,
        WEB_DIST_DIR=str(built_page),
        LOCAL_AUTH="false",
        SUPABASE_URL=gotrue.url,
        SUPABASE_KEY=gotrue.anon_key,
        SUPABASE_SERVICE_KEY=gotrue.service_key,
    ) as server:
        sign_up_in_supabase(server.container.db, account)
        gotrue.google_account = account
        _browser_tests("supabase.e2e.js", server.url, SUPABASE_URL=gotrue.url)
        with server.container.db.connection() as conn:
            profile = conn.execute(
                "SELECT email, full_name FROM profiles WHERE id = %s", (account.user_id,)
            ).fetchone()
            lessons = conn.execute(
                "SELECT count(*) AS n FROM interactions WHERE user_id = %s", (account.user_id,)
            ).fetchone()

    calls = [(r["method"], r["path"]) for r in gotrue.requests if r["method"] != "OPTIONS"]
    [authorize] = [r for r in gotrue.requests if r["path"] == "/auth/v1/authorize"]
    assert authorize["query"]["provider"] == ["google"]
    assert authorize["query"]["code_challenge_method"] == ["s256"]
    assert authorize["query"]["redirect_to"] == [f"{server.url}/"]
    # The PKCE exchange came from the page, with the anon key and the verifier.
    [preflight, exchange] = [r for r in gotrue.requests if r["path"] == "/auth/v1/token"]
    assert preflight["method"] == "OPTIONS" and preflight["origin"] == server.url
    assert exchange["method"] == "POST" and exchange["query"] == {"grant_type": ["pkce"]}
    assert exchange["apikey"] == gotrue.anon_key and exchange["origin"] == server.url
    assert set(exchange["body"]) == {"auth_code", "code_verifier"}
    # "Salir": the backend signed the user out of Supabase (service key), then the page did.
    logouts = [
        r for r in gotrue.requests if (r["method"], r["path"]) == ("POST", "/auth/v1/logout")
    ]
    assert [r["apikey"] for r in logouts] == [gotrue.service_key, gotrue.anon_key], calls
    assert {r["token"] for r in logouts} == {logouts[0]["token"]}
    # Nothing else was asked of Supabase Auth: the backend verified the token itself.
    assert sorted(set(calls)) == [
        ("GET", "/auth/v1/authorize"),
        ("POST", "/auth/v1/logout"),
        ("POST", "/auth/v1/token"),
    ], calls
    assert profile["email"] == account.email and profile["full_name"] == account.full_name
    assert lessons["n"] >= 1
