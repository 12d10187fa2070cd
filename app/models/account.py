"""Account payloads: what `/auth/me` returns and what a student may change."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from app.models import VISIBLE

LearningLevel = Literal["basic", "medium", "advanced"]
TIME_ZONES: list[JsonValue] = list(sorted(available_timezones()))
Language = Literal["es", "en", "pt"]


class DevSignIn(BaseModel):
    """POST /auth/dev-token (local auth only): the local student to sign in as."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    full_name: str | None = Field(default=None, min_length=1, max_length=100, pattern=VISIBLE)


class DevToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth word, not a secret
    expires_in: int
    expires_at: int


class ProfileUpdate(BaseModel):
    """PATCH /auth/me: only presentation and study preferences, never credits or plan."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    full_name: str | None = Field(default=None, min_length=1, max_length=100, pattern=VISIBLE)
    preferred_language: Language | None = None
    learning_level: LearningLevel | None = None
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        examples=["America/Mexico_City"],
        json_schema_extra={"enum": TIME_ZONES},
    )

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown time zone (use an IANA name like America/Bogota)") from exc
        return value

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude_none=True)


class PlanInfo(BaseModel):
    name: str
    monthly_credits: int
    daily_limit: int
    features: dict[str, Any]


class CreditsInfo(BaseModel):
    remaining: int
    total: int
    resets_at: datetime = Field(description="When the monthly allotment is renewed")


class DailyLimitInfo(BaseModel):
    limit: int
    used: int
    remaining: int
    resets_at: datetime = Field(description="The student's next midnight")


class SubjectProgress(BaseModel):
    subject: str
    total_practiced: int
    total_correct: int
    mastery_level: float
    streak_days: int
    last_practice_at: datetime | None


class ProfileInfo(BaseModel):
    id: str
    email: str | None
    full_name: str | None
    avatar_url: str | None
    preferred_language: str
    learning_level: str
    time_zone: str
    created_at: datetime


class MeResponse(BaseModel):
    profile: ProfileInfo
    plan: PlanInfo
    credits: CreditsInfo
    daily: DailyLimitInfo
    progress: list[SubjectProgress]


class SpendReceipt(BaseModel):
    usage_id: str
    credits_remaining: int
    daily_remaining: int
    day: date
