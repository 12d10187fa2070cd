"""SIGTERM on a server process of a two-process deployment (same PostgreSQL, same Redis as message
queue), under run.py and under gunicorn with the container image's command line: the process
stops taking students, hands its lessons off, cuts its connections the way a network does (so
Socket.IO clients reconnect by themselves), gives its connection slots back, lets an answer the
model is writing be stored, and exits cleanly within its grace period. The student, reconnected
to the other process, sees the rest of the lesson from the character where it stopped."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from app.devstack import free_port
from tests.conftest import TEST_JWT_SECRET, TEST_SECRET
from tests.fake_openai import document_reply
from tests.integration.sockets.test_connection import Student
from tests.integration.sockets.test_lessons import lesson_events, texts_by_step
from tests.integration.sockets.test_two_processes import assert_whole_lesson
from tests.live_server import ROOT, clean_env, running_server, stop, wait_ready

FIXTURE = Path(__file__).parents[2] / "fixtures" / "answers.json"
pytestmark = pytest.mark.slow
# One connection per address: a slot the stopping process kept would refuse the reconnection.
ENV = {
    "STREAM_CHUNK_INTERVAL_MS": "30",
    "STREAM_CHUNK_CHARS": "10",
    "MAX_CONNECTIONS_PER_IP": "1",
    "SHUTDOWN_GRACE_SECONDS": "12",
    "LOG_LEVEL": "INFO",
}


@contextmanager
def gunicorn_process(database_url: str, redis_url: str, tmp_path: Path, **env: str):
    """A server process as the container image runs it: gunicorn, one gevent-websocket worker,
    the hooks of gunicorn.conf.py."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
            "--worker-class", "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
            "--workers", "1", "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "20",
            "--timeout", "60", "--no-control-socket", "app:create_app()",
        ],
        cwd=ROOT,
        env=clean_env(
            tmp_path,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            SECRET_KEY=TEST_SECRET,
            SUPABASE_JWT_SECRET=TEST_JWT_SECRET,
            AUTO_MIGRATE="false",
            **env,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        wait_ready(proc, port)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@contextmanager
def deployment(pg_server_url, redis_url, tmp_path, *, first: str, **extra: str):
    """Process A (`first`: run.py or gunicorn) and process B (run.py) on one database; yields
    (A's process, A's url, B, the shared LiveServer handle of B)."""
    env = {**ENV, **extra}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with running_server(pg_server_url, redis_url, tmp_path / "b", **env) as b:
        b.container.answers.import_answers(json.loads(FIXTURE.read_text()))
        if first == "gunicorn":
            with gunicorn_process(b.database_url, redis_url, tmp_path / "a", **env) as (proc, url):
                yield proc, url, b
        else:
            with running_server(
                pg_server_url, redis_url, tmp_path / "a", database_url=b.database_url, **env
            ) as a:
                yield a.process, a.url, b


def terminate(proc: subprocess.Popen) -> tuple[int, str, float]:
    """SIGTERM; (exit code, output, seconds it took to exit)."""
    started = time.monotonic()
    code, output = stop(proc, signal.SIGTERM)
    return code, output, time.monotonic() - started


@pytest.mark.parametrize("first", ["run.py", "gunicorn"])
def test_sigterm_hands_a_streaming_lesson_to_the_other_process(
    pg_server_url, redis_url, tmp_path, first
):
    with deployment(pg_server_url, redis_url, tmp_path, first=first) as (proc, url, b):
        token = b.container.dev_tokens.issue(email="relevo@example.com")
        student = Student(url, "198.51.100.7")
        cut = []
        student.client.on("disconnect", lambda reason=None: cut.append(reason))
        session_id = student.connect(token)["session_id"]
        student.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
        assert student.wait_until(
            lambda: sum(n == "content_chunk" for n, _ in student.events) >= 5, timeout=10
        )

        code, output, took = terminate(proc)
        assert code == 0 and "Traceback" not in output, output
        assert "1 lessons handed off, 1 connections closed" in output, output
        assert took < 12 + 5, f"{took:.1f} s to stop"
        # Cut as a network cut is (which clients reconnect), not told to go away for good.
        assert student.wait_until(lambda: bool(cut), timeout=5), "the socket was not closed"
        assert cut[0] != "server disconnect", cut
        seen = lesson_events(student)
        student.close()
        assert not any(n == "explanation_complete" for n, _ in seen)
        # Handed off, not orphaned: nobody waits for a lease to lapse.
        assert b.container.live_sessions.get_session(session_id).lesson_beat == 0

        # The same phone (same address, one connection allowed) reconnects to B at once.
        again = Student(b.url, "198.51.100.7")
        again.connect(token, session_id=session_id, last_seq=seen[-1][1]["seq"])
        resumed = again.wait_for("explanation_resumed", timeout=10)
        again.wait_for("feedback_request", timeout=20)
        rest = lesson_events(again)
        again.close()

    last = [d for n, d in seen if n == "content_chunk"][-1]
    assert (resumed["step_number"], resumed["position"]) == (last["step_number"], last["position"])
    assert_whole_lesson(sorted(seen + rest, key=lambda event: event[1]["seq"]))


ONE_STEP = {
    "refusal": None,
    "subject": "algebra",
    "total_steps": 1,
    "steps": [
        {
            "title": "Idea",
            "content_type": "text",
            "content": "Una ecuación lineal tiene una sola incógnita elevada a uno.",
            "duration": 10,
            "canvas": [],
        }
    ],
}  # fmt: skip


def test_sigterm_lets_the_answer_being_written_be_stored(
    pg_server_url, redis_url, tmp_path, openai_fake
):
    # The model takes a few seconds to answer: SIGTERM arrives while it writes.
    openai_fake.default = lambda request: document_reply(ONE_STEP, delay=3)
    extra = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": openai_fake.base_url}
    with deployment(pg_server_url, redis_url, tmp_path, first="run.py", **extra) as (
        proc,
        url,
        b,
    ):
        token = b.container.dev_tokens.issue(email="escritura@example.com")
        student = Student(url, "198.51.100.8")
        session_id = student.connect(token)["session_id"]
        question = "¿Qué es una ecuación lineal con una incógnita?"
        student.client.emit("ask_question", {"question": question})
        deadline = time.monotonic() + 10
        while not openai_fake.calls() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert openai_fake.calls(), "the question never reached the model"

        code, output, _ = terminate(proc)
        student.close()
        assert code == 0 and "Traceback" not in output, output
        assert "0 answers unfinished, 0 questions unanswered" in output, output
        # The lesson began on the stopping process after the student's connection was closed:
        # it waits paused at its start, and the student, reconnected to B, resumes it there.
        again = Student(b.url, "198.51.100.8")
        again.connect(token, session_id=session_id, last_seq=0)
        assert again.wait_for("explanation_start", timeout=10)["being_written"] is False
        paused = again.wait_for("explanation_paused", timeout=10)
        assert (paused["step_number"], paused["position"]) == (1, 0)
        again.client.emit("resume_explanation", {})
        again.wait_for("feedback_request", timeout=20)
        assert texts_by_step(lesson_events(again)) == {1: ONE_STEP["steps"][0]["content"]}
        again.close()
        # Stored before the process left: the next student who asks gets it without the model.
        calls = len(openai_fake.calls())
        other = Student(b.url, "198.51.100.9")
        other.connect(b.container.dev_tokens.issue(email="despues@example.com"))
        other.client.emit("ask_question", {"question": question})
        start = other.wait_for("explanation_start", timeout=10)
        other.wait_for("explanation_complete", timeout=20)
        other.close()
        assert start["being_written"] is False
        assert len(openai_fake.calls()) == calls


def test_readiness_says_stopping_while_the_process_drains(
    pg_server_url, redis_url, tmp_path, openai_fake
):
    """Under gunicorn the listener stays open while the worker drains: the balancer's check
    and new Socket.IO connections get 503 there, until the worker exits."""
    openai_fake.default = lambda request: document_reply(ONE_STEP, delay=4)
    extra = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": openai_fake.base_url}
    with deployment(pg_server_url, redis_url, tmp_path, first="gunicorn", **extra) as (
        proc,
        url,
        b,
    ):
        # An answer being written keeps the worker draining for a few seconds.
        student = Student(url, "198.51.100.10")
        student.connect(b.container.dev_tokens.issue(email="sondeo@example.com"))
        student.client.emit("ask_question", {"question": "¿Cómo se despeja una incógnita?"})
        deadline = time.monotonic() + 10
        while not openai_fake.calls() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert requests.get(f"{url}/readyz", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        seen = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = requests.get(f"{url}/readyz", timeout=2)
                handshake = requests.get(f"{url}/socket.io/?EIO=4&transport=polling", timeout=2)
            except requests.RequestException:
                break  # the listener is closed: the worker is on its way out
            seen.append((ready.status_code, ready.json()["status"], handshake.status_code))
            time.sleep(0.1)
        output, _ = proc.communicate(timeout=30)
        student.close()
        assert proc.returncode == 0 and "Traceback" not in output, output
    draining = [entry for entry in seen if entry != (200, "ready", 200)]
    assert draining, f"never seen draining: {seen}"
    assert set(draining) == {(503, "stopping", 503)}, seen
    assert seen[seen.index(draining[0]) :] == draining, "ready again after it began to stop"
