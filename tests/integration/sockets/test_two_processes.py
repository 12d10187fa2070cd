"""Two server processes of one deployment (same PostgreSQL, same Redis as message queue): a
lesson moves between them at the same character when the student pauses on one and resumes on
the other, when its process dies paused or mid-stream, and when the student's new connection on
the other process pauses it."""

from __future__ import annotations

import json
import signal
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.sockets.test_connection import ADDRESSES, Student
from tests.integration.sockets.test_lessons import PREPARED, lesson_events, texts_by_step
from tests.live_server import running_server

FIXTURE = Path(__file__).parents[2] / "fixtures" / "answers.json"
DOCUMENT = json.loads(FIXTURE.read_text())[0]
pytestmark = pytest.mark.slow


@contextmanager
def two_servers(pg_server_url, redis_url, tmp_path, *, interval_ms: int):
    """Two server processes of one deployment (the second on the first's database), with the
    fixture's lessons imported."""
    env = {"STREAM_CHUNK_INTERVAL_MS": str(interval_ms), "STREAM_CHUNK_CHARS": "10"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with running_server(pg_server_url, redis_url, tmp_path / "a", **env) as first:
        first.container.answers.import_answers(json.loads(FIXTURE.read_text()))
        with running_server(
            pg_server_url, redis_url, tmp_path / "b", database_url=first.database_url, **env
        ) as second:
            yield first, second


def test_a_lesson_paused_on_a_killed_process_resumes_on_another(pg_server_url, redis_url, tmp_path):
    with two_servers(pg_server_url, redis_url, tmp_path, interval_ms=20) as pair:
        first, second = pair
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


def by_seq(*students: Student) -> list[tuple[str, dict]]:
    """What the students of one session saw, in order, each event once (a client drops a seq
    it has already seen); an event seen twice must have been the same event."""
    seen: dict[int, tuple[str, dict]] = {}
    for student in students:
        for name, data in lesson_events(student):
            if data["seq"] in seen:
                assert seen[data["seq"]] == (name, data)
            seen[data["seq"]] = (name, data)
    return [seen[seq] for seq in sorted(seen)]


def assert_whole_lesson(events: list[tuple[str, dict]]) -> None:
    content = {i + 1: s["content"] for i, s in enumerate(DOCUMENT["steps"])}
    assert texts_by_step(events) == content
    drawn = [d["command"] for name, d in events if name == "canvas_command"]
    assert drawn == [c for s in PREPARED for c in s["canvas"]]
    assert [d["step_number"] for name, d in events if name == "step_start"] == [1, 2, 3, 4]


def test_a_lesson_streaming_on_a_killed_process_goes_on_from_another(
    pg_server_url, redis_url, tmp_path
):
    with two_servers(pg_server_url, redis_url, tmp_path, interval_ms=30) as pair:
        first, second = pair
        token = first.container.dev_tokens.issue(email="caida@example.com")
        student = Student(first.url, next(ADDRESSES))
        session_id = student.connect(token)["session_id"]
        student.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
        student.wait_until(
            lambda: sum(n == "content_chunk" for n, _ in student.events) >= 5, timeout=10
        )
        first.process.send_signal(signal.SIGKILL)  # mid-stream, no pause, no goodbye
        first.process.wait(10)
        seen = lesson_events(student)
        student.close()
        assert not any(n == "explanation_complete" for n, _ in seen)

        again = Student(second.url, next(ADDRESSES))
        again.connect(token, session_id=session_id, last_seq=seen[-1][1]["seq"])
        # Without asking: the lesson goes on here once the dead process's lease lapses.
        resumed = again.wait_for("explanation_resumed", timeout=15)
        again.wait_for("feedback_request", timeout=20)
        rest = lesson_events(again)
        again.close()

    last = [d for n, d in seen if n == "content_chunk"][-1]
    assert (resumed["step_number"], resumed["position"]) == (last["step_number"], last["position"])
    assert_whole_lesson(sorted(seen + rest, key=lambda event: event[1]["seq"]))


def test_a_pause_from_another_process_stops_the_lesson_where_it_streams(
    pg_server_url, redis_url, tmp_path
):
    with two_servers(pg_server_url, redis_url, tmp_path, interval_ms=30) as pair:
        first, second = pair
        token = first.container.dev_tokens.issue(email="salto@example.com")
        old = Student(first.url, next(ADDRESSES))
        session_id = old.connect(token)["session_id"]
        old.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
        old.wait_for("step_start")
        # The phone switches networks: a new connection on B while A still streams.
        new = Student(second.url, next(ADDRESSES))
        new.connect(token, session_id=session_id, last_seq=0)
        assert new.wait_until(
            lambda: sum(n == "content_chunk" for n, _ in new.events) >= 3, timeout=10
        ), "the lesson streaming on A reaches the student on B"
        new.client.emit("pause_explanation", {})
        paused = new.wait_for("explanation_paused")
        time.sleep(0.3)  # several chunk intervals: A must have sent nothing more
        after_pause = [d for n, d in lesson_events(new) if d["seq"] > paused["seq"]]
        assert after_pause == []
        kept = second.container.live_sessions.get_session(session_id)
        assert (kept.current_step + 1, kept.pause_position) == (
            paused["step_number"],
            paused["position"],
        )
        new.client.emit("resume_explanation", {})
        new.wait_for("feedback_request", timeout=20)
        old.close()
        new.close()
        assert_whole_lesson(by_seq(new))
