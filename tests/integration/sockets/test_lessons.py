"""Live lessons over Socket.IO from a real server process: the full event sequence, exact text
reassembly, drawings at their offsets, pause and resume at the same character."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.utils.canvas_commands import prepare_steps
from tests.integration.sockets.test_connection import ADDRESSES, Student, connected_students
from tests.live_server import running_server

FIXTURE = Path(__file__).parents[2] / "fixtures" / "answers.json"
DOCUMENT = json.loads(FIXTURE.read_text())[0]  # ¿Qué es una derivada? (4 steps)
PREPARED = prepare_steps(DOCUMENT["steps"])  # its drawings as the board receives them
INTERVAL_MS = 15
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(pg_server_url, redis_url, tmp_path_factory):
    with running_server(
        pg_server_url,
        redis_url,
        tmp_path_factory.mktemp("lessons"),
        STREAM_CHUNK_INTERVAL_MS=str(INTERVAL_MS),
        STREAM_CHUNK_CHARS="10",
        RATE_LIMIT_QUESTIONS="3",
        TRUSTED_PROXIES="127.0.0.1",
    ) as live:
        live.container.answers.import_answers(json.loads(FIXTURE.read_text()))
        yield live


@pytest.fixture
def student(server):
    yield from connected_students(server)


# The events of a lesson (each with explanation_id and seq).
LESSON_EVENTS = frozenset(
    {
        "explanation_start",
        "step_start",
        "content_chunk",
        "canvas_command",
        "step_complete",
        "explanation_complete",
        "feedback_request",
        "explanation_paused",
        "explanation_resumed",
        "explanation_stopped",
        "continue_offer",
    }
)


def lesson_events(student: Student) -> list[tuple[str, dict]]:
    return [(name, data) for name, data in student.events if name in LESSON_EVENTS]


def texts_by_step(events) -> dict[int, str]:
    steps: dict[int, str] = {}
    for name, data in events:
        if name == "content_chunk":
            steps[data["step_number"]] = steps.get(data["step_number"], "") + data["chunk"]
    return steps


def test_a_stored_answer_streams_as_a_lesson(server, student):
    ana = student()
    ana.client.emit("ask_question", {"question": "que es una DERIVADA"})
    ana.wait_for("feedback_request", timeout=20)
    events = lesson_events(ana)
    names = [name for name, _ in events]
    assert names[0] == "explanation_start"
    assert names[-2:] == ["explanation_complete", "feedback_request"]
    start = events[0][1]
    assert start["total_steps"] == 4 and start["estimated_duration"] == 75
    assert [d["step_number"] for n, d in events if n == "step_start"] == [1, 2, 3, 4]
    assert [d["step_number"] for n, d in events if n == "step_complete"] == [1, 2, 3, 4]
    # The text of every step arrives exactly, in order, ending with is_final.
    steps = texts_by_step(events)
    assert steps == {i + 1: s["content"] for i, s in enumerate(DOCUMENT["steps"])}
    finals = [d for n, d in events if n == "content_chunk" and d["is_final"]]
    assert [d["position"] for d in finals] == [len(s["content"]) for s in DOCUMENT["steps"]]
    # Drawings arrive once each, after the text reached their offset.
    drawn = [(d["step_number"], d["command"]) for n, d in events if n == "canvas_command"]
    expected = [(i + 1, c) for i, s in enumerate(PREPARED) for c in s["canvas"]]
    assert drawn == expected
    for index, (name, data) in enumerate(events):
        if name == "canvas_command":
            reached = max(
                (
                    d["position"]
                    for n, d in events[:index]
                    if n == "content_chunk" and d["step_number"] == data["step_number"]
                ),
                default=0,
            )
            assert reached >= data["command"]["at"]
    # One explanation id and a strictly increasing sequence on every lesson event.
    assert {d["explanation_id"] for _, d in events} == {start["explanation_id"]}
    seqs = [d["seq"] for _, d in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    with server.container.db.connection() as conn:
        row = conn.execute(
            "SELECT completed, question_type FROM interactions ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
        uses = conn.execute(
            "SELECT usage_count FROM ai_answers WHERE id = %s", (start["answer_id"],)
        ).fetchone()
    assert row == {"completed": True, "question_type": "text"}
    assert uses == {"usage_count": 1}  # the answer's use is counted


def test_pause_stops_within_a_chunk_and_resume_continues_at_the_same_character(server, student):
    ana = student("pausa@example.com")
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_for("step_start")
    time.sleep(INTERVAL_MS * 6 / 1000)
    ana.client.emit("pause_explanation", {"current_step": 0, "position_in_step": 0})
    paused = ana.wait_for("explanation_paused")
    time.sleep(INTERVAL_MS * 10 / 1000)
    before_resume = lesson_events(ana)
    after_pause = before_resume[[n for n, _ in before_resume].index("explanation_paused") :]
    assert [n for n, _ in after_pause] == ["explanation_paused"], "nothing after the pause"
    ana.client.emit("resume_explanation", {})
    resumed = ana.wait_for("explanation_resumed")
    assert (resumed["step_number"], resumed["position"]) == (
        paused["step_number"],
        paused["position"],
    )
    ana.wait_for("feedback_request", timeout=20)
    events = lesson_events(ana)
    assert texts_by_step(events) == {i + 1: s["content"] for i, s in enumerate(DOCUMENT["steps"])}
    drawn = [d["command"] for n, d in events if n == "canvas_command"]
    assert len(drawn) == sum(len(s.get("canvas", [])) for s in DOCUMENT["steps"])
    assert [n for n, _ in events].count("explanation_start") == 1
    with server.container.db.transaction() as conn:
        row = conn.execute(
            "SELECT completed FROM interactions ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    assert row == {"completed": True}, "a lesson finished after a pause counts as completed"


def test_resume_with_nothing_paused_is_a_clear_error(server, student):
    ana = student("nada@example.com")
    ana.client.emit("resume_explanation", {})
    assert ana.wait_for("error")["code"] == "INVALID_INPUT"
    ana.client.emit("pause_explanation", {})
    ana.events.clear()
    ana.client.emit("pause_explanation", {})
    assert ana.wait_for("error")["code"] == "INVALID_INPUT"
    assert ana.client.connected


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "texto",
        42,
        [],
        {},
        {"question": ""},
        {"question": "x" * 1001},
        {"question": "¿?"},
        {"question": "hola", "extra": 1},
    ],
)
def test_bad_questions_get_invalid_input_and_the_connection_stays(server, student, payload):
    ana = student("mal@example.com")
    ana.client.emit("ask_question", payload)
    assert ana.wait_for("error")["code"] == "INVALID_INPUT"
    assert ana.client.connected


def test_a_question_without_an_answer_is_ai_unavailable_after_a_waiting_phrase(server, student):
    ana = student("sin@example.com")
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada parcial?"})
    phrase = ana.wait_for("waiting_phrase")
    assert phrase["category"] == "searching" and phrase["phrase"]
    error = ana.wait_for("error")
    assert error["code"] == "AI_UNAVAILABLE"
    assert error["details"]["similar"][0]["question"] == "¿Qué es una derivada?"


def test_the_rate_limit_refuses_exactly_past_the_configured_count(server, student):
    ana = student("rapida@example.com")
    for _ in range(3):
        ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
        ana.wait_for("explanation_start")
        ana.events.clear()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    error = ana.wait_for("error")
    assert error["code"] == "RATE_LIMIT_EXCEEDED" and 0 < error["retry_after"] <= 60


def test_a_new_question_during_a_lesson_interrupts_it(server, student):
    ana = student("nueva@example.com")
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    first = ana.wait_for("explanation_start")["explanation_id"]
    ana.client.emit("ask_question", {"question": "¿Cómo resuelvo x^2 - 5x + 6 = 0?"})
    ana.wait_for("feedback_request", timeout=20)
    time.sleep(INTERVAL_MS * 5 / 1000)
    events = lesson_events(ana)
    starts = [d["explanation_id"] for n, d in events if n == "explanation_start"]
    assert starts[0] == first and len(starts) == 2
    second = starts[1]
    last_of_first = max(
        i
        for i, (n, d) in enumerate(events)
        if d["explanation_id"] == first and n != "continue_offer"  # (offered at the very end)
    )
    first_of_second = min(i for i, (_, d) in enumerate(events) if d["explanation_id"] == second)
    assert last_of_first < first_of_second, "the old lesson stops before the new one starts"
    done = [d["explanation_id"] for n, d in events if n == "explanation_complete"]
    assert done == [second]
    assert [d["kind"] for n, d in events if n == "explanation_start"] == ["lesson", "interruption"]
    assert ana.wait_for("continue_offer")["explanation_id"] == first


FOLLOW_UP = json.loads(FIXTURE.read_text())[1]  # ¿Cómo resuelvo x^2 - 5x + 6 = 0? (2 steps)


def of(events, explanation_id):
    """One explanation's events in seq order, as a client applies them (an event recorded just
    before a takeover can be delivered just after the takeover's own)."""
    mine = [(n, d) for n, d in events if d.get("explanation_id") == explanation_id]
    return sorted(mine, key=lambda event: event[1].get("seq", 0))


