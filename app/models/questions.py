"""Exam bank payloads: filters, questions as students see them, attempts."""

from __future__ import annotations

import uuid
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.models import VISIBLE
from app.models.account import SubjectProgress

Difficulty = Literal["easy", "medium", "hard"]


class QuestionFilters(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    subject: str | None = Field(default=None, max_length=60)
    topic: str | None = Field(default=None, max_length=120)
    difficulty: Difficulty | None = None
    tag: str | None = Field(default=None, max_length=60)
    q: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=VISIBLE, description="Text search"
    )
    limit: int = Field(default=20, ge=1, le=100)
    after: str | None = Field(
        default=None,
        min_length=1,
        max_length=60,
        pattern=VISIBLE,
        description="`next_after` of the previous page: the code of its last question",
    )


class QuestionOut(BaseModel):
    """A bank question as a student sees it before answering: no correct answer."""

    id: str
    code: str
    subject: str
    topic: str | None
    difficulty: str
    question: str
    options: dict[str, str]
    use_latex: bool
    exam_probability: float
    tags: list[str]


class QuestionPage(BaseModel):
    items: list[QuestionOut]
    next_after: str | None = Field(description="Pass as `after` for the next page; null at end")


class AttemptIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    answer: str = Field(min_length=1, max_length=10, pattern=VISIBLE, examples=["a"])
    study_session_id: str | None = Field(
        default=None,
        description="Defaults to the active one",
        json_schema_extra={"format": "uuid"},
    )

    @field_validator("answer")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("study_session_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is not None:
            uuid.UUID(value)
        return value


class AttemptResult(BaseModel):
    correct: bool
    correct_answer: str
    explanation: str | None
    progress: SubjectProgress
    study_session_id: str | None


def question_out(row: dict[str, Any]) -> QuestionOut:
    return QuestionOut.model_validate(
        {
            **row,
            "id": str(row["id"]),
            "exam_probability": float(row["exam_probability"]),
            "tags": list(row["tags"] or []),
        }
    )


Subject = Literal[
    "algebra",
    "aritmetica",
    "geometria",
    "trigonometria",
    "calculo",
    "fisica",
    "quimica",
    "estadistica",
]
SUBJECTS: tuple[str, ...] = get_args(Subject)


class BankQuestionIn(BaseModel):
    """An exam question as authors write it (the seed content's `seed/questions/*.json`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(pattern=r"^(19|20)\d{2}[A-Z][a-z]+\d{1,3}$", description="2024Algebra14")
    subject: Subject
    topic: str = Field(min_length=1, max_length=120)
    difficulty: Difficulty
    question: str = Field(min_length=5, max_length=2_000)
    options: dict[str, str] = Field(min_length=2, max_length=6)
    correct_answer: str
    explanation: str = Field(min_length=5, max_length=2_000)
    use_latex: bool
    exam_probability: float = Field(ge=0, le=1)
    tags: list[str] = Field(default_factory=list, max_length=10)

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, str]) -> dict[str, str]:
        if any(key not in "abcdef" or len(key) != 1 for key in value):
            raise ValueError("options are keyed a, b, c, ...")
        texts = [text.strip() for text in value.values()]
        if any(not text for text in texts) or len(set(texts)) != len(texts):
            raise ValueError("options must be non-empty and all different")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BankQuestionIn:
        if self.correct_answer not in self.options:
            raise ValueError(f"correct_answer {self.correct_answer!r} is not one of the options")
        written = self.question + self.explanation + "".join(self.options.values())
        if self.use_latex != ("$" in written):
            raise ValueError(
                "use_latex must say whether the question, options or explanation use $"
            )
        if self.code[4:].rstrip("0123456789").lower() != self.subject:
            raise ValueError(f"the code {self.code} does not name the subject {self.subject}")
        return self
