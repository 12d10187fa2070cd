"""Redis restarted, or its connections cut, under a real server process during a live lesson;
and a server process killed with its students' connection slots still counted in Redis."""

from __future__ import annotations

import signal
import time

import pytest
import requests

from app.devstack import EmbeddedRedis, free_port
from app.repositories.session_repo import connections_key
from app.services.connection_service import STALE_AFTER_SECONDS
from tests.integration.faults import (
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
from tests.integration.sockets.test_connection import ADDRESSES, Student
from tests.live_server import running_server

pytestmark = pytest.mark.slow
UNAVAILABLE = "INTERNAL_ERROR"  # ServiceUnavailable's code (ARCHITECTURE.md section 7)


def chunks(student: Student) -> int:
    return sum(name == "content_chunk" for name, _ in student.events)


def test_a_lesson_resumes_where_it_was_after_redis_restarts(pg_server_url, tmp_path):
    """A Redis of our own with an append-only file, as production runs it, stopped mid-lesson
    and started again: the student gets a clear error, resumes at the saved character, sees
    the whole lesson exactly once; the session and the rate limit's count survive; the
    process stays healthy."""
    port = free_port()
    store = EmbeddedRedis(tmp_path / "redis", port, persist=True)
    store.start()
    try:
        with proxied_server(
            pg_server_url,
            store.url,
            tmp_path,
            proxy_pg=False,
            RATE_LIMIT_QUESTIONS="3",
            TRUSTED_PROXIES="127.0.0.1",
            **SLOW_LESSON,
        ) as server:
            student, token, session_id = server.student("reinicio@example.com")
            student.client.emit("ask_question", {"question": QUESTION})  # question 1 of 3
            assert student.wait_until(lambda: chunks(student) >= 8, timeout=30)

            store.stop()  # SIGTERM: the append-only file is flushed, as on a planned restart
            assert readyz(server.url).status_code == 503
            assert healthz(server.url).status_code == 200
            time.sleep(1)
            store = EmbeddedRedis(tmp_path / "redis", port, persist=True)
            store.start()
            took = wait_until(lambda: ready(server.url), timeout=60)
            print(f"/readyz back to 200 {took:.2f}s after Redis restarted")

            # The lesson stopped with a clear error where it was; the student continues it
            # after the wait the error asks for (by then the stopped lesson's lease has lapsed).
            assert student.wait_until(lambda: bool(errors_of(student)), timeout=30)
            assert student.client.connected
            continue_after(student, session_id, server)
            student.wait_for("feedback_request", timeout=60)
            assert_whole_lesson_once(by_seq(student))
            assert {e["code"] for e in errors_of(student)} == {UNAVAILABLE}

            # The session survived: a reconnect resumes it.
            student.close()
            again = Student(server.url, next(ADDRESSES))
            assert again.connect(token, session_id=session_id)["resumed"] is True
            again.close()
            # The rate limit counted the question asked before the restart.
            headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
            statuses = [
                requests.post(
                    f"{server.url}/api/v1/questions/ask",
                    json={"question": QUESTION},
                    headers=headers,
                    timeout=30,
                ).status_code
                for _ in range(3)
            ]
            assert statuses == [200, 200, 429]
            assert ready(server.url) and healthz(server.url).status_code == 200
    finally:
        store.stop()


def continue_after(student: Student, session_id: str, server) -> None:
    """What the page does after an error with `retry_after` mid-lesson: wait, then resume."""
    time.sleep(errors_of(student)[-1]["retry_after"])
    state = server.direct.live_sessions.get_session(session_id)
    assert state is not None and (state.is_paused or state.is_streaming)
    student.client.emit("resume_explanation", {})


def test_a_lesson_streams_on_through_cut_redis_connections(pg_server_url, redis_url, tmp_path):
    """Redis's connections dropped three times mid-lesson (a network blip, a failover): the
    lesson goes on, the whole text exactly once."""
    with proxied_server(
        pg_server_url,
        redis_url,
        tmp_path,
        proxy_pg=False,
        proxy_redis=True,
        TRUSTED_PROXIES="127.0.0.1",
        **SLOW_LESSON,
    ) as server:
        student, _, session_id = server.student("parpadeo@example.com")
        student.client.emit("ask_question", {"question": QUESTION})
        for at in (5, 15, 25):
            assert student.wait_until(lambda at=at: chunks(student) >= at, timeout=30)
            assert server.redis.cut() >= 1
        student.wait_until(
            lambda: any(n in {"error", "feedback_request"} for n, _ in student.events), timeout=60
        )
        if errors_of(student):  # a write lost with its connection: the student continues
            assert {e["code"] for e in errors_of(student)} == {UNAVAILABLE}
            continue_after(student, session_id, server)
            student.wait_for("feedback_request", timeout=60)
        assert_whole_lesson_once(by_seq(student))
        assert ready(server.url)


def test_a_killed_process_connection_slots_lapse(pg_server_url, redis_url, tmp_path):
    """A process killed with SIGKILL never releases its sockets' slots of the per-address limit:
    they are counted until they go stale (no heartbeat for STALE_AFTER_SECONDS), then the
    address may connect again, on any process; the key itself expires too."""
    env = {"MAX_CONNECTIONS_PER_IP": "2", "TRUSTED_PROXIES": "127.0.0.1"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    address = next(ADDRESSES)
    with (
        running_server(pg_server_url, redis_url, tmp_path / "a", **env) as first,
        running_server(
            pg_server_url, redis_url, tmp_path / "b", database_url=first.database_url, **env
        ) as second,
    ):
        token = first.container.dev_tokens.issue(email="muerto@example.com")
        held = [Student(first.url, address) for _ in range(2)]
        for student in held:
            student.connect(token)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        for student in held:
            student.close()

        refusal = Student(second.url, address).refused_with(token)
        assert refusal["code"] == "TOO_MANY_CONNECTIONS"
        key = connections_key(address)
        assert 0 < first.container.redis.ttl(key) <= STALE_AFTER_SECONDS

        # STALE_AFTER_SECONDS (90 s) pass without a heartbeat from the dead process.
        now = int(first.container.redis.time()[0])
        for sid in first.container.redis.zrange(key, 0, -1):
            first.container.redis.zadd(key, {sid: now - STALE_AFTER_SECONDS - 1})
        later = Student(second.url, address)
        assert later.connect(token)["resumed"] is False
        later.close()