def test_a_follow_up_question_pauses_the_lesson_and_offers_to_continue_it(server, student):
    ana = student("seguimiento@example.com")
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    main = ana.wait_for("explanation_start")["explanation_id"]
    ana.wait_until(lambda: sum(n == "content_chunk" for n, _ in ana.events) >= 4)
    ana.client.emit("interrupt", {"question": FOLLOW_UP["question"]})
    offer = ana.wait_for("continue_offer", timeout=20)
    paused = ana.wait_for("explanation_paused")
    assert paused["explanation_id"] == main
    assert offer == {
        "explanation_id": main,
        "step_number": paused["step_number"],
        "position": paused["position"],
        "message": "¿Seguimos con la explicación anterior?",
        "seq": offer["seq"],
    }
    events = lesson_events(ana)
    mini_start = [d for n, d in events if n == "explanation_start"][1]
    assert (mini_start["kind"], mini_start["parent_explanation_id"]) == ("interruption", main)
    mini = of(events, mini_start["explanation_id"])
    assert texts_by_step(mini) == {i + 1: s["content"] for i, s in enumerate(FOLLOW_UP["steps"])}
    assert [n for n, _ in mini][-2:] == ["explanation_complete", "feedback_request"]
    # Feedback now is about the follow-up's answer, not the lesson waiting.
    ana.client.emit("submit_feedback", {"rating": 2})
    ana.wait_for("feedback_received")
    with server.container.db.transaction() as conn:
        rated = conn.execute(
            "SELECT question_text FROM interactions WHERE rating = 2 AND user_id ="
            " (SELECT id FROM profiles WHERE email = 'seguimiento@example.com')"
        ).fetchall()
    assert rated == [{"question_text": FOLLOW_UP["question"]}]
    ana.client.emit("resume_explanation", {})
    ana.wait_until(lambda: sum(n == "feedback_request" for n, _ in ana.events) >= 2, timeout=20)
    resumed = ana.wait_for("explanation_resumed")
    assert (resumed["explanation_id"], resumed["position"]) == (main, paused["position"])
    whole = of(lesson_events(ana), main)
    assert texts_by_step(whole) == {i + 1: s["content"] for i, s in enumerate(DOCUMENT["steps"])}
    assert [n for n, _ in whole][-2:] == ["explanation_complete", "feedback_request"]


