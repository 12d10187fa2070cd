"""Asking a question outside a live lesson (POST /questions/ask) and feedback on answers."""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

QuestionType = Literal["text", "voice", "exam"]
# Documented in the schema and enforced alike: a question has a Latin letter or a digit.
HAS_LETTER_OR_DIGIT = "[0-9A-Za-zÀ-ÖØ-öø-ÿ]"
MAX_CONTEXT_BYTES = 4_000


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # The configured MAX_QUESTION_LENGTH (at most this) is checked by the question service.
    question: str = Field(
        min_length=1,
        max_length=20_000,
        pattern=HAS_LETTER_OR_DIGIT,
        examples=["¿Qué es una derivada?"],
    )
    context: dict[str, Any] | None = Field(default=None, description="Optional, small")
    question_type: QuestionType = "text"
    question_id: str | None = Field(
        default=None,
        description="Bank question being explained",
        json_schema_extra={"format": "uuid"},
    )

    @field_validator("context")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, ensure_ascii=False)) > MAX_CONTEXT_BYTES:
            raise ValueError(f"context must be under {MAX_CONTEXT_BYTES} bytes of JSON")
        return value

    @field_validator("question_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is not None:
            uuid.UUID(value)
        return value


class AnswerDocumentOut(BaseModel):
    question: str
    total_duration: int
    steps: list[dict[str, Any]]


class AskResult(BaseModel):
    interaction_id: str
    answer_id: str
    question_hash: str
    source: Literal["cache", "database", "near", "generated"]
    answer: AnswerDocumentOut
    credits_remaining: int
    daily_remaining: int


class SimilarQuestion(BaseModel):
    question: str
    question_hash: str
    similarity: float


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int | None = Field(default=None, ge=1, le=5)
    understood: bool | None = None
    seen_in_exam: bool | None = None
    interaction_id: str | None = Field(
        default=None,
        description="Which time the answer was seen; default the latest",
        json_schema_extra={"format": "uuid"},
    )

    @field_validator("interaction_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is not None:
            uuid.UUID(value)
        return value


class FeedbackResult(BaseModel):
    interaction_id: str
    rating: int | None
    understood: bool | None
    seen_in_exam: bool
    helpful_votes: int
    total_votes: int
