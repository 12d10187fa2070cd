import json
from pathlib import Path

import pytest

from tests.conftest import auth_header

FIXTURE = Path(__file__).parents[2] / "fixtures" / "answers.json"


@pytest.fixture
def imported(container):
    container.answers.import_answers(json.loads(FIXTURE.read_text()))


@pytest.fixture
def headers(issue_token):
    return auth_header(issue_token("ana@example.com"))


def ask(client, headers, question, **extra):
    return client.post(
        "/api/v1/questions/ask", json={"question": question, **extra}, headers=headers
    )


def test_a_stored_answer_is_returned_and_charged(client, container, headers, imported):
    response = ask(client, headers, "que es una DERIVADA")
    assert response.status_code == 200
    body = response.json
    assert body["source"] == "database"
    assert body["answer"]["question"] == "¿Qué es una derivada?"
    assert [s["title"] for s in body["answer"]["steps"]] == [
        "Idea intuitiva",
        "La fórmula",
        "Ejemplo",
        "Resumen",
    ]
    assert (body["credits_remaining"], body["daily_remaining"]) == (9, 4)
    again = ask(client, headers, "¿Qué es una derivada?").json
    assert again["source"] == "cache" and again["answer_id"] == body["answer_id"]
    with container.db.connection() as conn:
        interaction = conn.execute(
            "SELECT * FROM interactions WHERE id = %s", (body["interaction_id"],)
        ).fetchone()
        usage = conn.execute(
            "SELECT interaction_id FROM credit_usage ORDER BY created_at LIMIT 1"
        ).fetchone()
        answer = container.ai_answers.get_by_id(conn, body["answer_id"])
    assert interaction["question_type"] == "text" and interaction["credits_used"] == 1
    assert interaction["response_time_ms"] >= 0 and interaction["completed"]
    assert usage["interaction_id"] == interaction["id"]
    assert answer["usage_count"] == 2


def test_an_unknown_question_is_ai_unavailable_with_similar_ones_and_free(
    client, headers, imported
):
    response = ask(client, headers, "¿Qué es una derivada parcial?")
    assert response.status_code == 503
    error = response.json["error"]
    assert error["code"] == "AI_UNAVAILABLE"
    similar = error["details"]["similar"]
    assert similar[0]["question"] == "¿Qué es una derivada?"
    me = client.get("/api/v1/auth/me", headers=headers).json
    assert me["credits"]["remaining"] == 10


def test_questions_beyond_the_rate_limit_wait_the_real_window(client, container, headers, imported):
    limit = container.settings.rate_limit_questions
    with container.db.transaction() as conn:
        conn.execute("UPDATE profiles SET daily_limit = 100")
    for _ in range(limit):
        assert ask(client, headers, "¿Qué es una derivada?").status_code in (200, 402)
    response = ask(client, headers, "¿Qué es una derivada?")
    assert response.status_code == 429
    assert response.json["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert 0 < response.json["error"]["retry_after"] <= container.settings.rate_limit_window
    assert response.headers["Retry-After"] == str(response.json["error"]["retry_after"])


def test_daily_limit_reached_says_when(client, headers, imported):
    for _ in range(5):
        assert ask(client, headers, "¿Qué es una derivada?").status_code == 200
    response = ask(client, headers, "¿Qué es una derivada?")
    assert response.status_code == 429
    assert response.json["error"]["code"] == "DAILY_LIMIT_REACHED"
    assert 0 < response.json["error"]["retry_after"] <= 86_400


@pytest.mark.parametrize(
    "payload",
    [
        {"question": ""},
        {"question": "   "},
        {"question": "¿?"},
        {"question": 42},
        {"question": "x" * 1001},
        {"question": "hola", "question_type": "telepathy"},
        {"question": "hola", "context": {"x": "y" * 5000}},
        {"question": "hola", "question_id": "7"},
        {"question": "hola", "question_type": None},
        {},
    ],
)
def test_bad_questions_are_invalid_input(client, headers, payload):
    response = client.post("/api/v1/questions/ask", json=payload, headers=headers)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "INVALID_INPUT"


def test_sql_and_latex_in_questions_are_just_text(client, container, headers, imported):
    for question in ["'; DROP TABLE ai_answers; --", "\\input{/etc/passwd} $\\def\\x{}$"]:
        response = ask(client, headers, question)
        assert response.status_code == 503
    with container.db.connection() as conn:
        assert container.ai_answers.count(conn) == 2


def test_a_bank_question_that_does_not_exist_is_not_found(client, headers, imported):
    response = ask(
        client, headers, "¿Qué es una derivada?", question_id="35f57421-4b5f-47c7-9ad1-49c619774c29"
    )
    assert response.status_code == 404
    assert client.get("/api/v1/auth/me", headers=headers).json["credits"]["remaining"] == 10


def feedback(client, headers, answer_id, **body):
    return client.post(f"/api/v1/answers/{answer_id}/feedback", json=body, headers=headers)


def test_feedback_updates_the_interaction_and_votes_once(client, container, headers, imported):
    answer_id = ask(client, headers, "¿Qué es una derivada?").json["answer_id"]
    first = feedback(client, headers, answer_id, rating=5, understood=True)
    assert first.status_code == 200
    assert (first.json["helpful_votes"], first.json["total_votes"]) == (1, 1)
    changed = feedback(client, headers, answer_id, understood=False, seen_in_exam=True)
    assert changed.json["understood"] is False and changed.json["rating"] == 5
    assert changed.json["seen_in_exam"] is True
    assert (changed.json["helpful_votes"], changed.json["total_votes"]) == (1, 1)


def test_feedback_on_an_answer_never_received_is_not_found(client, headers, issue_token, imported):
    answer_id = ask(client, headers, "¿Qué es una derivada?").json["answer_id"]
    other = auth_header(issue_token("ben@example.com"))
    assert feedback(client, other, answer_id, rating=1).status_code == 404
    assert feedback(client, headers, "no-es-uuid", rating=1).status_code == 404
    unchanged = feedback(client, headers, answer_id)
    assert unchanged.status_code == 200 and unchanged.json["total_votes"] == 0
    assert feedback(client, headers, answer_id, rating=9).status_code == 400
