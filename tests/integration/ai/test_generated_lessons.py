"""Answers written by the LLM while the student waits, over real sockets from a real server
process, with the real `openai` SDK talking to the fake OpenAI server on loopback."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from app.models.generation import answer_schema
from app.repositories.generation_repo import GenerationRepository, draft_key, draft_steps_key
from app.utils.text_processing import generate_hash
from tests.conftest import reset_database
from tests.fake_openai import Reply, document_reply, error_reply, running_fake_openai, strict_text
from tests.integration.sockets.test_connection import ADDRESSES, Student, connected_students
from tests.live_server import running_server

FIXTURE = Path(__file__).parents[2] / "fixtures" / "answers.json"
LESSON = json.loads(FIXTURE.read_text())[0]  # ¿Qué es una derivada? (4 steps, with drawings)
GENERATED = {
    "refusal": None,
    "subject": "calculo",
    "total_steps": len(LESSON["steps"]),
    "steps": LESSON["steps"],
}
WHOLE_LESSON = {n: step["content"] for n, step in enumerate(LESSON["steps"], start=1)}
MODEL = "gpt-test-mini"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fake():
    with running_fake_openai(tokens_per_second=3_000) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(pg_server_url, redis_url, tmp_path_factory, fake):
    with running_server(
        pg_server_url,
        redis_url,
        tmp_path_factory.mktemp("generated"),
        STREAM_CHUNK_INTERVAL_MS="10",
        STREAM_CHUNK_CHARS="40",
        TRUSTED_PROXIES="127.0.0.1",
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_MODEL=MODEL,
        OPENAI_MAX_RETRIES="1",
        OPENAI_TIMEOUT="5",
        AI_LOCK_LEASE_SECONDS="2",
    ) as live:
        yield live


@pytest.fixture(autouse=True)
def _fresh(fake, server):
    """No reply, call or stored answer of another test (the server has its own database)."""
    fake.reset()
    reset_database(server.container)
    yield


@pytest.fixture
def student(server):
    yield from connected_students(server)


def events_named(student: Student, name: str) -> list[dict]:
    return [data for event, data in student.events if event == name]


def texts_by_step(student: Student) -> dict[int, str]:
    chunks = sorted(events_named(student, "content_chunk"), key=lambda d: d["seq"])
    steps: dict[int, str] = {}
    for data in chunks:
        steps[data["step_number"]] = steps.get(data["step_number"], "") + data["chunk"]
    return steps


def credits_of(server, email: str = "ana@example.com") -> int:
    with server.container.db.connection() as conn:
        row = conn.execute(
            "SELECT p.credits_remaining FROM profiles p JOIN auth.users u ON u.id = p.id "
            "WHERE u.email = %s",
            (email,),
        ).fetchone()
    return row["credits_remaining"]


def stored_answers(server) -> list[dict]:
    with server.container.db.connection() as conn:
        return conn.execute(
            "SELECT id, question_text, generated_by, prompt_version, prompt_tokens, "
            "completion_tokens, answer_steps FROM ai_answers WHERE generated_by <> 'manual'"
        ).fetchall()


def test_a_new_question_starts_streaming_before_its_answer_is_written(server, fake, student):
    # 50 tokens per second, as a real model writes: the whole answer takes many seconds.
    fake.answer("derivada", document_reply(GENERATED, tokens_per_second=50))
    ana = student()
    asked = time.monotonic()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_for("step_start", timeout=30)
    first_step_at = time.monotonic()
    # Searching the store, then the model thinking.
    assert [p["category"] for p in events_named(ana, "waiting_phrase")] == [
        "searching",
        "thinking",
    ]
    ana.wait_for("feedback_request", timeout=90)
    # The first step is shown once it is written, long before the model has written the rest.
    [call] = fake.calls()
    assert call.finished_at is not None
    writing = call.finished_at - asked
    # Time to the first step is about the time the model takes to write that step (the step
    # is complete once the next begins), not the whole answer.
    text = strict_text(GENERATED, answer_schema())
    one_step = writing * text.index(LESSON["steps"][1]["title"]) / len(text)
    assert first_step_at - asked < one_step + 1.0 < writing - 1.5
    start = ana.wait_for("explanation_start")
    assert start["being_written"] is True and start["total_steps"] == 4
    # The student saw exactly the answer the model wrote, step by step.
    assert texts_by_step(ana) == WHOLE_LESSON
    [row] = stored_answers(server)
    assert row["generated_by"] == MODEL and row["prompt_version"]
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
    assert str(row["id"]) == start["answer_id"] == ana.wait_for("feedback_request")["answer_id"]
    with server.container.db.connection() as conn:
        interaction = conn.execute("SELECT answer_id, completed FROM interactions").fetchone()
    assert str(interaction["answer_id"]) == str(row["id"]) and interaction["completed"]
    assert credits_of(server) == 99
    # The next student gets it from the store: no second call.
    ben = student("ben@example.com")
    ben.client.emit("ask_question", {"question": "que es una derivada"})
    ben.wait_for("feedback_request", timeout=30)
    assert len(fake.calls()) == 1
    assert texts_by_step(ben) == texts_by_step(ana)


def test_many_students_asking_one_new_question_make_one_llm_call(server, fake, student):
    fake.answer("derivada", document_reply(GENERATED, tokens_per_second=400))
    many = [student(f"s{n}@example.com") for n in range(6)]
    barrier = threading.Barrier(len(many))

    def ask(one: Student) -> None:
        barrier.wait()
        one.client.emit("ask_question", {"question": "¿Qué es una derivada?"})

    threads = [threading.Thread(target=ask, args=(one,)) for one in many]
    for thread in threads:
        thread.start()
    for one in many:
        one.wait_for("feedback_request", timeout=60)
    assert len(fake.calls()) == 1
    assert len(fake.calls("/v1/moderations")) == 1
    for one in many:
        assert texts_by_step(one) == WHOLE_LESSON
    assert len(stored_answers(server)) == 1


def test_a_generation_cut_midway_ends_the_lesson_refunds_and_stores_nothing(server, fake, student):
    text = strict_text(GENERATED, answer_schema())  # what the model streams
    second_step = text.index(LESSON["steps"][2]["title"])  # inside the third step
    fake.answer("derivada", Reply(content=text, cut_after=second_step, tokens_per_second=800))
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    error = ana.wait_for("error", timeout=30)
    assert error["code"] == "AI_UNAVAILABLE"
    # What was written before the cut was shown; nothing after it.
    shown = texts_by_step(ana)
    assert shown[1] == LESSON["steps"][0]["content"]
    assert 3 not in shown
    assert not events_named(ana, "explanation_complete")
    assert stored_answers(server) == []
    assert credits_of(server) == 100  # charged, then given back
    # The lesson is over: there is nothing to resume.
    ana.client.emit("resume_explanation", {})
    ana.wait_until(lambda: len(events_named(ana, "error")) == 2, timeout=5)
    assert events_named(ana, "error")[1]["code"] == "INVALID_INPUT"


def test_a_flagged_question_is_refused_before_any_generation_and_not_charged(server, fake, student):
    fake.flag_words.add("veneno")
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Cómo fabrico veneno en casa?"})
    error = ana.wait_for("error", timeout=10)
    assert error["code"] == "CONTENT_REFUSED"
    assert fake.calls() == [] and len(fake.calls("/v1/moderations")) == 1
    assert credits_of(server) == 100
    assert stored_answers(server) == []


def test_a_question_outside_the_subjects_gets_the_models_kind_refusal(server, fake, student):
    refusal = "Me encantaría ayudarte, pero solo explico temas de tus materias. ¿Vemos alguno?"
    fake.answer(
        "chiste",
        document_reply({"refusal": refusal, "subject": None, "total_steps": 0, "steps": []}),
    )
    ana = student()
    ana.client.emit("ask_question", {"question": "Cuéntame un chiste de fútbol"})
    error = ana.wait_for("error", timeout=10)
    assert error["code"] == "CONTENT_REFUSED" and error["message"] == refusal
    assert credits_of(server) == 100
    assert stored_answers(server) == []
    assert not events_named(ana, "explanation_start")


def test_a_failing_provider_gets_the_seeds_phrase_and_similar_questions(server, fake, student):
    server.container.answers.import_answers(json.loads(FIXTURE.read_text()))
    fake.answer("derivada", error_reply(500, "server_error"))
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada direccional?"})
    error = ana.wait_for("error", timeout=20)
    assert error["code"] == "AI_UNAVAILABLE"
    assert "Disculpa, hay un problema temporal" in [
        p["phrase"] for p in events_named(ana, "waiting_phrase")
    ]
    assert [s["question"] for s in error["details"]["similar"]] == ["¿Qué es una derivada?"]
    assert len(fake.calls()) == 2  # the first try and the SDK's one retry
    assert credits_of(server) == 100


def test_an_exhausted_quota_is_not_retried_and_stops_further_calls(server, fake, student):
    fake.answer("integral", error_reply(429, "insufficient_quota", "You exceeded your quota"))
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una integral?"})
    assert ana.wait_for("error", timeout=10)["code"] == "AI_UNAVAILABLE"
    assert len(fake.calls()) == 1
    ana.client.emit("ask_question", {"question": "¿Qué es una integral definida?"})
    ana.wait_until(lambda: len(events_named(ana, "error")) == 2, timeout=10)
    assert events_named(ana, "error")[1]["code"] == "AI_UNAVAILABLE"
    assert len(fake.calls()) == 1  # the breaker is open: the provider is not called


def test_repeated_failures_open_the_breaker_for_every_question(server, fake, student):
    fake.default = lambda request: error_reply(503, "overloaded")
    ana = student()
    for n in range(6):
        ana.client.emit("ask_question", {"question": f"¿Qué es el número {n}?"})
        ana.wait_until(lambda n=n: len(events_named(ana, "error")) == n + 1, timeout=15)
    calls = len(fake.calls())
    assert calls == 5 * 2  # five questions with one retry each, then the breaker opened
    assert events_named(ana, "error")[-1]["code"] == "AI_UNAVAILABLE"


def test_an_invalid_step_is_repaired_once_by_the_model(server, fake, student):
    broken = json.loads(json.dumps(GENERATED))
    # (What strict mode cannot prevent: a color is any string to the schema.)
    broken["steps"][1]["canvas"] = [
        {"type": "circle", "x": 10, "y": 10, "radius": 5, "color": "no-es-un-color"}
    ]
    fake.script(document_reply(broken), document_reply(GENERATED))
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_for("feedback_request", timeout=30)
    assert texts_by_step(ana)[2] == LESSON["steps"][1]["content"]
    assert len(fake.calls()) == 2
    repair = fake.calls()[1]
    assert repair.body.get("stream") is True  # streamed too: no long silent wait
    assert "color" in repair.user_message
    assert len(stored_answers(server)) == 1


def test_an_answer_invalid_twice_is_dropped(server, fake, student):
    fake.answer("derivada", Reply(content='{"refusal": null, "steps": [{"title": 5'))
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    assert ana.wait_for("error", timeout=20)["code"] == "AI_UNAVAILABLE"
    assert len(fake.calls()) == 2
    assert stored_answers(server) == [] and credits_of(server) == 100


def test_the_http_ask_returns_the_whole_generated_answer(server, fake):
    fake.answer("derivada", document_reply(GENERATED))
    token = server.container.dev_tokens.issue(email="ana@example.com")

    response = requests.post(
        f"{server.url}/api/v1/questions/ask",
        json={"question": "¿Qué es una derivada?"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "generated"
    assert [s["content"] for s in body["answer"]["steps"]] == [
        s["content"] for s in LESSON["steps"]
    ]
    assert str(stored_answers(server)[0]["id"]) == body["answer_id"]


FOLLOW_UP = {
    "refusal": None,
    "subject": "calculo",
    "total_steps": 1,
    "steps": [
        {
            "title": "Por qué dividimos entre h",
            "content_type": "text",
            "content": "Dividimos entre $h$ para obtener el cambio por unidad: una pendiente.",
            "duration": 12,
            "canvas": [],
        }
    ],
}


def test_a_follow_up_gets_a_short_answer_about_the_step_in_view(server, fake, student):
    server.container.answers.import_answers(json.loads(FIXTURE.read_text()))
    fake.answer("dividimos", document_reply(FOLLOW_UP))
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_for("step_start", timeout=10)
    ana.client.emit("pause_explanation", {})
    paused = ana.wait_for("explanation_paused", timeout=10)
    ana.client.emit("interrupt", {"question": "¿Por qué dividimos entre h?"})
    ana.wait_for("continue_offer", timeout=20)
    starts = events_named(ana, "explanation_start")
    assert starts[-1]["kind"] == "interruption"
    follow_up_texts = [
        d["chunk"]
        for d in sorted(events_named(ana, "content_chunk"), key=lambda d: d["seq"])
        if d["explanation_id"] == starts[-1]["explanation_id"]
    ]
    assert "".join(follow_up_texts) == FOLLOW_UP["steps"][0]["content"]
    [call] = fake.calls()
    # About the step in view, briefly.
    assert LESSON["steps"][paused["step_number"] - 1]["title"] in call.user_message
    assert call.body["max_tokens"] == 600
    # The same doubt on the same step is answered from the store.
    ana.client.emit("resume_explanation", {})
    ana.wait_for("feedback_request", timeout=20)
    ben = student("ben@example.com")
    ben.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ben.wait_for("step_start", timeout=10)
    ben.client.emit("pause_explanation", {})
    ben_paused = ben.wait_for("explanation_paused", timeout=10)
    ben.client.emit("interrupt", {"question": "por que dividimos entre h"})
    ben.wait_for("continue_offer", timeout=20)
    if ben_paused["step_number"] == paused["step_number"]:
        assert len(fake.calls()) == 1
    else:  # (paused on another step: another doubt, about that step)
        step = LESSON["steps"][ben_paused["step_number"] - 1]
        assert len(fake.calls()) == 2 and step["title"] in fake.calls()[1].user_message
    # Kept as the answer of that step, not as an answer of its own.
    assert sorted(d["question"] for d in server.container.answers.export_answers()) == sorted(
        d["question"] for d in json.loads(FIXTURE.read_text())
    )


def test_stopping_the_only_lesson_of_an_answer_being_written_stops_the_model(server, fake, student):
    fake.answer("derivada", document_reply(GENERATED, tokens_per_second=40))
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_for("step_start", timeout=30)
    ana.client.emit("stop_explanation", {})
    ana.wait_for("explanation_stopped", timeout=10)
    [call] = fake.calls()
    # The model stops writing within about a second: nobody would read the rest.
    assert ana.wait_until(lambda: False, timeout=2.5) is False
    written = call.streamed_chars
    time.sleep(1)
    assert call.streamed_chars == written and not call.finished
    assert stored_answers(server) == []
    # Asked again later, it is written again.
    fake.answer("derivada", document_reply(GENERATED))
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_until(lambda: len(events_named(ana, "feedback_request")) == 1, timeout=30)
    assert len(fake.calls()) == 2 and len(stored_answers(server)) == 1


def test_a_rephrased_question_reuses_the_stored_answer_without_calling_the_model(server, fake):
    server.container.answers.import_answers(json.loads(FIXTURE.read_text()))
    fake.default = lambda request: document_reply(GENERATED)
    token = server.container.dev_tokens.issue(email="ana@example.com")

    def ask(question: str) -> dict:
        response = requests.post(
            f"{server.url}/api/v1/questions/ask",
            json={"question": question},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()

    rephrased = ask("explícame qué es la derivada")
    assert rephrased["source"] == "near" and fake.calls() == []
    assert rephrased["answer"]["question"] == "¿Qué es una derivada?"
    # Other mathematics is another question, whatever the wording shares.
    other = ask("¿Cómo resuelvo x^2 - 5x + 7 = 0?")
    assert other["source"] == "generated" and len(fake.calls()) == 1


def test_a_model_slower_than_the_timeout_is_retried_then_given_up(server, fake, student):
    fake.answer("derivada", Reply(content="{}", delay=6))  # OPENAI_TIMEOUT is 5 s
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    error = ana.wait_for("error", timeout=30)
    assert error["code"] == "AI_UNAVAILABLE" and error["details"]["reason"] == "provider"
    assert len(fake.calls()) == 2
    assert credits_of(server) == 100


def test_a_generator_that_died_lets_the_next_asker_write_the_answer(server, fake, student):
    # What a process killed while writing leaves behind: a lock with its lease and a draft.
    question = "¿Qué es una derivada?"
    key = generate_hash(question)
    drafts = GenerationRepository(server.container.redis)
    assert drafts.start(key, "a-dead-process", answer_id=str(uuid.uuid4()), lease_seconds=1.5)
    fake.answer("derivada", document_reply(GENERATED))
    ana = student()
    ana.client.emit("ask_question", {"question": question})
    ana.wait_for("feedback_request", timeout=30)  # once the dead lock lapsed, written anew
    assert len(fake.calls()) == 1 and len(stored_answers(server)) == 1
    assert texts_by_step(ana)[1] == LESSON["steps"][0]["content"]


def test_a_student_without_credits_does_not_set_the_model_writing(server, fake, student):
    fake.answer("derivada", document_reply(GENERATED))
    ana = student()
    with server.container.db.transaction() as conn:
        conn.execute("UPDATE profiles SET credits_remaining = 0")
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    assert ana.wait_for("error", timeout=10)["code"] == "INSUFFICIENT_CREDITS"
    assert fake.requests == []


def with_step(document: dict, index: int, content: str) -> dict:
    changed = json.loads(json.dumps(document))
    changed["steps"][index]["content"] = content
    changed["steps"][index]["canvas"] = []
    return changed


def test_a_step_with_wrong_math_is_rewritten_before_anyone_sees_it(server, fake, student):
    wrong = with_step(GENERATED, 1, "Por ejemplo, $2 + 3 \\cdot 4 = 20$.")
    right = with_step(GENERATED, 1, "Por ejemplo, $2 + 3 \\cdot 4 = 14$.")
    fake.script(document_reply(wrong), document_reply(right))
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_for("feedback_request", timeout=30)
    assert texts_by_step(ana)[2] == "Por ejemplo, $2 + 3 \\cdot 4 = 14$."
    assert "20$." not in "".join(texts_by_step(ana).values())
    fix = fake.calls()[1]
    assert "paso 2" in fix.user_message and "expected 14" in fix.user_message
    with server.container.db.connection() as conn:
        row = conn.execute(
            "SELECT checks_run, checks_passed, checks_failed FROM ai_answers "
            "WHERE generated_by <> 'manual'"
        ).fetchone()
    assert row["checks_failed"] == 1 and row["checks_passed"] >= 1
    assert row["checks_run"] == row["checks_passed"] + row["checks_failed"]


def test_wrong_math_twice_drops_the_answer_after_what_was_shown(server, fake, student):
    wrong = with_step(GENERATED, 1, "Por ejemplo, $2 + 3 \\cdot 4 = 20$.")
    fake.script(document_reply(wrong), document_reply(wrong))
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    error = ana.wait_for("error", timeout=30)
    assert error["code"] == "AI_UNAVAILABLE"
    shown = texts_by_step(ana)
    assert shown == {1: LESSON["steps"][0]["content"]}  # the checked first step, nothing false
    assert stored_answers(server) == [] and credits_of(server) == 100


def test_an_exam_question_answered_with_the_wrong_option_is_corrected(server, fake):
    with server.container.db.connection() as conn:
        bank = conn.execute(
            "SELECT id, question FROM questions WHERE code = '2023Fisica03'"
        ).fetchone()
    says = "La velocidad es $v = 150/2 = 75$ km/h, así que la respuesta correcta es la %s."
    fake.script(
        document_reply(with_step(GENERATED, 3, says % "a")),
        document_reply(with_step(GENERATED, 3, says % "c")),
    )
    token = server.container.dev_tokens.issue(email="ana@example.com")
    response = requests.post(
        f"{server.url}/api/v1/questions/ask",
        json={"question": bank["question"], "question_id": str(bank["id"])},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["answer"]["steps"][3]["content"] == says % "c"
    assert "c) 75 km/h" in fake.calls()[0].user_message  # the options reached the model
    assert "correct one is c" in fake.calls()[1].user_message


def test_a_lesson_paused_while_its_answer_is_written_resumes_with_every_step(server, fake, student):
    fake.answer("derivada", document_reply(GENERATED, tokens_per_second=150))
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_until(lambda: len(events_named(ana, "step_start")) == 2, timeout=30)
    ana.client.emit("pause_explanation", {})
    ana.wait_for("explanation_paused", timeout=10)
    time.sleep(1.5)  # the model writes on meanwhile
    ana.client.emit("resume_explanation", {})
    ana.wait_for("feedback_request", timeout=60)
    assert not events_named(ana, "error")
    assert texts_by_step(ana) == WHOLE_LESSON


def test_a_doubt_during_an_answer_being_written_is_about_the_step_in_view(server, fake, student):
    fake.answer("derivada", document_reply(GENERATED, tokens_per_second=150))
    fake.answer("dividimos", document_reply(FOLLOW_UP))
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_until(lambda: len(events_named(ana, "step_start")) == 3, timeout=30)
    ana.client.emit("pause_explanation", {})
    paused = ana.wait_for("explanation_paused", timeout=10)
    ana.client.emit("interrupt", {"question": "¿Por qué dividimos entre h?"})
    ana.wait_for("continue_offer", timeout=30)
    doubt = fake.calls()[-1]
    # The step the student was reading: the last one whose text reached them before the pause
    # (the next step's title may have arrived without its text, or not be written yet).
    shown = max(
        d["step_number"] for d in events_named(ana, "content_chunk") if d["seq"] < paused["seq"]
    )
    in_view = LESSON["steps"][shown - 1]
    assert shown >= 3 and in_view["title"] in doubt.user_message


def test_a_model_slow_to_start_keeps_its_lock_and_is_called_once(server, fake, student):
    # The lease is 2 s here; the model takes 4 s before its first token.
    fake.answer("derivada", document_reply(GENERATED, delay=4))
    ana, ben = student(), student("ben@example.com")
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    time.sleep(3)
    ben.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_for("feedback_request", timeout=30)
    ben.wait_for("feedback_request", timeout=30)
    assert len(fake.calls()) == 1
    assert texts_by_step(ana) == texts_by_step(ben)


def test_the_providers_own_refusal_is_a_refusal_not_a_retry(server, fake, student):
    fake.answer("derivada", Reply(refusal="I'm sorry, I can't help with that."))
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    error = ana.wait_for("error", timeout=10)
    assert error["code"] == "CONTENT_REFUSED" and "sorry" not in error["message"]
    assert len(fake.calls()) == 1 and credits_of(server) == 100


def test_an_answer_cut_at_the_token_limit_is_not_asked_for_again(server, fake, student):
    cut = json.dumps(GENERATED)[:300]
    fake.answer("derivada", Reply(content=cut, finish_reason="length"))
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    assert ana.wait_for("error", timeout=10)["code"] == "AI_UNAVAILABLE"
    assert len(fake.calls()) == 1 and stored_answers(server) == []


def test_a_request_the_provider_rejects_does_not_open_the_breaker(server, fake, student):
    fake.default = lambda request: error_reply(400, "invalid_request_error")
    ana = student()
    for n in range(6):
        ana.client.emit("ask_question", {"question": f"¿Qué es el número {n}?"})
        ana.wait_until(lambda n=n: len(events_named(ana, "error")) == n + 1, timeout=15)
    assert len(fake.calls()) == 6  # every question tried: the provider itself is fine


def test_a_lesson_resumed_after_its_draft_expired_reads_the_stored_answer(server, fake, student):
    fake.answer("derivada", document_reply(GENERATED, tokens_per_second=150))
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_until(lambda: len(events_named(ana, "step_start")) == 2, timeout=30)
    ana.client.emit("pause_explanation", {})
    ana.wait_for("explanation_paused", timeout=10)
    deadline = time.monotonic() + 30
    while not stored_answers(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    key = generate_hash("¿Qué es una derivada?")
    server.container.redis.delete(draft_key(key), draft_steps_key(key))  # as an hour later
    ana.client.emit("resume_explanation", {})
    ana.wait_for("feedback_request", timeout=30)
    assert not events_named(ana, "error")
    assert texts_by_step(ana) == WHOLE_LESSON


def test_two_tabs_cannot_set_the_model_writing_on_one_credit(server, fake, student):
    fake.answer("derivada", document_reply(GENERATED, delay=1.5))
    fake.answer("integral", document_reply(GENERATED))
    tab = student()
    token = server.container.dev_tokens.issue(email="ana@example.com")
    other_tab = Student(server.url, next(ADDRESSES))
    other_tab.connect(token)
    try:
        with server.container.db.transaction() as conn:
            conn.execute("UPDATE profiles SET credits_remaining = 1")
        tab.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
        tab.wait_for("waiting_phrase", timeout=5)
        time.sleep(0.3)
        other_tab.client.emit("ask_question", {"question": "¿Qué es una integral?"})
        error = other_tab.wait_for("error", timeout=10)
        assert error["code"] == "INSUFFICIENT_CREDITS"
        tab.wait_for("feedback_request", timeout=30)
        [call] = fake.calls()  # the second tab's question never reached the model
        assert "derivada" in call.user_message
        assert credits_of(server) == 0
    finally:
        other_tab.close()
