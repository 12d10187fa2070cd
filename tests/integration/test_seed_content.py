"""The content a fresh installation starts with (seed/): exam questions across the eight
subjects and precomputed lessons, all checked like any import, correct and drawable."""

import json
from collections import Counter
from pathlib import Path

import pytest

from app.models.answer import AnswerDocument
from app.models.questions import SUBJECTS, BankQuestionIn
from app.utils.board_render import render_board
from app.utils.canvas_commands import prepare_steps
from app.utils.text_processing import generate_hash

SEED = Path(__file__).parents[2] / "seed"
QUESTIONS = [
    q for path in sorted(SEED.glob("questions/*.json")) for q in json.loads(path.read_text())
]
ANSWERS = [a for path in sorted(SEED.glob("answers/*.json")) for a in json.loads(path.read_text())]


def test_at_least_eighty_questions_across_the_eight_subjects_of_mixed_difficulty():
    checked = [BankQuestionIn.model_validate(question) for question in QUESTIONS]
    assert len(checked) >= 80
    by_subject = Counter(question.subject for question in checked)
    assert set(by_subject) == set(SUBJECTS) and min(by_subject.values()) >= 10
    assert set(Counter(question.difficulty for question in checked)) == {"easy", "medium", "hard"}
    assert len({question.code for question in checked}) == len(checked)
    assert len({question.question for question in checked}) == len(checked)
    # The correct option is not always the same letter.
    assert max(Counter(q.correct_answer for q in checked).values()) < 0.5 * len(checked)


def test_at_least_forty_lessons_of_three_to_seven_steps():
    documents = [AnswerDocument.model_validate(answer) for answer in ANSWERS]
    assert len(documents) >= 40
    assert all(3 <= len(document.steps) <= 7 for document in documents)
    assert all(document.generated_by == "manual" for document in documents)
    assert len({generate_hash(document.question) for document in documents}) == len(documents)
    assert sum(1 for document in documents if any(step.canvas for step in document.steps)) == len(
        documents
    ), "every lesson draws something"
    assert {document.subject for document in documents} >= set(SUBJECTS)


@pytest.mark.parametrize("index", range(len(ANSWERS)), ids=lambda i: ANSWERS[i]["question"][:40])
def test_every_lesson_draws_on_the_board(index):
    board: list[dict] = []
    for number, step in enumerate(prepare_steps(ANSWERS[index]["steps"]), start=1):
        board.extend(step["canvas"])
        problems = render_board(board).problems
        assert problems == [], f"step {number}: {problems}"


def test_loading_the_seed_twice_gives_the_same_bank_and_lessons(container):
    first = container.seed.load()
    second = container.seed.load()
    assert first == second and first.questions == len(QUESTIONS) and first.answers == len(ANSWERS)
    with container.db.connection() as conn:
        codes = {row["code"] for row in conn.execute("SELECT code FROM questions").fetchall()}
        lessons = conn.execute("SELECT count(*) AS n FROM ai_answers").fetchone()["n"]
    assert {question["code"] for question in QUESTIONS} <= codes
    assert lessons == len(ANSWERS)
