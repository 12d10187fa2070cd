"""Test session: real PostgreSQL and Redis.

`TEST_DATABASE_URL` / `TEST_REDIS_URL` point at existing servers (CI also runs the integration
tests against the machine's PostgreSQL 15 and Redis 7); otherwise the session starts embedded
ones in a temporary directory. Either way the session works in its own fresh database, created
here and dropped at the end, so it never touches anyone's data.

Isolation per test: the `clean_state` fixture truncates every table, re-applies the seed and
flushes the Redis database, so tests run in any order; repository tests may instead take `conn`,
a connection inside a transaction that is rolled back.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from app.config import Settings
from app.container import Container, build_container
from app.devstack import EmbeddedPostgres, EmbeddedRedis, free_port
from tests.fake_openai import FakeOpenAI, running_fake_openai

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
TEST_JWT_SECRET = "test-jwt-secret-that-is-long-enough-0123456789"


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pizarra-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server_url(tmp_root: Path) -> Iterator[str]:
    """URL of a PostgreSQL server we may create databases on."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(tmp_root / "postgres", free_port(), database="postgres")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _database_url(server_url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{dbname}"))


def create_database(server_url: str) -> str:
    """A new empty database on the server; returns its URL."""
    name = f"pizarra_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _database_url(server_url, name)


def drop_database(server_url: str, database_url: str) -> None:
    name = conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    url = create_database(pg_server_url)
    yield url
    drop_database(pg_server_url, url)


@pytest.fixture(scope="session")
def redis_url(tmp_root: Path) -> Iterator[str]:
    external = os.environ.get("TEST_REDIS_URL")
    if external:
        yield external
        return
    server = EmbeddedRedis(tmp_root / "redis", free_port(), persist=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "flask_env": "testing",
        "secret_key": TEST_SECRET,
        "supabase_jwt_secret": TEST_JWT_SECRET,
        "async_mode": "threading",
        "log_level": "WARNING",
        "database_pool_min": 0,
        "database_pool_max": 10,
        "database_pool_timeout": 5,
        "database_connect_timeout": 2,
        "redis_socket_timeout": 1,
        "auth_session_cache_seconds": 1,  # a logout must show within the tests' patience
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str, tmp_root: Path) -> Settings:
    return make_settings(database_url=database_url, redis_url=redis_url, data_dir=tmp_root)


@pytest.fixture(scope="session")
def app(settings: Settings):
    from app import create_app

    application = create_app(settings)
    application.extensions["pizarra"].migrations.upgrade()
    yield application
    application.extensions["pizarra"].close()


@pytest.fixture(scope="session")
def container(app) -> Container:
    return app.extensions["pizarra"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def cli_runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def clean_state(container: Container, redis_client: redis.Redis) -> Iterator[None]:
    """Every table emptied and re-seeded, the Redis database flushed: a fresh start."""
    reset_database(container)
    redis_client.flushdb()
    yield


def reset_database(container: Container) -> None:
    """Every table of the container's database emptied and re-seeded."""
    with container.db.transaction() as conn:
        tables = conn.execute(
            """
            SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables
             WHERE (schemaname = 'public' AND tablename <> 'schema_migrations')
                OR (schemaname = 'auth' AND tablename IN ('users', 'sessions'))
            """
        ).fetchall()
        conn.execute(
            "TRUNCATE " + ", ".join(row["name"] for row in tables) + " RESTART IDENTITY CASCADE"
        )
    container.migrations.seed()


@pytest.fixture
def conn(container: Container, clean_state: None) -> Iterator[psycopg.Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with container.db.pool.connection() as connection:
        connection.row_factory = dict_row
        tx = connection.transaction(force_rollback=True)
        with tx:
            yield connection


@pytest.fixture
def issue_token(container: Container):
    """A Supabase-shaped token for a local user (created on first use)."""

    def issue(email: str = "ana@example.com", full_name: str | None = "Ana Pérez", **kw):
        assert container.dev_tokens is not None
        return container.dev_tokens.issue(email=email, full_name=full_name, **kw)

    return issue


def auth_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    """The fake OpenAI server on loopback (the only stand-in the suite allows), for tests that
    point a server process or a command at it; its replies and counts are reset per test."""
    with running_fake_openai() as fake:
        yield fake


@pytest.fixture
def openai_fake(fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_openai.reset()
    yield fake_openai
    fake_openai.reset()


def build_test_container(**overrides: object) -> Container:
    """A container with its own settings (say, pointing at a server that is down)."""
    return build_container(make_settings(**overrides))
