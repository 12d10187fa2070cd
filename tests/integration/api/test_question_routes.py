import uuid

import pytest

from tests.conftest import auth_header


@pytest.fixture
def headers(issue_token):
    return auth_header(issue_token("ana@example.com"))


def get(client, headers, **params):
    return client.get("/api/v1/questions", query_string=params, headers=headers)


def test_bank_is_listed_most_likely_first_without_answers(client, headers):
    body = get(client, headers).json
    probabilities = [q["exam_probability"] for q in body["items"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert len(body["items"]) == 8 and body["next_after"] is None
    for item in body["items"]:
        assert "correct_answer" not in item and "explanation" not in item
        assert set(item["options"]) == {"a", "b", "c", "d"}


def test_filters_by_subject_difficulty_and_tag(client, headers):
    assert {q["subject"] for q in get(client, headers, subject="fisica").json["items"]} == {
        "fisica"
    }
    hard = get(client, headers, difficulty="hard").json["items"]
    assert [q["code"] for q in hard] == ["2024Calculo12"]
    tagged = get(client, headers, tag="pitagoras").json["items"]
    assert [q["code"] for q in tagged] == ["2024Geometria05"]


@pytest.mark.parametrize(
    "text", ["energia cinetica", "ECUACIONES", "límites", "LIMITES", "cinemática"]
)
def test_text_search_ignores_case_and_accents(client, headers, text):
    codes = [q["code"] for q in get(client, headers, q=text).json["items"]]
    expected = {
        "energia cinetica": [],
        "ECUACIONES": [
            "2024Algebra14",
            "2024Algebra21",
        ],  # topics "ecuaciones ..." and "... de ecuaciones"
        "límites": ["2024Calculo12"],
        "LIMITES": ["2024Calculo12"],
        "cinemática": ["2023Fisica03"],
    }[text]
    assert codes == expected


def test_search_treats_wildcards_as_text(client, headers):
    assert get(client, headers, q="%").json["items"] == []
    underscored = get(client, headers, q="_").json["items"]
    assert 0 < len(underscored) < 8
    assert all("_" in q["question"] for q in underscored)  # H_2O, \lim_{...}: a literal _


def test_keyset_pages_cover_the_bank_once(client, headers):
    seen, after = [], None
    while True:
        params = {"limit": 3, **({"after": after} if after else {})}
        body = get(client, headers, **params).json
        seen += [q["code"] for q in body["items"]]
        after = body["next_after"]
        if after is None:
            break
    assert len(seen) == len(set(seen)) == 8
    assert seen == [q["code"] for q in get(client, headers, limit=100).json["items"]]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "muchos"},
        {"difficulty": "extreme"},
        {"unknown": "x"},
        {"q": "x" * 201},
    ],
)
def test_bad_filters_are_invalid_input(client, headers, params):
    response = get(client, headers, **params)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "INVALID_INPUT"


def test_a_page_after_a_question_that_no_longer_exists_is_not_found(client, headers):
    response = get(client, headers, after="Borrada2020")
    assert response.status_code == 404


def test_one_question_by_code_or_id(client, headers):
    by_code = client.get("/api/v1/questions/2024Algebra14", headers=headers).json
    by_id = client.get(f"/api/v1/questions/{by_code['id']}", headers=headers).json
    assert by_code == by_id
    assert "correct_answer" not in by_code
    missing = client.get(f"/api/v1/questions/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "NOT_FOUND"
    assert client.get("/api/v1/questions/NoExiste", headers=headers).status_code == 404


def attempt(client, headers, code, answer, **extra):
    return client.post(
        f"/api/v1/questions/{code}/attempts", json={"answer": answer, **extra}, headers=headers
    )


def test_answering_builds_progress_and_streak(client, headers):
    right = attempt(client, headers, "2024Algebra14", "A").json
    assert right["correct"] is True and right["correct_answer"] == "a"
    assert "Factorizamos" in right["explanation"]
    assert right["progress"] == {
        **right["progress"],
        "subject": "algebra",
        "total_practiced": 1,
        "total_correct": 1,
        "mastery_level": 0.2,
        "streak_days": 1,
    }
    wrong = attempt(client, headers, "2024Algebra21", "a").json
    assert wrong["correct"] is False and wrong["correct_answer"] == "b"
    assert wrong["progress"]["total_practiced"] == 2
    assert wrong["progress"]["total_correct"] == 1
    assert wrong["progress"]["mastery_level"] == 0.16
    assert wrong["progress"]["streak_days"] == 1
    stats = client.get("/api/v1/sessions/stats", headers=headers).json
    assert stats == [{**stats[0], "subject": "algebra", "accuracy": 0.5}]


def test_yesterdays_practice_extends_the_streak(client, container, headers):
    attempt(client, headers, "2024Algebra14", "a")
    with container.db.transaction() as conn:
        conn.execute(
            "UPDATE user_progress SET last_practice_date = last_practice_date - 1, streak_days = 4"
        )
    assert attempt(client, headers, "2024Algebra14", "a").json["progress"]["streak_days"] == 5
    with container.db.transaction() as conn:
        conn.execute("UPDATE user_progress SET last_practice_date = last_practice_date - 3")
    assert attempt(client, headers, "2024Algebra14", "a").json["progress"]["streak_days"] == 1


def test_question_statistics_count_every_attempt(client, container, headers):
    attempt(client, headers, "2023Fisica03", "c")
    attempt(client, headers, "2023Fisica03", "a")
    with container.db.connection() as conn:
        row = container.questions.get_by_code(conn, "2023Fisica03")
    assert (row["times_seen"], row["times_correct"]) == (2, 1)


def test_an_option_that_does_not_exist_is_refused(client, headers):
    response = attempt(client, headers, "2024Algebra14", "z")
    assert response.status_code == 400
    assert response.json["error"]["details"][0]["field"] == "answer"


def test_attempts_count_in_the_active_study_session(client, headers):
    session = client.post("/api/v1/sessions", json={}, headers=headers).json
    attempt(client, headers, "2024Algebra14", "a")
    attempt(client, headers, "2024Algebra21", "a")
    current = client.get("/api/v1/sessions/current", headers=headers).json
    assert current["id"] == session["id"]
    assert (current["questions_answered"], current["correct_answers"]) == (2, 1)


def test_another_students_session_cannot_be_used(client, headers, issue_token):
    other = auth_header(issue_token("ben@example.com"))
    ben_session = client.post("/api/v1/sessions", json={}, headers=other).json
    response = attempt(client, headers, "2024Algebra14", "a", study_session_id=ben_session["id"])
    assert response.status_code == 404
    assert client.get("/api/v1/sessions/current", headers=other).json["questions_answered"] == 0
