"""Study session payloads."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")

SessionType = Literal["practice", "exam", "review"]


class SessionStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_type: SessionType = "practice"
    subject: str | None = Field(default=None, max_length=60, description="Optional focus")


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    before: datetime | None = Field(default=None, description="`started_at` of the last item")

    @field_validator("before", mode="before")
    @classmethod
    def _iso(cls, value: object) -> object:
        if isinstance(value, str) and not ISO_DATETIME.match(value):
            raise ValueError("must be an ISO 8601 date-time, e.g. 2026-05-01T10:00:00Z")
        return value


class StudySessionOut(BaseModel):
    id: str
    session_type: str
    status: str
    questions_asked: int
    questions_answered: int
    correct_answers: int
    total_duration_seconds: int
    started_at: datetime
    ended_at: datetime | None
    metadata: dict[str, Any]


class SessionHistory(BaseModel):
    items: list[StudySessionOut]
    next_before: datetime | None


class SubjectStats(BaseModel):
    subject: str
    total_practiced: int
    total_correct: int
    accuracy: float = Field(description="total_correct / total_practiced, 0 when none")
    mastery_level: float
    streak_days: int
    last_practice_at: datetime | None


def session_out(row: dict[str, Any]) -> StudySessionOut:
    return StudySessionOut.model_validate({**row, "id": str(row["id"])})
