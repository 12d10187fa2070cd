"""A store that is down or slow becomes a clear domain error within the timeouts, never a hang."""

import pytest

from app.devstack import free_port
from app.errors import ServiceUnavailable
from app.models.session import SessionState
from tests.conftest import build_test_container


@pytest.fixture
def dead_port():
    return free_port()


def test_postgres_down_is_service_unavailable(dead_port, redis_url):
    container = build_test_container(
        database_url=f"postgresql://postgres@127.0.0.1:{dead_port}/x",
        redis_url=redis_url,
        database_pool_timeout=1,
    )
    try:
        with pytest.raises(ServiceUnavailable), container.db.transaction() as conn:
            container.ai_answers.count(conn)
        assert container.health.readiness() == {"postgres": False, "redis": True}
    finally:
        container.close()


def test_redis_down_is_service_unavailable(dead_port, database_url):
    container = build_test_container(
        database_url=database_url, redis_url=f"redis://127.0.0.1:{dead_port}/0"
    )
    try:
        with pytest.raises(ServiceUnavailable):
            container.sessions.save_session("s", SessionState(user_id="u"))
        with pytest.raises(ServiceUnavailable):
            container.sessions.get_cached_answer("h")
        with pytest.raises(ServiceUnavailable):
            container.sessions.count_question("u", 60)
        assert container.health.readiness() == {"postgres": True, "redis": False}
    finally:
        container.close()


def test_a_query_stuck_past_the_statement_timeout_is_cancelled(database_url, redis_url):
    container = build_test_container(
        database_url=database_url, redis_url=redis_url, database_statement_timeout_ms=300
    )
    try:
        with pytest.raises(ServiceUnavailable), container.db.transaction() as conn:
            conn.execute("SELECT pg_sleep(30)")
        # The pool is healthy afterwards.
        with container.db.connection() as conn:
            assert conn.execute("SELECT 1 AS one").fetchone() == {"one": 1}
    finally:
        container.close()


def prepared_after_ten_lookups(container) -> int:
    with container.db.connection() as conn:
        for _ in range(10):
            container.questions.get_by_code(conn, "2024Algebra14")
        return conn.execute("SELECT count(*) AS n FROM pg_prepared_statements").fetchone()["n"]


def test_prepared_statements_can_be_disabled_for_transaction_poolers(
    container, database_url, redis_url
):
    assert prepared_after_ten_lookups(container) >= 1  # default: prepared after 5 runs
    no_prepare = build_test_container(
        database_url=database_url, redis_url=redis_url, database_prepare_threshold=None
    )
    try:
        assert prepared_after_ten_lookups(no_prepare) == 0
    finally:
        no_prepare.close()
