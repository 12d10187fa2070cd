"""Voice questions: the recording state kept in Redis as `voice_state:{session_id}` (the seed's
section 5, with what the flow adds), the Socket.IO payloads, and the transcription shown to the
student for confirmation."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.models.ask import HAS_LETTER_OR_DIGIT
from app.models.session import utcnow_iso

VOICE_STATE_TTL_SECONDS = 300
MAX_RECORDING_SECONDS = 60
# A recording stopped by the client's one-minute timer may run a frame or two past it.
RECORDING_GRACE_SECONDS = 0.5
MAX_VOICE_CHUNKS = 1_200  # a minute in pieces of 50 ms
TranscriptSource = Literal["browser", "server"]


class VoiceState(BaseModel):
    # The seed's fields.
    is_recording: bool = False
    start_time: str = Field(default_factory=utcnow_iso)
    chunks_received: int = Field(default=0, ge=0)
    # Added: the recording's identity (a newer voice_start replaces it), the audio received
    # so far, what the recording did to the lesson, and the transcription awaiting confirmation.
    recording_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    bytes_received: int = Field(default=0, ge=0)
    paused_lesson: bool = False  # this recording paused a streaming lesson: cancel resumes it
    interrupts_lesson: bool = False  # a lesson was on: the question asked interrupts it
    transcription: str | None = None
    confidence: float | None = None
    source: TranscriptSource | None = None
    duration_ms: int | None = None


# -- Socket.IO payloads ------------------------------------------------------------------------
class VoiceStartIn(BaseModel):
    """The seed's `voice_start {session_id}`; the socket's own session is the one used."""

    model_config = ConfigDict(extra="ignore")

    session_id: str | None = Field(default=None, max_length=64)


class VoiceChunkIn(BaseModel):
    """A piece of a long recording, in order: `index` 0, 1, 2... (a piece sent twice after a
    network blip is acknowledged and not kept twice)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    index: int = Field(ge=0, le=MAX_VOICE_CHUNKS)
    audio_data: str = Field(min_length=1, description="base64 (a data URL is accepted)")
    recording_id: str | None = Field(
        default=None, max_length=64, description="voice_recording_started's, to be sure"
    )


class VoiceCompleteIn(BaseModel):
    """The end of the recording: the browser's own transcript (Web Speech API), or the audio
    (in `audio_data`, after any `voice_chunk`s) for the server to transcribe."""

    model_config = ConfigDict(extra="forbid")

    transcript: str | None = Field(default=None, max_length=20_000)
    confidence: float | None = Field(default=None, ge=0, le=1)
    audio_data: str | None = Field(default=None, description="base64 (a data URL is accepted)")
    duration: int | None = Field(default=None, ge=0, le=3_600_000, description="ms, advisory")
    mime_type: str | None = Field(default=None, max_length=200, description="advisory")
    recording_id: str | None = Field(
        default=None, max_length=64, description="voice_recording_started's, to be sure"
    )

    @model_validator(mode="after")
    def _one_source(self) -> VoiceCompleteIn:
        if self.transcript is not None and self.audio_data is not None:
            raise ValueError("send either transcript or audio_data, not both")
        return self


class VoiceConfirmIn(BaseModel):
    """The transcription as the student confirms it (possibly edited): asked as a question."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    transcription: str = Field(min_length=1, max_length=20_000, pattern=HAS_LETTER_OR_DIGIT)


class VoiceCancelIn(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- results -----------------------------------------------------------------------------------
class VoiceStarted(BaseModel):
    session_id: str
    recording_id: str
    max_duration_ms: int
    max_audio_bytes: int
    max_chunk_bytes: int  # audio bytes one message can carry in base64
    lesson_paused: bool


class ChunkReceived(BaseModel):
    index: int
    chunks_received: int
    bytes_received: int


class TranscriptionResult(BaseModel):
    """The seed's `voice_transcription_result`, plus where it came from and, for audio the
    server transcribed, how long it was."""

    transcription: str
    confidence: float | None
    requires_confirmation: bool
    source: TranscriptSource
    duration_ms: int | None = None
