"""Questions asked by voice (the seed's VoiceService).

`voice_start` pauses the lesson (as a pause would) and opens a recording in Redis
(`voice_state:{session_id}`, 5 minutes); long recordings arrive in pieces (`voice_chunk`), kept
in Redis beside the state, never on one process's disk. `voice_complete` brings either the
browser's own transcript (Web Speech API), checked and echoed back, or the audio, which is
decoded, measured from its own bytes (60 seconds at most) and transcribed in Spanish by the AI
service, metered as a `voice` use of credits. The student confirms the transcription (possibly
edited), which asks it as a `voice` question through the usual pipeline, interrupting the
lesson that was on; or cancels, which resumes the lesson the recording paused.

Anything wrong (no recording, an expired one, audio that is too long, too large, empty, not
audio, not base64) is a clear INVALID_INPUT with `details.reason`; the recording and the paused
lesson are left as they were, so the student can try again or cancel.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from app.auth.verifier import Principal
from app.errors import AiUnavailable, AppError, InvalidInput, RateLimitExceeded
from app.models.ask import AskRequest
from app.models.voice import (
    MAX_RECORDING_SECONDS,
    MAX_VOICE_CHUNKS,
    RECORDING_GRACE_SECONDS,
    ChunkReceived,
    TranscriptionResult,
    VoiceCompleteIn,
    VoiceStarted,
    VoiceState,
)
from app.repositories.base import DbConnection
from app.repositories.session_repo import SessionRepository
from app.services.account_service import AccountService
from app.services.ai_service import AIService
from app.services.credit_service import CreditService
from app.services.lesson_service import LessonService
from app.services.session_locks import SessionLocks
from app.services.streaming_service import StreamingService
from app.utils.audio import AudioError, AudioInfo, decode_base64, probe

log = logging.getLogger(__name__)

# When every recording slot is taken, how long before a student tries again.
OPEN_RECORDINGS_RETRY_SECONDS = 30
MESSAGE_ENVELOPE_BYTES = 200  # a voice_chunk's event name, index and JSON around its audio
NO_RECORDING = (
    "No hay ninguna grabación en curso (no empezó o pasaron más de 5 minutos). "
    "Pulsa el micrófono para grabar de nuevo."
)
_AUDIO_MESSAGES = {
    "invalid_base64": "El audio no llegó bien codificado (base64). Graba de nuevo.",
    "empty_audio": "La grabación está vacía. Mantén pulsado el micrófono mientras hablas.",
    "not_audio": "Lo que llegó no es una grabación de audio. Graba de nuevo.",
    "unsupported_format": (
        "No podemos leer ese formato de audio. Usa WebM, Ogg, WAV o MP3, o escribe tu pregunta."
    ),
}
REPLACED = "Esa grabación fue reemplazada por una más reciente."
NO_SPEECH = "No te escuchamos bien. Graba de nuevo hablando cerca del micrófono."
TRANSCRIPTION_UNAVAILABLE = (
    "No podemos transcribir tu audio ahora. Escribe tu pregunta o inténtalo en un momento."
)


def _measure(audio: bytes, limit: float) -> AudioInfo | AudioError:
    """`probe`, its refusal returned rather than raised (run in gevent's thread pool, which
    prints every exception raised there as a crash)."""
    try:
        return probe(audio, max_seconds=limit)
    except AudioError as exc:
        return exc


def _refused(reason: str, message: str, **details: object) -> InvalidInput:
    return InvalidInput(message, details={"reason": reason, **details})


class VoiceService:
    def __init__(
        self,
        *,
        recordings: SessionRepository,
        streaming: StreamingService,
        lessons: LessonService,
        ai: AIService,
        credits: CreditService,
        accounts: AccountService,
        max_audio_bytes: int,
        max_message_bytes: int,
        confidence_threshold: float,
        transcription_credits: int,
        rate_limit: int,
        rate_window: int,
        run_blocking: Callable[..., Any] = lambda function, *args: function(*args),
        max_open_recordings: int = 500,
    ):
        self.recordings = recordings
        self.max_open_recordings = max_open_recordings
        self.streaming = streaming
        self.lessons = lessons
        self.ai = ai
        self.credits = credits
        self.accounts = accounts
        self.max_audio_bytes = max_audio_bytes
        # A message larger than this closes the connection: a piece's base64 and its envelope
        # must fit in it.
        self.max_chunk_bytes = (max_message_bytes - MESSAGE_ENVELOPE_BYTES) * 3 // 4
        self.confidence_threshold = confidence_threshold
        self.transcription_credits = transcription_credits
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.run_blocking = run_blocking
        # A student's voice events are handled on greenlets of their own; they take effect in
        # the order they arrived (a piece before the completion that follows it).
        self._order = SessionLocks()

    # -- recording ----------------------------------------------------------------------
    def start(self, session_id: str) -> VoiceStarted:
        """Open a recording (replacing one the student abandoned), pausing the lesson."""
        with self._order.held(session_id):
            session = self.recordings.get_session(session_id)
            if session is None:
                raise InvalidInput("Tu sesión expiró. Vuelve a conectarte.")
            if self.recordings.open_recordings() >= self.max_open_recordings:
                raise self._too_many_recordings()  # (before the lesson is paused for nothing)
            paused, lesson_on = self.streaming.hold(session_id)
            before = self.recordings.get_voice_state(session_id)
            state = VoiceState(
                is_recording=True,
                # A recording started again keeps what the first one did to the lesson.
                paused_lesson=paused or bool(before and before.paused_lesson),
                interrupts_lesson=lesson_on or bool(before and before.interrupts_lesson),
            )
            # One recording per student (one in another tab is dropped), and a bound on all.
            opened, _ = self.recordings.start_recording(
                session_id, state, user_id=session.user_id, max_open=self.max_open_recordings
            )
        if not opened:  # (taken meanwhile by another student)
            if paused:
                with contextlib.suppress(AppError):
                    self.streaming.resume(session_id)  # the lesson it paused goes on
            raise self._too_many_recordings()
        return VoiceStarted(
            session_id=session_id,
            recording_id=state.recording_id,
            max_duration_ms=MAX_RECORDING_SECONDS * 1000,
            max_audio_bytes=self.max_audio_bytes,
            max_chunk_bytes=self.max_chunk_bytes,
            lesson_paused=state.paused_lesson,
        )

    def add_chunk(
        self, session_id: str, *, index: int, audio_data: str, recording_id: str | None = None
    ) -> ChunkReceived:
        """Keep the next piece of the recording (of `recording_id`'s, when given)."""
        try:
            piece = decode_base64(audio_data)
        except AudioError as exc:
            raise _refused(exc.reason, _AUDIO_MESSAGES[exc.reason]) from None
        with self._order.held(session_id):
            outcome, received, total = self.recordings.add_voice_chunk(
                session_id,
                index,
                # Kept as plain base64 of what is counted (no padding of spaces or prefixes).
                base64.b64encode(piece).decode(),
                size=len(piece),
                max_bytes=self.max_audio_bytes,
                max_chunks=MAX_VOICE_CHUNKS,
                recording_id=recording_id,
            )
        if outcome in ("ok", "duplicate"):
            return ChunkReceived(index=index, chunks_received=received, bytes_received=total)
        if outcome == "gap":
            raise _refused(
                "missing_chunk",
                f"Falta el fragmento {received} de la grabación: envíalo antes del {index}.",
                expected_index=received,
            )
        if outcome in ("too_large", "too_many"):
            raise self._too_large()
        if outcome == "not_recording":
            raise _refused("transcribing", "La grabación ya terminó; espera su transcripción.")
        if outcome == "replaced":
            raise _refused("replaced", REPLACED)
        raise _refused("no_recording", NO_RECORDING)

    # -- transcription --------------------------------------------------------------------
    def complete(
        self, principal: Principal, session_id: str, body: VoiceCompleteIn
    ) -> TranscriptionResult | None:
        """The recording's transcription, for the student to confirm: the browser's own, or
        the audio's, transcribed here. Asked again, the same result (nothing paid twice).
        None when the student cancelled the recording while it was transcribed."""
        with self._order.held(session_id):
            state = self.recordings.get_voice_state(session_id)
            if state is None:
                raise _refused("no_recording", NO_RECORDING)
            if body.recording_id is not None and body.recording_id != state.recording_id:
                raise _refused("replaced", REPLACED)
            if not state.is_recording:
                if state.transcription is not None:
                    return self._result(state)
                raise _refused("transcribing", "Ya estamos transcribiendo tu grabación.")
            if body.transcript is not None:
                return self._keep_browser_transcript(session_id, state, body)
            audio, info = self._recorded_audio(session_id, state, body)
            self.credits.check_can_spend(principal.user_id)  # no paid call for an unusable ask
            self._check_rate(principal.user_id)
            if not self.recordings.update_recording(
                session_id, state.recording_id, {"is_recording": False}, while_recording=True
            ):
                raise _refused("no_recording", NO_RECORDING)
        return self._transcribe(principal, session_id, state, audio, info)

    def _keep_browser_transcript(
        self, session_id: str, state: VoiceState, body: VoiceCompleteIn
    ) -> TranscriptionResult:
        text = " ".join((body.transcript or "").split())
        if not text:
            raise _refused("no_speech", NO_SPEECH)
        result = self._transcription(text, body.confidence, "browser")
        self._save(session_id, state, result)
        return result

    def _recorded_audio(
        self, session_id: str, state: VoiceState, body: VoiceCompleteIn
    ) -> tuple[bytes, AudioInfo]:
        """The recording's bytes (its pieces, then `audio_data`), checked: size, format from
        the bytes themselves, duration as played. A recording refused is discarded (the
        student records again): it is not read twice."""
        limit = MAX_RECORDING_SECONDS + RECORDING_GRACE_SECONDS
        try:
            if body.duration is not None and body.duration > limit * 1000:
                raise self._too_long()
            pieces = self.recordings.voice_audio(session_id)
            if body.audio_data is not None:
                pieces.append(body.audio_data)
            try:
                audio = b"".join(decode_base64(piece) for piece in pieces)
                if len(audio) > self.max_audio_bytes:
                    raise self._too_large()
                # Up to a few tens of milliseconds of parsing: off the greenlets' thread.
                info = self.run_blocking(_measure, audio, limit)
                if isinstance(info, AudioError):
                    raise info
            except AudioError as exc:
                raise _refused(exc.reason, _AUDIO_MESSAGES[exc.reason]) from None
            if info.duration > limit:
                raise self._too_long()
        except InvalidInput:
            self._record_again(session_id, state.recording_id)
            raise
        if body.duration is not None and abs(body.duration / 1000 - info.duration) > 2:
            log.info(
                "a recording said to last %.1f s lasts %.1f s", body.duration / 1000, info.duration
            )
        return audio, info

    def _record_again(self, session_id: str, recording_id: str) -> None:
        """The recording starts over, empty (the lesson stays paused)."""
        self.recordings.update_recording(
            session_id,
            recording_id,
            {"is_recording": True, "chunks_received": 0, "bytes_received": 0},
            drop_audio=True,
        )

    def _check_rate(self, user_id: str) -> None:
        count, seconds_left = self.recordings.count_transcription(user_id, self.rate_window)
        if count > self.rate_limit:
            raise RateLimitExceeded(
                "Demasiadas grabaciones seguidas. Espera un momento.",
                retry_after=max(1, seconds_left),
            )

    def _transcribe(
        self,
        principal: Principal,
        session_id: str,
        state: VoiceState,
        audio: bytes,
        info: AudioInfo,
    ) -> TranscriptionResult | None:
        """Transcribe outside the session's lock (it takes seconds); a recording started again
        meanwhile wins, and this result is dropped."""
        recording_id = state.recording_id
        try:
            heard = self.ai.transcribe(audio, filename=info.filename, mime_type=info.mime_type)
        except Exception as exc:
            # The recording's pieces are kept: the student may send it again, or cancel.
            self.recordings.update_recording(session_id, recording_id, {"is_recording": True})
            if isinstance(exc, AiUnavailable):
                exc.message = TRANSCRIPTION_UNAVAILABLE
            raise
        self._meter(principal, info, heard.model, bool(heard.text))
        if not heard.text:  # silence: the student records again, or cancels
            self._record_again(session_id, recording_id)
            raise _refused("no_speech", NO_SPEECH)
        result = self._transcription(heard.text, heard.confidence, "server")
        result.duration_ms = round(info.duration * 1000)
        if not self._save(session_id, state, result):
            if self.recordings.get_voice_state(session_id) is None:
                return None  # cancelled meanwhile (or expired): nothing to show
            raise _refused("replaced", REPLACED)
        return result

    def _meter(self, principal: Principal, info: AudioInfo, model: str, charged: bool) -> None:
        """A `voice` use in credit_usage (a transcription that heard nothing costs nothing).
        The transcription is the student's even if the record fails: that is logged."""

        def provision(conn: DbConnection) -> object:
            return self.accounts.ensure_profile(conn, principal)

        try:
            self.credits.meter_voice(
                user_id=principal.user_id,
                credits=self.transcription_credits if charged else 0,
                details={
                    "model": model,
                    "format": info.container,
                    "codec": info.codec,
                    "duration_ms": round(info.duration * 1000),
                    "bytes": info.size,
                },
                provision=provision,
            )
        except Exception:
            log.exception("voice use of %s not metered", principal.user_id)

    def _transcription(
        self, text: str, confidence: float | None, source: str
    ) -> TranscriptionResult:
        return TranscriptionResult(
            transcription=text,
            confidence=confidence,
            requires_confirmation=confidence is None or confidence < self.confidence_threshold,
            source=source,  # type: ignore[arg-type]
        )

    def _save(self, session_id: str, state: VoiceState, result: TranscriptionResult) -> bool:
        """The transcription awaits confirmation (5 more minutes); the audio is dropped."""
        return self.recordings.update_recording(
            session_id,
            state.recording_id,
            {
                "is_recording": False,
                "transcription": result.transcription,
                "confidence": result.confidence,
                "source": result.source,
                "duration_ms": result.duration_ms,
            },
            renew=True,
            drop_audio=True,
        )

    def _result(self, state: VoiceState) -> TranscriptionResult:
        assert state.transcription is not None and state.source is not None
        result = self._transcription(state.transcription, state.confidence, state.source)
        result.duration_ms = state.duration_ms
        return result

    # -- confirmation ----------------------------------------------------------------------
    def confirm(
        self,
        principal: Principal,
        session_id: str,
        *,
        transcription: str,
        waiting: Callable[[str], None],
    ) -> str:
        """Ask the confirmed transcription as a `voice` question; its explanation id. If the
        question cannot be asked (a limit, no credits) the transcription stays to confirm."""
        request = AskRequest(question=transcription, question_type="voice")
        with self._order.held(session_id):
            state = self.recordings.get_voice_state(session_id)
            if state is None or state.transcription is None:
                raise _refused("no_transcription", "No hay ninguna transcripción que confirmar.")
            self.recordings.delete_voice_state(session_id)
        try:
            return self.lessons.ask(
                principal,
                request,
                session_id=session_id,
                follow_up=state.interrupts_lesson,
                waiting=waiting,
            )
        except AppError:
            self.recordings.restore_voice_state(session_id, state)
            raise

    def cancel(self, session_id: str) -> bool:
        """Drop the recording; the lesson it paused goes on. True when it did."""
        with self._order.held(session_id):
            state = self.recordings.get_voice_state(session_id)
            self.recordings.delete_voice_state(session_id)
        if state is None or not state.paused_lesson:
            return False
        try:
            self.streaming.resume(session_id)
        except InvalidInput:
            return False  # (it ended, or the student resumed it meanwhile)
        return True

    # -- limits ---------------------------------------------------------------------------
    @staticmethod
    def _too_many_recordings() -> RateLimitExceeded:
        return RateLimitExceeded(
            "Hay muchas preguntas por voz en curso ahora mismo. Escribe tu pregunta o "
            "vuelve a intentarlo en un momento.",
            retry_after=OPEN_RECORDINGS_RETRY_SECONDS,
        )

    def _too_long(self) -> InvalidInput:
        return _refused(
            "too_long",
            f"La grabación dura más de {MAX_RECORDING_SECONDS} segundos. Haz una pregunta más "
            "corta.",
            max_duration_ms=MAX_RECORDING_SECONDS * 1000,
        )

    def _too_large(self) -> InvalidInput:
        megabytes = self.max_audio_bytes / 1_048_576
        return _refused(
            "too_large",
            f"La grabación es demasiado grande (máximo {megabytes:.0f} MB).",
            max_audio_bytes=self.max_audio_bytes,
        )
