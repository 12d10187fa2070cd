"""What the fault-injection tests share: server processes whose PostgreSQL or Redis is reached
through a TCP proxy the test controls, and what a student of theirs notices."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from app.container import Container
from tests.conftest import build_test_container, create_database, drop_database
from tests.integration.sockets.test_connection import ADDRESSES, Student
from tests.integration.sockets.test_lessons import texts_by_step
from tests.integration.sockets.test_two_processes import by_seq  # noqa: F401 - (re-exported)
from tests.live_server import LiveServer, running_server
from tests.tcp_proxy import TcpProxy, tcp_proxy

FIXTURE = Path(__file__).parents[1] / "fixtures" / "answers.json"
ANSWERS = json.loads(FIXTURE.read_text())
DOCUMENT = ANSWERS[0]  # ¿Qué es una derivada? (4 steps, 262 characters)
QUESTION = DOCUMENT["question"]
CONTENT = {i + 1: step["content"] for i, step in enumerate(DOCUMENT["steps"])}
# A lesson of about 5 s: long enough to break something in the middle of it.
SLOW_LESSON = {"STREAM_CHUNK_INTERVAL_MS": "80", "STREAM_CHUNK_CHARS": "5"}


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    host = f"{parts.hostname}:{port}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}" if userinfo else host))


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


@dataclass
class ProxiedServer:
    """A server process whose stores are reached through the proxies; `direct` reaches them
    without, for the test to set data up and check it while the proxies are down."""

    live: LiveServer
    direct: Container
    pg: TcpProxy | None
    redis: TcpProxy | None

    @property
    def url(self) -> str:
        return self.live.url

    def student(self, email: str, *, credits: int = 100) -> tuple[Student, str, str]:
        """A connected student with credits: (client, token, session id)."""
        assert self.direct.dev_tokens is not None
        token = self.direct.dev_tokens.issue(email=email)
        with self.direct.db.transaction() as conn:
            conn.execute(
                "UPDATE profiles SET daily_limit = %s, credits_remaining = %s WHERE email = %s",
                (credits, credits, email),
            )
        student = Student(self.url, next(ADDRESSES))
        session_id = student.connect(token)["session_id"]
        return student, token, session_id

    def balance(self, email: str) -> dict:
        with self.direct.db.connection() as conn:
            return conn.execute(
                """
                SELECT p.credits_remaining, p.daily_used,
                       (SELECT count(*) FROM credit_usage u WHERE u.user_id = p.id) AS usages,
                       (SELECT count(*) FROM interactions i WHERE i.user_id = p.id) AS asked,
                       (SELECT count(*) FROM interactions i
                         WHERE i.user_id = p.id AND i.completed) AS completed
                  FROM profiles p WHERE p.email = %s
                """,
                (email,),
            ).fetchone()


@contextmanager
def proxied_server(
    pg_server_url: str,
    redis_url: str,
    tmp_path: Path,
    *,
    proxy_pg: bool = True,
    proxy_redis: bool = False,
    **env: str,
) -> Iterator[ProxiedServer]:
    """A server process on a new database with the fixture's lessons, its PostgreSQL and/or
    Redis behind proxies."""
    database_url = create_database(pg_server_url)
    try:
        with (
            tcp_proxy(port_of(database_url)) if proxy_pg else _nothing() as pg,
            tcp_proxy(port_of(redis_url)) if proxy_redis else _nothing() as rd,
        ):
            direct = build_test_container(database_url=database_url, redis_url=redis_url)
            try:
                with running_server(
                    pg_server_url,
                    with_port(redis_url, rd.port) if rd else redis_url,
                    tmp_path,
                    database_url=with_port(database_url, pg.port) if pg else database_url,
                    **env,
                ) as live:
                    direct.answers.import_answers(ANSWERS)
                    yield ProxiedServer(live, direct, pg, rd)
            finally:
                direct.close()
    finally:
        drop_database(pg_server_url, database_url)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def readyz(url: str) -> requests.Response:
    return requests.get(f"{url}/readyz", timeout=10, headers={"Connection": "close"})


def healthz(url: str) -> requests.Response:
    return requests.get(f"{url}/healthz", timeout=10, headers={"Connection": "close"})


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.1) -> float:
    """Seconds it took `condition` to hold; fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"not within {timeout}s"
        time.sleep(interval)
    return time.monotonic() - started


def ready(url: str) -> bool:
    try:
        return readyz(url).status_code == 200
    except requests.RequestException:
        return False


def assert_whole_lesson_once(events: list[tuple[str, dict]]) -> None:
    """The lesson's text reassembled is the whole lesson, each step once, and it completed."""
    assert texts_by_step(events) == CONTENT
    names = [name for name, _ in events]
    assert [d["step_number"] for n, d in events if n == "step_start"] == [1, 2, 3, 4]
    assert names.count("explanation_complete") == 1
    drawn = [d["command"] for n, d in events if n == "canvas_command"]
    assert len(drawn) == sum(len(step.get("canvas", [])) for step in DOCUMENT["steps"])


def errors_of(student: Student) -> list[dict]:
    return [data for name, data in student.events if name == "error"]
