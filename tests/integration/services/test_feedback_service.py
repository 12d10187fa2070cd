"""\"No entendí\" on a step, and answers marked for review by what students say about them."""

import json
from pathlib import Path

import jwt
import pytest

from app.errors import InvalidInput, NotFound
from tests.conftest import auth_header

FIXTURE = Path(__file__).parents[2] / "fixtures" / "answers.json"


@pytest.fixture
def imported(container):
    container.answers.import_answers(json.loads(FIXTURE.read_text()))


@pytest.fixture
def lesson(client, issue_token, imported):
    """A student who asked about derivatives: (user_id, answer_id, interaction_id)."""

    def ask_as(email: str) -> tuple[str, str, str]:
        token = issue_token(email)
        body = client.post(
            "/api/v1/questions/ask",
            json={"question": "¿Qué es una derivada?"},
            headers=auth_header(token),
        ).json
        user_id = jwt.decode(token, options={"verify_signature": False})["sub"]
        return user_id, body["answer_id"], body["interaction_id"]

    return ask_as


def flagged(container, answer_id):
    with container.db.connection() as conn:
        row = container.ai_answers.get_by_id(conn, answer_id)
    return row["needs_review"], row["review_reason"]


def confused(container, lesson_of, step):
    user_id, answer_id, interaction_id = lesson_of
    container.feedback.give_on_step(
        user_id=user_id,
        answer_id=answer_id,
        interaction_id=interaction_id,
        step_number=step,
        understood=False,
    )


def test_five_students_lost_on_one_step_mark_the_answer_for_review(container, lesson):
    students = [lesson(f"s{n}@example.com") for n in range(5)]
    answer_id = students[0][1]
    for student in students[:4]:
        confused(container, student, 2)
    confused(container, students[0], 2)  # the same student again counts once
    confused(container, students[4], 3)  # another step
    assert flagged(container, answer_id) == (False, None)
    confused(container, students[4], 2)
    assert flagged(container, answer_id) == (
        True,
        "step 2: 5 of 5 students did not understand it",
    )
    assert [entry["reason"] for entry in container.answers.needing_review()] == [
        "step 2: 5 of 5 students did not understand it"
    ]


def test_taking_it_back_does_not_count(container, lesson):
    students = [lesson(f"t{n}@example.com") for n in range(5)]
    for student in students[:4]:
        confused(container, student, 1)
    user_id, answer_id, interaction_id = students[0]
    container.feedback.give_on_step(
        user_id=user_id,
        answer_id=answer_id,
        interaction_id=interaction_id,
        step_number=1,
        understood=True,
    )
    confused(container, students[4], 1)
    assert flagged(container, answer_id) == (False, None)


def test_a_step_lost_by_few_of_many_students_is_not_flagged(container, lesson):
    students = [lesson(f"m{n}@example.com") for n in range(21)]
    for student in students[:5]:
        confused(container, student, 4)
    assert flagged(container, students[0][1]) == (False, None)  # 5 of 21 < 25 %


def test_low_ratings_mark_the_answer_for_review(client, container, issue_token, imported):
    answer_id = None
    for n in range(10):
        headers = auth_header(issue_token(f"v{n}@example.com"))
        answer_id = client.post(
            "/api/v1/questions/ask", json={"question": "¿Qué es una derivada?"}, headers=headers
        ).json["answer_id"]
        client.post(
            f"/api/v1/answers/{answer_id}/feedback",
            json={"understood": n < 4},
            headers=headers,
        )
    assert flagged(container, answer_id) == (True, "4 of 10 votes found it helpful")


def test_new_steps_clear_the_mark_and_the_old_opinions(container, lesson):
    students = [lesson(f"r{n}@example.com") for n in range(5)]
    answer_id = students[0][1]
    for student in students:
        confused(container, student, 2)
    documents = json.loads(FIXTURE.read_text())
    container.answers.import_answers(documents)  # the same steps: still to review
    assert flagged(container, answer_id)[0] is True
    documents[0]["steps"][1]["content"] = "Formalmente, la derivada es un límite: $$f'(x)$$."
    container.answers.import_answers(documents)
    assert flagged(container, answer_id) == (False, None)
    with container.db.connection() as conn:
        left = conn.execute("SELECT count(*) AS n FROM step_feedback").fetchone()["n"]
    assert left == 0


def test_step_feedback_needs_the_students_own_lesson_and_a_real_step(container, lesson):
    user_id, answer_id, interaction_id = lesson("own@example.com")
    other_user, _, _ = lesson("other@example.com")
    with pytest.raises(NotFound):
        container.feedback.give_on_step(
            user_id=other_user,
            answer_id=answer_id,
            interaction_id=interaction_id,
            step_number=1,
            understood=False,
        )
    with pytest.raises(InvalidInput):
        container.feedback.give_on_step(
            user_id=user_id,
            answer_id=answer_id,
            interaction_id=interaction_id,
            step_number=5,  # the answer has 4 steps
            understood=False,
        )


def test_the_review_command_lists_and_clears(cli_runner, container, lesson):
    students = [lesson(f"c{n}@example.com") for n in range(5)]
    for student in students:
        confused(container, student, 3)
    listed = cli_runner.invoke(args=["answers", "review"])
    assert listed.exit_code == 0, listed.output
    assert "¿Qué es una derivada?" in listed.output and "step 3: 5 of 5" in listed.output
    question_hash = container.answers.needing_review()[0]["question_hash"]
    cleared = cli_runner.invoke(args=["answers", "review", "--clear", question_hash])
    assert cleared.exit_code == 0, cleared.output
    assert container.answers.needing_review() == []
    assert "No answers are marked" in cli_runner.invoke(args=["answers", "review"]).output
    missing = cli_runner.invoke(args=["answers", "review", "--clear", "0" * 64])
    assert missing.exit_code != 0