def test_resuming_during_the_follow_up_goes_back_to_the_lesson(server, student):
    ana = student("volver@example.com")
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    main = ana.wait_for("explanation_start")["explanation_id"]
    ana.client.emit("pause_explanation", {})
    paused = ana.wait_for("explanation_paused")
    ana.client.emit("interrupt", {"question": FOLLOW_UP["question"]})  # asked while paused
    ana.wait_until(lambda: sum(n == "step_start" for n, _ in ana.events) >= 2)
    ana.client.emit("resume_explanation", {})
    ana.wait_for("feedback_request", timeout=20)
    time.sleep(INTERVAL_MS * 5 / 1000)
    events = lesson_events(ana)
    mini = [d for n, d in events if n == "explanation_start"][1]["explanation_id"]
    assert [n for n, _ in of(events, mini)][-1] == "explanation_stopped"
    assert not any(n == "continue_offer" for n, _ in events)
    resumed = ana.wait_for("explanation_resumed")
    assert (resumed["explanation_id"], resumed["position"]) == (main, paused["position"])
    whole = of(events, main)
    assert texts_by_step(whole) == {i + 1: s["content"] for i, s in enumerate(DOCUMENT["steps"])}
    done = [d["explanation_id"] for n, d in events if n == "explanation_complete"]
    assert done == [main]


