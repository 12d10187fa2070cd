"""Exam questions as authors write them: checked before they reach the bank."""

import pytest
from pydantic import ValidationError

from app.models.questions import BankQuestionIn

GOOD = {
    "code": "2022Aritmetica03",
    "subject": "aritmetica",
    "topic": "porcentajes",
    "difficulty": "easy",
    "question": "¿Cuánto es el $20\\%$ de $150$?",
    "options": {"a": "$30$", "b": "$20$", "c": "$15$", "d": "$45$"},
    "correct_answer": "a",
    "explanation": "El $20\\%$ es la quinta parte: $150 / 5 = 30$.",
    "use_latex": True,
    "exam_probability": 0.6,
    "tags": ["porcentajes"],
}


def test_a_well_written_question_is_accepted():
    assert BankQuestionIn.model_validate(GOOD).correct_answer == "a"


@pytest.mark.parametrize(
    "change",
    [
        {"correct_answer": "e"},
        {"options": {"a": "$30$", "b": "$30$", "c": "$15$", "d": "$45$"}},
        {"options": {"a": "$30$", "x": "$20$"}},
        {"use_latex": False},
        {"code": "2022Algebra03"},
        {"code": "Aritmetica03"},
        {"subject": "historia", "code": "2022Historia03"},
        {"difficulty": "imposible"},
        {"exam_probability": 1.5},
        {"extra": True},
    ],
)
def test_mistakes_are_refused(change):
    with pytest.raises(ValidationError):
        BankQuestionIn.model_validate({**GOOD, **change})
