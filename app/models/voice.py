"""Voice recording state kept in Redis as `voice_state:{session_id}` (the seed's section 5)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.models.session import utcnow_iso

VOICE_STATE_TTL_SECONDS = 300
MAX_RECORDING_SECONDS = 60


class VoiceState(BaseModel):
    is_recording: bool = False
    start_time: str = Field(default_factory=utcnow_iso)
    chunks_received: int = Field(default=0, ge=0)