def test_a_dropped_connection_resumes_at_the_same_character(server, student):
    token = server.container.dev_tokens.issue(email="red@example.com")
    with server.container.db.transaction() as conn:
        conn.execute("UPDATE profiles SET daily_limit = 100, credits_remaining = 100")
    first = Student(server.url, next(ADDRESSES))
    session_id = first.connect(token)["session_id"]
    first.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    first.wait_for("step_start")
    time.sleep(INTERVAL_MS * 8 / 1000)
    first.close()  # the phone lost its signal
    received = texts_by_step(lesson_events(first))
    time.sleep(INTERVAL_MS * 5 / 1000)

    second = Student(server.url, next(ADDRESSES))
    again = second.connect(token, session_id=session_id)
    assert again["resumed"] is True
    second.client.emit("resume_explanation", {})
    resumed = second.wait_for("explanation_resumed")
    second.wait_for("feedback_request", timeout=20)
    second.close()
    rest = texts_by_step(lesson_events(second))
    step = resumed["step_number"]
    # What the first socket got up to the saved position, plus what the second got, is exact.
    content = {i + 1: s["content"] for i, s in enumerate(DOCUMENT["steps"])}
    assert received.get(step, "")[: resumed["position"]] + rest[step] == content[step]
    for later in range(step + 1, 5):
        assert rest[later] == content[later]


@pytest.mark.parametrize("seen", [0, 1, 7, 20])
def test_a_reconnecting_client_gets_exactly_the_events_it_missed_in_order(server, student, seen):
    token = server.container.dev_tokens.issue(email=f"blip{seen}@example.com")
    with server.container.db.transaction() as conn:
        conn.execute("UPDATE profiles SET daily_limit = 100, credits_remaining = 100")
    first = Student(server.url, next(ADDRESSES))
    session_id = first.connect(token)["session_id"]
    first.client.emit("ask_question", {"question": "¿Cómo resuelvo x^2 - 5x + 6 = 0?"})
    first.wait_for("feedback_request", timeout=20)
    everything = lesson_events(first)
    first.close()
    last_seen = everything[seen - 1][1]["seq"] if seen else everything[0][1]["seq"] - 1

    second = Student(server.url, next(ADDRESSES))
    second.connect(token, session_id=session_id, last_seq=last_seen)
    second.wait_for("feedback_request")
    replayed = lesson_events(second)
    second.close()
    assert replayed == everything[seen:]


