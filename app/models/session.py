"""Live session state kept in Redis as `session:{session_id}` (the seed's section 5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

SESSION_TTL_SECONDS = 1800


def utcnow_iso() -> str:
    return datetime.now(UTC).isoformat()


class SessionState(BaseModel):
    user_id: str
    connection_id: str | None = None
    current_question: str | None = None
    current_step: int = Field(default=0, ge=0)
    pause_position: int = Field(default=0, ge=0)
    is_paused: bool = False
    is_streaming: bool = False
    conversation_context: dict[str, Any] = Field(default_factory=dict)
    # The run of the lesson greenlet allowed to stream and save positions, and when it last did
    # (Redis time, seconds): a lesson whose run stopped beating can be resumed elsewhere.
    lesson_run: str | None = None
    lesson_beat: float = 0.0
    # During a follow-up question (an interruption): the lesson to go back to, as it was paused
    # {current_question, current_step, pause_position, conversation_context}.
    interrupted: dict[str, Any] | None = None
    # The lesson a `submit_feedback` or `step_feedback` is about once one has completed (the
    # follow-up's, while the lesson it interrupted waits paused).
    feedback_context: dict[str, Any] | None = None
    created_at: str = Field(default_factory=utcnow_iso)
    last_activity: str = Field(default_factory=utcnow_iso)
