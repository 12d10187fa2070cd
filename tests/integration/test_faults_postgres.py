"""PostgreSQL unreachable or its connections cut, under a real server process whose database is
reached through a TCP proxy the test controls: clear errors, /readyz 503, recovery without a
restart, no partial charge, nothing recorded lost."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.integration.faults import (
    CONTENT,
    QUESTION,
    SLOW_LESSON,
    assert_whole_lesson_once,
    by_seq,
    errors_of,
    healthz,
    proxied_server,
    ready,
    readyz,
    wait_until,
)
from tests.integration.sockets.test_lessons import texts_by_step

pytestmark = pytest.mark.slow
UNAVAILABLE = "INTERNAL_ERROR"  # ServiceUnavailable's code (ARCHITECTURE.md section 7)


@pytest.fixture(scope="module")
def server(pg_server_url, redis_url, tmp_path_factory):
    with proxied_server(
        pg_server_url,
        redis_url,
        tmp_path_factory.mktemp("pg-faults"),
        TRUSTED_PROXIES="127.0.0.1",
        RATE_LIMIT_QUESTIONS="100",
        **SLOW_LESSON,
    ) as live:
        yield live


@pytest.fixture
def pg(server):
    yield server.pg
    server.pg.up()  # whatever the test did, the next one finds PostgreSQL reachable
    wait_until(lambda: ready(server.url), timeout=60)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Connection": "close"}


def assert_clear_unavailable(error: dict) -> None:
    assert error["code"] == UNAVAILABLE and error["retry_after"] > 0
    assert "no está disponible" in error["message"]


def test_while_postgres_is_down_requests_fail_clearly_and_it_recovers_without_restart(server, pg):
    student, token, _ = server.student("caida@example.com")
    pg.down()
    response = readyz(server.url)
    assert response.status_code == 503
    assert response.json()["checks"] == {"postgres": False, "redis": True}
    assert healthz(server.url).status_code == 200

    me = requests.get(f"{server.url}/api/v1/auth/me", headers=auth(token), timeout=30)
    assert me.status_code == 503
    assert_clear_unavailable(me.json()["error"])
    student.client.emit("ask_question", {"question": "¿Qué es una integral definida?"})
    assert_clear_unavailable(student.wait_for("error", timeout=30))
    assert student.client.connected

    pg.up()
    took = wait_until(lambda: ready(server.url), timeout=60)
    print(f"/readyz back to 200 {took:.2f}s after PostgreSQL came back")
    me = requests.get(f"{server.url}/api/v1/auth/me", headers=auth(token), timeout=30)
    assert me.status_code == 200
    assert server.balance("caida@example.com")["usages"] == 0  # the failed asks cost nothing


def test_dropped_connections_never_reach_a_request(server, pg):
    """A cut (a pooler or database restart) leaves the pool's idle connections dead: each is
    checked before use and replaced, so no request fails once PostgreSQL answers again."""
    _, token, _ = server.student("corte@example.com")
    for _ in range(3):
        requests.get(f"{server.url}/api/v1/auth/me", headers=auth(token), timeout=30)
    assert pg.cut() >= 1
    statuses = [
        requests.get(f"{server.url}/api/v1/auth/me", headers=auth(token), timeout=30).status_code
        for _ in range(6)
    ]
    assert statuses == [200] * 6


def test_a_charge_cut_mid_transaction_leaves_no_partial_debit(server, pg):
    """The connection drops after the interaction is written and while the spend waits for the
    student's profile row: nothing of it is kept, the student is told clearly, and asking again
    once the connection is back charges exactly once."""
    _, token, _ = server.student("mitad@example.com")
    before = server.balance("mitad@example.com")
    replies: list[requests.Response] = []
    with server.direct.db.pool.connection() as blocker:
        blocker.execute("BEGIN")
        blocker.execute("SELECT 1 FROM profiles WHERE email = 'mitad@example.com' FOR UPDATE")
        asking = threading.Thread(
            target=lambda: replies.append(
                requests.post(
                    f"{server.url}/api/v1/questions/ask",
                    json={"question": QUESTION},
                    headers=auth(token),
                    timeout=60,
                )
            )
        )
        asking.start()
        wait_until(lambda: waiting_for_the_profile(server) == 1, timeout=30)
        pg.cut()
        asking.join(60)
        blocker.execute("ROLLBACK")  # the spend's backend goes on, then finds its client gone
    assert replies and replies[0].status_code == 503
    assert_clear_unavailable(replies[0].json()["error"])
    wait_until(lambda: waiting_for_the_profile(server) == 0, timeout=30)
    assert server.balance("mitad@example.com") == before

    again = requests.post(
        f"{server.url}/api/v1/questions/ask",
        json={"question": QUESTION},
        headers=auth(token),
        timeout=60,
    )
    assert again.status_code == 200, again.text
    after = server.balance("mitad@example.com")
    assert after["credits_remaining"] == before["credits_remaining"] - 1
    assert (after["usages"], after["asked"]) == (1, 1)


def waiting_for_the_profile(server) -> int:
    """Backends of the server process in a transaction (waiting for a lock, or idle in it)."""
    with server.direct.db.connection() as conn:
        return conn.execute(
            """
            SELECT count(*) AS n FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'pizarra'
               AND (wait_event_type = 'Lock' OR state LIKE 'idle in transaction%%')
            """
        ).fetchone()["n"]


def test_a_lesson_when_postgres_drops_is_not_reported_complete_until_recorded(server, pg):
    """The lesson's text comes from Redis and streams on; its completion must be written to
    PostgreSQL before the student is told it is complete: while PostgreSQL is away the lesson
    waits at its end with a clear error, and a resume once it is back completes and records
    it, the whole lesson seen exactly once and charged once."""
    student, _, _ = server.student("leccion@example.com")
    student.client.emit("ask_question", {"question": QUESTION})
    assert student.wait_until(
        lambda: sum(n == "content_chunk" for n, _ in student.events) >= 8, timeout=30
    )
    pg.down()
    error = student.wait_for("error", timeout=60)
    assert_clear_unavailable(error)
    assert not any(n == "explanation_complete" for n, _ in student.events)
    paused = student.wait_for("explanation_paused", timeout=30)
    assert paused["step_number"] == 4  # at the end: all the text was streamed

    pg.up()
    wait_until(lambda: ready(server.url), timeout=60)
    student.client.emit("resume_explanation", {})
    student.wait_for("feedback_request", timeout=60)
    assert_whole_lesson_once(by_seq(student))
    assert [e["code"] for e in errors_of(student)] == [UNAVAILABLE]
    recorded = server.balance("leccion@example.com")
    assert (recorded["asked"], recorded["completed"], recorded["usages"]) == (1, 1, 1)


def test_a_short_outage_at_the_lesson_end_is_waited_for_not_reported(server, pg):
    """PostgreSQL away for a moment (a failover) when the lesson ends: the completion is
    written once it is back, and the student sees the lesson complete, with no error."""
    student, _, _ = server.student("breve@example.com")
    student.client.emit("ask_question", {"question": QUESTION})
    assert student.wait_until(
        lambda: sum(n == "content_chunk" for n, _ in student.events) >= 8, timeout=30
    )
    pg.down()
    last_step = len(CONTENT)

    def streamed_to_the_end() -> bool:
        texts = texts_by_step(by_seq(student))
        return texts.get(last_step) == CONTENT[last_step]

    assert student.wait_until(streamed_to_the_end, timeout=30)
    time.sleep(0.5)  # the completion's write is waiting for PostgreSQL now
    assert not any(n == "explanation_complete" for n, _ in student.events)
    pg.up()
    student.wait_for("feedback_request", timeout=30)
    assert_whole_lesson_once(by_seq(student))
    assert errors_of(student) == []
    recorded = server.balance("breve@example.com")
    assert (recorded["asked"], recorded["completed"], recorded["usages"]) == (1, 1, 1)


def test_a_cached_answer_still_streams_while_postgres_is_down(server, pg):
    """A lesson the cache holds streams whole while PostgreSQL is away; its interaction and
    its charge are written once it is back (by the server's own background work, with no
    request needed), exactly once. A few such lessons per student: then the clear error."""
    email = "cache@example.com"
    student, _, _ = server.student(email)
    student.client.emit("ask_question", {"question": QUESTION})  # fills the Redis cache
    student.wait_for("feedback_request", timeout=60)
    before = server.balance(email)
    student.events.clear()

    pg.down()
    student.client.emit("ask_question", {"question": QUESTION})
    student.wait_until(
        lambda: any(n in {"error", "feedback_request"} for n, _ in student.events), timeout=60
    )
    assert errors_of(student) == []
    student.wait_for("feedback_request", timeout=60)
    assert_whole_lesson_once(by_seq(student))
    # Two more, stopped as soon as they start; the fourth is refused clearly.
    for _ in range(2):
        student.events.clear()
        student.client.emit("ask_question", {"question": QUESTION})
        student.wait_for("explanation_start", timeout=30)
        student.client.emit("stop_explanation", {})
        student.wait_for("explanation_stopped", timeout=30)
    student.events.clear()
    student.client.emit("ask_question", {"question": QUESTION})
    assert_clear_unavailable(student.wait_for("error", timeout=30))
    assert not any(n == "explanation_start" for n, _ in student.events)

    pg.up()
    wait_until(lambda: server.balance(email)["asked"] == before["asked"] + 3, timeout=60)
    time.sleep(6)  # another pass of the background work: nothing is written twice
    after = server.balance(email)
    assert after["asked"] == before["asked"] + 3
    assert after["completed"] == before["completed"] + 1
    assert after["usages"] == before["usages"] + 3
    assert after["credits_remaining"] == before["credits_remaining"] - 3
    assert after["daily_used"] == before["daily_used"] + 3