def test_stop_ends_the_lesson_and_feedback_is_recorded(server, student):
    ana = student("fin@example.com")
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    start = ana.wait_for("step_start")
    ana.client.emit("stop_explanation", {})
    stopped = ana.wait_for("explanation_stopped")
    assert stopped["explanation_id"] == start["explanation_id"]
    time.sleep(INTERVAL_MS * 8 / 1000)
    last_index = max(i for i, (n, _) in enumerate(ana.events) if n == "explanation_stopped")
    assert not any(n == "content_chunk" for n, _ in ana.events[last_index + 1 :])
    ana.client.emit("resume_explanation", {})
    assert ana.wait_for("error")["code"] == "INVALID_INPUT"
    ana.client.emit("submit_feedback", {"rating": 4, "understood": True})
    received = ana.wait_for("feedback_received")
    assert received["rating"] == 4 and received["understood"] is True
    assert (received["helpful_votes"], received["total_votes"]) >= (1, 1)


def test_feedback_without_a_lesson_or_with_bad_values_is_invalid(server, student):
    ana = student("sinleccion@example.com")
    ana.client.emit("submit_feedback", {"rating": 5})
    assert ana.wait_for("error")["code"] == "INVALID_INPUT"
    ana.events.clear()
    ana.client.emit("submit_feedback", {"rating": 9})
    assert ana.wait_for("error")["code"] == "INVALID_INPUT"


def test_no_entendi_on_a_step_is_recorded_during_the_lesson(server, student):
    ana = student("perdida@example.com")
    ana.client.emit("step_feedback", {"step_number": 1})
    assert ana.wait_for("error")["code"] == "INVALID_INPUT"  # no lesson yet
    ana.events.clear()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    start = ana.wait_for("step_start")
    ana.client.emit("step_feedback", {"step_number": 1})
    received = ana.wait_for("step_feedback_received")
    assert received == {
        "explanation_id": start["explanation_id"],
        "step_number": 1,
        "understood": False,
    }
    for bad in ({"step_number": 9}, {"step_number": 0}, {"step_number": "1"}, [], None):
        ana.events.clear()
        ana.client.emit("step_feedback", bad)
        assert ana.wait_for("error")["code"] == "INVALID_INPUT", bad
    ana.wait_for("feedback_request", timeout=20)
    with server.container.db.transaction() as conn:
        rows = conn.execute(
            "SELECT f.step_number, f.understood FROM step_feedback f"
            " JOIN interactions i ON i.id = f.interaction_id"
            " JOIN profiles p ON p.id = i.user_id WHERE p.email = 'perdida@example.com'"
        ).fetchall()
    assert rows == [{"step_number": 1, "understood": False}]


def test_racing_events_leave_exactly_one_lesson_streaming(server, student):
    ana = student("doble@example.com")
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_for("feedback_request", timeout=20)
    time.sleep(INTERVAL_MS * 10 / 1000)
    events = lesson_events(ana)
    done = [d["explanation_id"] for n, d in events if n == "explanation_complete"]
    assert len(done) == 1
    only = [(n, d) for n, d in events if d["explanation_id"] == done[0]]
    assert texts_by_step(only) == {i + 1: s["content"] for i, s in enumerate(DOCUMENT["steps"])}

    ana.events.clear()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_for("step_start")
    time.sleep(INTERVAL_MS * 6 / 1000)
    ana.client.emit("pause_explanation", {})
    ana.wait_for("explanation_paused")
    ana.client.emit("resume_explanation", {})
    ana.client.emit("resume_explanation", {})
    ana.wait_for("feedback_request", timeout=20)
    time.sleep(INTERVAL_MS * 10 / 1000)
    events = lesson_events(ana)
    assert [n for n, _ in events].count("explanation_complete") == 1
    assert texts_by_step(events) == {i + 1: s["content"] for i, s in enumerate(DOCUMENT["steps"])}
    announced = [d["step_number"] for n, d in events if n == "step_start"]
    assert announced == [1, 2, 3, 4], "no step is announced twice"


