"""Streaming a lesson (the seed's StreamingService): one greenlet per live explanation, at most one
per session. Each step is sent as `step_start`, typewriter `content_chunk`s at a steady cadence,
`canvas_command`s when the text reaches their `at` offset, and `step_complete`; then
`explanation_complete` and a feedback request.

The position (step, character) is written to the session as the lesson advances, so a pause, a
disconnect or a move to another server process resumes at the same character: nothing repeated,
nothing skipped, no drawing sent twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.errors import AppError, InvalidInput
from app.repositories.session_repo import SessionRepository
from app.services.question_service import StoredAnswer
from app.services.session_service import SessionService
from app.utils.chunking import commands_due, split_into_chunks

log = logging.getLogger(__name__)


class LessonRuntime(Protocol):
    """How lessons reach students and run concurrently (Socket.IO provides it)."""

    def emit_to_session(self, session_id: str, event: str, payload: dict[str, Any]) -> None: ...

    def spawn(self, target: Callable[..., Any], *args: Any) -> Any: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass
class LiveLesson:
    """Process-local control of one streaming greenlet."""

    explanation_id: str
    pause_requested: bool = False
    cancelled: bool = False
    finished: bool = False
    on_complete: Callable[[], None] | None = field(default=None, repr=False)


class StreamingService:
    def __init__(
        self,
        *,
        sessions: SessionService,
        session_repo: SessionRepository,
        runtime: LessonRuntime,
        chunk_interval: float,
        chunk_chars: int,
    ):
        self.sessions = sessions
        self.session_repo = session_repo  # lesson events and their replay stream
        self.runtime = runtime
        self.chunk_interval = chunk_interval
        self.chunk_chars = chunk_chars
        self._live: dict[str, LiveLesson] = {}

    # -- control --------------------------------------------------------------------------
    def start(
        self,
        session_id: str,
        answer: StoredAnswer,
        *,
        interaction_id: str | None = None,
        on_complete: Callable[[], None] | None = None,
    ) -> str:
        """A new lesson for the session; any lesson it was watching stops first."""
        explanation_id = str(uuid.uuid4())
        lesson = self._claim(session_id, explanation_id, on_complete)
        self.sessions.update_session(
            session_id,
            {
                "current_question": answer.question_hash,
                "current_step": 0,
                "pause_position": 0,
                "is_paused": False,
                "is_streaming": True,
                "conversation_context": {
                    "explanation_id": explanation_id,
                    "answer_id": answer.answer_id,
                    "interaction_id": interaction_id,
                },
            },
        )
        self.runtime.spawn(self._run, session_id, answer, lesson, 0, 0, True)
        return explanation_id

    def pause(self, session_id: str) -> None:
        state = self.sessions.get_session(session_id)
        lesson = self._live.get(session_id)  # read after the I/O: the lesson live now
        if state is None or not state.is_streaming or state.is_paused:
            raise InvalidInput("No hay ninguna explicación en curso que pausar.")
        if lesson is not None and not lesson.finished:
            lesson.pause_requested = True  # the greenlet stops before its next chunk
        else:  # streaming elsewhere (a process that died): just record the pause
            self._paused(session_id, state.current_step, state.pause_position)

    def resume(self, session_id: str, answer_for: Callable[[str], StoredAnswer | None]) -> None:
        state = self.sessions.get_session(session_id)
        if (
            state is None
            or not state.current_question
            or not (state.is_paused or (state.is_streaming and session_id not in self._live))
        ):
            raise InvalidInput("No hay ninguna explicación en pausa que continuar.")
        answer = answer_for(state.current_question)
        context = state.conversation_context or {}
        if answer is None or not context.get("explanation_id"):
            raise InvalidInput("La explicación en pausa ya no está disponible.")
        lesson = self._claim(session_id, context["explanation_id"], None)
        self.sessions.update_session(session_id, {"is_paused": False, "is_streaming": True})
        self._emit(
            session_id,
            "explanation_resumed",
            {
                "explanation_id": context["explanation_id"],
                "step_number": state.current_step + 1,
                "position": state.pause_position,
            },
        )
        self.runtime.spawn(
            self._run, session_id, answer, lesson, state.current_step, state.pause_position, False
        )

    def stop(self, session_id: str) -> None:
        """The student ends the lesson: nothing more is sent and there is nothing to resume."""
        state = self.sessions.get_session(session_id)
        context = (state.conversation_context if state else None) or {}
        if state is None or not (state.is_streaming or state.is_paused):
            raise InvalidInput("No hay ninguna explicación que detener.")
        self.cancel(session_id)
        self.sessions.update_session(session_id, {"is_streaming": False, "is_paused": False})
        self._emit(
            session_id,
            "explanation_stopped",
            {
                "explanation_id": context.get("explanation_id"),
                "step_number": state.current_step + 1,
                "position": state.pause_position,
            },
        )

    def lesson_of(self, session_id: str) -> dict[str, Any]:
        """The answer and interaction of the session's latest lesson (for its feedback)."""
        state = self.sessions.get_session(session_id)
        context = (state.conversation_context if state else None) or {}
        if not context.get("answer_id") or not context.get("interaction_id"):
            raise InvalidInput("No hay ninguna explicación sobre la que opinar.")
        return context

    def suspend(self, session_id: str) -> None:
        """The student's socket went away: stop at the next chunk, keeping the position."""
        lesson = self._live.get(session_id)
        if lesson is not None and not lesson.finished:
            lesson.pause_requested = True

    def stop_all(self) -> None:
        """The process is stopping: every lesson stops at its next chunk. Their positions are
        already in their sessions, so the students resume on another process."""
        for lesson in self._live.values():
            lesson.cancelled = True
        self._live.clear()

    def cancel(self, session_id: str) -> None:
        lesson = self._live.pop(session_id, None)
        if lesson is not None:
            lesson.cancelled = True

    # -- the greenlet ---------------------------------------------------------------------
    def _claim(
        self, session_id: str, explanation_id: str, on_complete: Callable[[], None] | None
    ) -> LiveLesson:
        """Register the session's new lesson and cancel the previous one, with no I/O in
        between: two events racing (a double click) leave exactly one lesson streaming."""
        lesson = LiveLesson(explanation_id=explanation_id, on_complete=on_complete)
        previous = self._live.get(session_id)
        self._live[session_id] = lesson
        if previous is not None:
            previous.cancelled = True
        return lesson

    def _run(
        self,
        session_id: str,
        answer: StoredAnswer,
        lesson: LiveLesson,
        first_step: int,
        first_position: int,
        fresh: bool,
    ) -> None:
        try:
            self._stream(session_id, answer, lesson, first_step, first_position, fresh)
        except AppError as exc:
            log.warning("lesson %s stopped: %s", lesson.explanation_id, exc)
            self._emit(session_id, "error", exc.to_payload())
        except Exception:
            log.exception("lesson %s failed", lesson.explanation_id)
            self._emit(session_id, "error", AppError().to_payload())
        finally:
            lesson.finished = True
            if self._live.get(session_id) is lesson:
                self._live.pop(session_id, None)

    def _stream(
        self,
        session_id: str,
        answer: StoredAnswer,
        lesson: LiveLesson,
        first_step: int,
        first_position: int,
        fresh: bool,
    ) -> None:
        steps = answer.steps
        started = time.monotonic()
        if lesson.cancelled:  # replaced before it began
            return
        if fresh:
            self._emit(
                session_id,
                "explanation_start",
                {
                    "explanation_id": lesson.explanation_id,
                    "total_steps": len(steps),
                    "estimated_duration": answer.total_duration,
                    "question_hash": answer.question_hash,
                    "answer_id": answer.answer_id,
                },
            )
        for index in range(first_step, len(steps)):
            step = steps[index]
            number = index + 1
            content = step.get("content", "")
            canvas = step.get("canvas") or []
            resume_at = first_position if index == first_step else 0
            if lesson.cancelled:
                return
            if resume_at == 0 and lesson.pause_requested:
                self._paused(session_id, index, 0, lesson)  # the step is announced on resume
                return
            if resume_at == 0:
                self._emit(
                    session_id,
                    "step_start",
                    {
                        "explanation_id": lesson.explanation_id,
                        "step_number": number,
                        "title": step.get("title", ""),
                        "content_type": step.get("content_type", "text"),
                        "has_visual": bool(canvas),
                    },
                )
            step_started = tick = time.monotonic()
            ats = [int(command.get("at", 0)) for command in canvas]
            chunks = [c for c in split_into_chunks(content, self.chunk_chars) if c.end > resume_at]
            for position, chunk in enumerate(chunks):
                if lesson.cancelled:
                    return
                # (Not before a step's first chunk: its step_start has just been sent, and a
                # resume at offset 0 would announce the step again.)
                if lesson.pause_requested and chunk.start > resume_at:
                    self._paused(session_id, index, chunk.start, lesson)
                    return
                # The position is saved with the chunk's last event, in the same round trip:
                # a resume after it neither repeats nor skips text or drawings.
                saved = {"current_step": index, "pause_position": chunk.end}
                due = commands_due(chunk, ats)
                self._emit(
                    session_id,
                    "content_chunk",
                    {
                        "explanation_id": lesson.explanation_id,
                        "step_number": number,
                        "chunk": chunk.text,
                        "position": chunk.end,
                        "is_final": position == len(chunks) - 1,
                    },
                    session_fields=None if due else saved,
                )
                for order, command_index in enumerate(due):
                    self._emit(
                        session_id,
                        "canvas_command",
                        {
                            "explanation_id": lesson.explanation_id,
                            "step_number": number,
                            "command": canvas[command_index],
                        },
                        session_fields=saved if order == len(due) - 1 else None,
                    )
                # A steady cadence: sleep to the next tick, so the time spent sending does not
                # add up; after a stall, carry on from now rather than bursting to catch up.
                tick += self.chunk_interval
                now = time.monotonic()
                if tick < now - self.chunk_interval:
                    tick = now
                self.runtime.sleep(max(0.0, tick - now))
            if lesson.cancelled:
                return
            self._emit(
                session_id,
                "step_complete",
                {
                    "explanation_id": lesson.explanation_id,
                    "step_number": number,
                    "duration_actual": int((time.monotonic() - step_started) * 1000),
                },
            )
            if index + 1 < len(steps):
                self.sessions.update_session(
                    session_id, {"current_step": index + 1, "pause_position": 0}
                )
        self.sessions.update_session(session_id, {"is_streaming": False, "is_paused": False})
        if lesson.on_complete is not None:  # recorded before the student is told it is done
            lesson.on_complete()
        self._emit(
            session_id,
            "explanation_complete",
            {
                "explanation_id": lesson.explanation_id,
                "total_duration": int((time.monotonic() - started) * 1000),
                "steps_completed": len(steps),
            },
        )
        self._emit(
            session_id,
            "feedback_request",
            {
                "explanation_id": lesson.explanation_id,
                "answer_id": answer.answer_id,
            },
        )

    # -- helpers --------------------------------------------------------------------------
    def _paused(self, session_id, step_index, position, lesson: LiveLesson | None = None) -> None:
        self.sessions.update_session(
            session_id,
            {
                "current_step": step_index,
                "pause_position": position,
                "is_paused": True,
                "is_streaming": False,
            },
        )
        state = self.session_repo.get_session(session_id)
        context = state.conversation_context if state else {}
        self._emit(
            session_id,
            "explanation_paused",
            {
                "explanation_id": (
                    lesson.explanation_id if lesson else context.get("explanation_id")
                ),
                "step_number": step_index + 1,
                "position": position,
            },
        )

    def _emit(
        self,
        session_id: str,
        event: str,
        payload: dict[str, Any],
        session_fields: dict[str, Any] | None = None,
    ) -> None:
        payload["seq"] = self.session_repo.record_lesson_event(
            session_id, event, payload, session_fields
        )
        self.runtime.emit_to_session(session_id, event, payload)

    def missed_events(self, session_id: str, last_seq: int) -> list[tuple[str, dict[str, Any]]]:
        """What a client that saw events up to `last_seq` missed (kept for the session's TTL)."""
        return self.session_repo.lesson_events_after(session_id, last_seq)
