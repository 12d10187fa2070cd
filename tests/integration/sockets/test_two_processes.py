"""Two server processes of one deployment (same PostgreSQL, same Redis as message queue): a
student pauses on the first, it dies, and the lesson resumes on the second at the same character."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.integration.sockets.test_connection import ADDRESSES, Student
from tests.integration.sockets.test_lessons import lesson_events, texts_by_step
from tests.live_server import running_server

FIXTURE = Path(__file__).parents[2] / "fixtures" / "answers.json"
DOCUMENT = json.loads(FIXTURE.read_text())[0]
pytestmark = pytest.mark.slow


def test_a_lesson_paused_on_a_killed_process_resumes_on_another(pg_server_url, redis_url, tmp_path):
    env = {"STREAM_CHUNK_INTERVAL_MS": "20", "STREAM_CHUNK_CHARS": "10"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with running_server(pg_server_url, redis_url, tmp_path / "a", **env) as first:
        first.container.answers.import_answers(json.loads(FIXTURE.read_text()))
        with running_server(
            pg_server_url, redis_url, tmp_path / "b", database_url=first.database_url, **env
        ) as second:
            token = first.container.dev_tokens.issue(email="viaje@example.com")
            student = Student(first.url, next(ADDRESSES))
            session_id = student.connect(token)["session_id"]
            student.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
            student.wait_for("step_start")
            time.sleep(0.2)
            student.client.emit("pause_explanation", {})
            paused = student.wait_for("explanation_paused")
            seen = lesson_events(student)
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)
            student.close()

            again = Student(second.url, next(ADDRESSES))
            established = again.connect(token, session_id=session_id, last_seq=seen[-1][1]["seq"])
            assert established["resumed"] is True
            again.client.emit("resume_explanation", {})
            resumed = again.wait_for("explanation_resumed")
            assert (resumed["step_number"], resumed["position"]) == (
                paused["step_number"],
                paused["position"],
            )
            again.wait_for("feedback_request", timeout=20)
            rest = lesson_events(again)
            again.close()

    before = texts_by_step(seen)
    after = texts_by_step(rest)
    content = {i + 1: s["content"] for i, s in enumerate(DOCUMENT["steps"])}
    step = paused["step_number"]
    assert before[step] + after[step] == content[step]
    for earlier in range(1, step):
        assert before[earlier] == content[earlier]
    for later in range(step + 1, len(content) + 1):
        assert after[later] == content[later]
    drawn = [d["command"] for _, d in seen + rest if _ == "canvas_command"]
    assert len(drawn) == sum(len(s.get("canvas", [])) for s in DOCUMENT["steps"])