def test_an_absurd_last_seq_is_ignored_not_fatal(server, student):
    token = server.container.dev_tokens.issue(email="seq@example.com")
    with server.container.db.transaction() as conn:
        conn.execute("UPDATE profiles SET daily_limit = 100, credits_remaining = 100")
    first = Student(server.url, next(ADDRESSES))
    session_id = first.connect(token)["session_id"]
    first.close()
    again = Student(server.url, next(ADDRESSES))
    again.connect(token, session_id=session_id, last_seq=2**64)
    again.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    again.wait_for("feedback_request", timeout=20)
    again.close()


STOPS = ("explanation_paused", "explanation_complete")


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(pauses=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=4))
def test_pausing_anywhere_any_number_of_times_loses_and_repeats_nothing(server, pauses):
    token = server.container.dev_tokens.issue(email="azar@example.com")
    with server.container.db.transaction() as conn:
        conn.execute("UPDATE profiles SET daily_limit = 1000, credits_remaining = 1000")
    user_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    server.container.redis.delete(f"rate_limit:{user_id}:questions")  # many examples, one user
    ana = Student(server.url, next(ADDRESSES))
    ana.connect(token)
    try:
        ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
        ana.wait_for("explanation_start")
        for count, wait_chunks in enumerate(pauses, start=1):
            time.sleep(wait_chunks * INTERVAL_MS / 1000)
            ana.client.emit("pause_explanation", {})
            if not ana.wait_until(
                lambda count=count: sum(n in STOPS for n, _ in ana.events) >= count
            ):
                break
            if any(n == "explanation_complete" for n, _ in ana.events):
                break
            ana.client.emit("resume_explanation", {})
        if not any(n == "explanation_complete" for n, _ in ana.events):
            ana.client.emit("resume_explanation", {})
        ana.wait_for("feedback_request", timeout=20)
        events = lesson_events(ana)
        content = {i + 1: s["content"] for i, s in enumerate(DOCUMENT["steps"])}
        assert texts_by_step(events) == content
        drawn = [d["command"] for n, d in events if n == "canvas_command"]
        assert drawn == [c for s in PREPARED for c in s["canvas"]]
        assert [d["step_number"] for n, d in events if n == "step_start"] == [1, 2, 3, 4]
        assert [d["step_number"] for n, d in events if n == "step_complete"] == [1, 2, 3, 4]
    finally:
        ana.close()


def test_a_resume_right_behind_a_pause_waits_for_it_and_loses_nothing(server, student):
    ana = student("impaciente@example.com")
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_until(lambda: sum(n == "content_chunk" for n, _ in ana.events) >= 3)
    ana.client.emit("pause_explanation", {})
    ana.client.emit("resume_explanation", {})  # without waiting for explanation_paused
    ana.wait_for("feedback_request", timeout=20)
    assert not any(n == "error" for n, _ in ana.events), ana.events
    events = lesson_events(ana)
    assert [n for n, _ in events].count("explanation_resumed") == 1
    assert texts_by_step(events) == {i + 1: s["content"] for i, s in enumerate(DOCUMENT["steps"])}


def test_a_lesson_that_cannot_start_is_not_paid_for(server, student):
    ana = student("caducada@example.com")
    session_id = ana.wait_for("connection_established")["session_id"]
    server.container.redis.delete(f"session:{session_id}")  # the session expired meanwhile
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    assert ana.wait_for("error")["code"] == "INVALID_INPUT"
    with server.container.db.transaction() as conn:
        left = conn.execute(
            "SELECT credits_remaining, daily_used FROM profiles"
            " WHERE email = 'caducada@example.com'"
        ).fetchone()
        refunds = conn.execute(
            "SELECT count(*) AS n FROM credit_usage u JOIN profiles p ON p.id = u.user_id"
            " WHERE p.email = 'caducada@example.com' AND u.credits_used < 0"
        ).fetchone()["n"]
    assert left == {"credits_remaining": 100, "daily_used": 0} and refunds == 1
