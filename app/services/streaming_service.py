"""Streaming a lesson (the seed's StreamingService): one greenlet per live explanation, at most one
per session. Each step is sent as `step_start`, typewriter `content_chunk`s at a steady cadence,
`canvas_command`s when the text reaches their `at` offset, and `step_complete`; then
`explanation_complete` and a feedback request.

The position (step, character) is written to the session as the lesson advances, so a pause, a
disconnect or a move to another server process resumes at the same character: nothing repeated,
nothing skipped, no drawing sent twice.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from app.errors import AppError, GenerationFailed, InvalidInput, ServiceUnavailable
from app.metrics import LIVE_LESSONS
from app.models.session import SessionState, utcnow_iso
from app.repositories.session_repo import (
    LessonEvent,
    LessonRecord,
    RecordedEvents,
    SessionRepository,
)
from app.services.question_service import StoredAnswer
from app.services.session_locks import SessionLocks
from app.services.session_service import SessionService
from app.utils.chunking import chunks_of, commands_due
from app.utils.compact_json import dumps as compact_json
from app.utils.logs import bind as bind_log_ids

log = logging.getLogger(__name__)


class DraftSource(Protocol):
    """Where the steps of an answer still being written come from (the generation service)."""

    def wait_step(
        self, key: str, index: int, *, stop: Callable[[], bool] = ...
    ) -> dict[str, Any] | bool | None:
        """The step once written; None when the answer ended before it; False when `stop()`
        turned true first. Raises GenerationFailed."""
        ...

    def written_step(self, key: str, index: int) -> dict[str, Any] | None: ...

    def answer_id(self, key: str) -> str | None: ...

    def follow(self, key: str, watcher: str) -> None: ...

    def leave(self, key: str, watcher: str) -> None: ...


class LessonRuntime(Protocol):
    """How lessons reach students and run concurrently (Socket.IO provides it)."""

    def emit_to_session(
        self, session_id: str, event: str, data: str, *, connection_id: str | None
    ) -> None:
        """Send an event, its payload already JSON (`data`), to every socket of the session;
        `connection_id` is its current connection."""

    def spawn(self, target: Callable[..., Any], *args: Any) -> Any: ...

    def sleep(self, seconds: float) -> None: ...

    def event(self) -> Any:
        """An event (set/wait) that suspends only the calling lesson, not the process."""
        ...


# Lessons wake on a grid of this step (seconds), so the chunks due at about the same moment are
# recorded together, in one Redis round trip for many lessons.
TICK_GRID_SECONDS = 0.005

# A lesson whose greenlet has not recorded an event for this long (its process died or hangs) may
# be resumed by another greenlet, here or on another process.
LESSON_LEASE_SECONDS = 3.0
# How often a streaming lesson renews that lease (and its keys' TTLs) with the events it records.
LEASE_RENEWAL_SECONDS = 1.0
# How long a lesson waits for a store that is down for a moment (a failover, a restart) before
# it tells the student: to record its completion, or to leave it paused after an error.
STORE_RETRY_SECONDS = 10.0


@dataclass
class LiveLesson:
    """Process-local control of one streaming greenlet. `run` is its fencing token: the session
    names the one run allowed to send events and save positions."""

    session_id: str
    explanation_id: str
    run: str
    pause_requested: bool = False
    cancelled: bool = False
    finished: bool = False
    interaction_id: str | None = None
    answer_id: str | None = None
    last_seq: int = 0  # the last event this greenlet sent
    in_flight: _LessonRecord | None = None  # a chunk not yet known to be sent
    renewed_at: float = 0.0  # (monotonic) when its lease and TTLs were last renewed
    # A follow-up question's lesson: the lesson it interrupted, to go back to when it ends.
    parent: dict[str, Any] | None = None

    @property
    def context(self) -> dict[str, Any]:
        return {
            "explanation_id": self.explanation_id,
            "answer_id": self.answer_id,
            "interaction_id": self.interaction_id,
        }


@dataclass
class _LessonRecord:
    """A lesson's events (with their JSON) and position, on their way to Redis and the
    student; `outcome` once the round trip is over: sent, fenced out or failed."""

    lesson: LiveLesson
    events: list[Event]
    encoded: list[LessonEvent]
    fields: dict[str, Any] | None
    renew: bool
    outcome: bool | Exception | None = None
    done: Any = None  # its batch's event, set once the outcome is known

    def as_record(self) -> LessonRecord:
        lesson = self.lesson
        return (
            lesson.session_id,
            self.encoded,
            self.fields,
            {"lesson_run": lesson.run},
            self.renew,
        )


@dataclass
class _RecordBatch:
    """Lesson records waiting for the same round trip."""

    done: Any
    records: list[_LessonRecord] = field(default_factory=list)


Event = tuple[str, dict[str, Any]]


def _with_seq(data: str, seq: int) -> str:
    """A payload's JSON object with its `seq` added, without encoding it again."""
    return f'{data[:-1]},"seq":{seq}}}' if data != "{}" else f'{{"seq":{seq}}}'


ENDED = {"is_streaming": False, "is_paused": False, "lesson_run": None, "interrupted": None}
CONTINUE_MESSAGE = "¿Seguimos con la explicación anterior?"


class StreamingService:
    def __init__(
        self,
        *,
        sessions: SessionService,
        session_repo: SessionRepository,
        runtime: LessonRuntime,
        chunk_interval: float,
        chunk_chars: int,
        complete_interaction: Callable[[str, str | None], None] | None = None,
        refund_interaction: Callable[[str, str], None] | None = None,
        drafts: DraftSource | None = None,
    ):
        self.sessions = sessions
        self.complete_interaction = complete_interaction
        self.refund_interaction = refund_interaction
        self.drafts = drafts
        self.session_repo = session_repo  # lesson events, their replay stream, the lesson's run
        self.runtime = runtime
        self.chunk_interval = chunk_interval
        self.chunk_chars = chunk_chars
        self._runs: dict[str, LiveLesson] = {}  # live greenlets of this process by run id
        self._handing_off = False  # the process is stopping: lessons go to the other processes
        self._batch: _RecordBatch | None = None
        self._batch_lock = threading.Lock()
        # A student's playback events are handled concurrently (one greenlet each); they take
        # effect in the order they arrived, one at a time per session.
        self._order_locks = SessionLocks()
        # A session's events are recorded and sent one batch at a time, so they leave this
        # process in seq order (a takeover never overtakes a chunk recorded just before it).
        self._send_locks = SessionLocks()

    def _in_order(self, session_id: str) -> AbstractContextManager[None]:
        return self._order_locks.held(session_id)

    # -- control --------------------------------------------------------------------------
    def start(
        self,
        session_id: str,
        answer: StoredAnswer,
        *,
        interaction_id: str | None = None,
        follow_up: bool = False,
    ) -> str:
        """A new lesson for the session. Whatever lesson it was watching, on any process, is
        fenced out by the new run id and sends nothing more.

        Asked while a lesson streams (or, with `follow_up`, while one is paused), the new
        lesson is an interruption: the lesson it interrupts is paused at its character, and
        when the interruption ends the student is offered to go back to it."""
        lesson = LiveLesson(
            session_id=session_id,
            explanation_id=str(uuid.uuid4()),
            run=str(uuid.uuid4()),
            interaction_id=interaction_id,
            answer_id=answer.answer_id,
        )
        for _ in range(3):
            state = self.session_repo.get_session(session_id)  # (the start renews its TTL)
            if state is None:
                raise InvalidInput("Tu sesión expiró. Vuelve a conectarte.")
            live = state.is_streaming or (follow_up and state.is_paused)
            lesson.parent = state.interrupted or (
                self._snapshot(state) if live and state.current_question else None
            )
            keep = (
                [lesson.parent["conversation_context"]["explanation_id"]] if lesson.parent else []
            )
            self.session_repo.keep_lesson_document(
                session_id, lesson.explanation_id, asdict(answer), keep=keep
            )
            events: list[Event] = []
            if state.is_streaming and not state.interrupted and lesson.parent:
                # The student sees where the lesson they interrupted stopped.
                events.append(("explanation_paused", self._position_of(lesson.parent)))
            fields = {
                "current_question": answer.question_hash,
                "current_step": 0,
                "pause_position": 0,
                "is_paused": False,
                "is_streaming": True,
                "lesson_run": lesson.run,
                "conversation_context": lesson.context,
                "interrupted": lesson.parent,
                "feedback_context": None,
                "last_activity": utcnow_iso(),
            }
            # Unless the lesson moved on in between (then the snapshot is read again).
            expect = {
                "lesson_run": state.lesson_run,
                "current_step": state.current_step,
                "pause_position": state.pause_position,
                "is_streaming": state.is_streaming,
            }
            if self._record(session_id, None, events, fields, expect=expect):
                if answer.draft is not None and self.drafts is not None:
                    # The lesson follows the answer being written, in the asker's place.
                    self.drafts.follow(answer.draft, lesson.explanation_id)
                    if answer.watcher:
                        self.drafts.leave(answer.draft, answer.watcher)
                self._spawn(lesson, answer, 0, 0, True)
                return lesson.explanation_id
        raise InvalidInput("La explicación cambió mientras preguntabas. Vuelve a intentarlo.")

    @staticmethod
    def _snapshot(state: SessionState) -> dict[str, Any]:
        return {
            "current_question": state.current_question,
            "current_step": state.current_step,
            "pause_position": state.pause_position,
            "conversation_context": state.conversation_context,
        }

    @staticmethod
    def _position_of(snapshot: dict[str, Any]) -> dict[str, Any]:
        return {
            "explanation_id": snapshot["conversation_context"].get("explanation_id"),
            "step_number": snapshot["current_step"] + 1,
            "position": snapshot["pause_position"],
        }

    def pause(self, session_id: str) -> None:
        with self._in_order(session_id):
            paused = self._pause(session_id)
        if not paused:
            raise InvalidInput("No hay ninguna explicación en curso que pausar.")

    def hold(self, session_id: str) -> tuple[bool, bool]:
        """The student is about to ask by voice: the lesson, if it streams, is paused as by a
        pause. Returns (paused now, a lesson is on: streaming or paused)."""
        with self._in_order(session_id):
            state = self.sessions.get_session(session_id)
            if state is None:
                raise InvalidInput("Tu sesión expiró. Vuelve a conectarte.")
            lesson_on = state.is_streaming or state.is_paused
            paused = state.is_streaming and not state.is_paused and self._pause(session_id)
        return paused, lesson_on

    def suspend(self, session_id: str) -> None:
        """The student's socket went away: the lesson stops where it is, ready to resume. On
        a greenlet of its own: a socket found dead while an event is being sent to it is
        disconnected by that send, and the sender may hold this session's send lock."""
        self.runtime.spawn(self._suspend, session_id)

    def _suspend(self, session_id: str) -> None:
        try:
            self._pause(session_id)
        except AppError as exc:
            log.warning("could not pause the lesson of session %s: %s", session_id, exc)

    def resume(self, session_id: str) -> None:
        """Continue a paused lesson at its saved character (or one whose process died). While
        a follow-up question's answer streams, go back to the lesson it interrupted."""
        with self._in_order(session_id):
            lesson = self._take_over(session_id)
            if lesson is None and self._settle_pending_pause(session_id):
                lesson = self._take_over(session_id)
            lesson = lesson or self._go_back(session_id)
        if lesson is None:
            raise InvalidInput("No hay ninguna explicación en pausa que continuar.")

    def _settle_pending_pause(self, session_id: str) -> bool:
        """A pause asked for a moment ago takes effect at the lesson's next chunk; a resume
        right behind it waits for that (a few chunk intervals at most). True if one was
        pending."""
        pending = [
            lesson
            for lesson in self._runs.values()
            if lesson.session_id == session_id and lesson.pause_requested and not lesson.finished
        ]
        for _ in range(8):
            if all(lesson.finished for lesson in pending):
                break
            self.runtime.sleep(self.chunk_interval / 2)
        return bool(pending)

    def adopt(self, session_id: str) -> None:
        """A student reconnected here: if their lesson was streaming on a process that has since
        died, continue it here at its saved character once its lease lapses. (While its process
        lives, its events reach the student through the message queue.)"""
        state = self.session_repo.get_session(session_id)
        if state is None or not state.is_streaming or state.is_paused:
            return
        if state.lesson_run in self._runs:
            return
        self.runtime.spawn(self._adopt_orphan, session_id, state.lesson_beat)

    def _adopt_orphan(self, session_id: str, beat: float) -> None:
        try:
            for _ in range(int(LESSON_LEASE_SECONDS * 3)):
                if self._take_over(session_id) is not None:
                    return
                state = self.session_repo.get_session(session_id)
                if (
                    state is None
                    or not state.is_streaming
                    or state.is_paused
                    or state.lesson_beat != beat  # its process is alive and streaming
                ):
                    return
                self.runtime.sleep(0.5)
        except AppError as exc:
            log.warning("could not continue the lesson of session %s: %s", session_id, exc)

    def stop(self, session_id: str) -> None:
        """The student ends the lesson: nothing more is sent and there is nothing to resume."""
        with self._in_order(session_id):
            self._stop(session_id)

    def _stop(self, session_id: str) -> None:
        state = self.sessions.get_session(session_id)
        if state is None or not (state.is_streaming or state.is_paused):
            raise InvalidInput("No hay ninguna explicación que detener.")
        self._cancel_local(state.lesson_run)
        context = state.conversation_context or {}
        self._leave_generation(session_id, context.get("explanation_id"))
        self._record(
            session_id,
            None,
            [
                (
                    "explanation_stopped",
                    {
                        "explanation_id": context.get("explanation_id"),
                        "step_number": state.current_step + 1,
                        "position": state.pause_position,
                    },
                )
            ],
            ENDED,
        )

    def step_in_view(self, session_id: str, *, follow_up: bool) -> dict[str, Any] | None:
        """The step a question asked now would interrupt (the lesson streaming, or paused when
        the question is an `interrupt`): its lesson's hash, number, title and text."""
        state = self.session_repo.get_session(session_id)
        if state is None or not (state.is_streaming or (follow_up and state.is_paused)):
            return None
        explanation_id = (state.conversation_context or {}).get("explanation_id")
        document = (
            self.session_repo.get_lesson_document(session_id, explanation_id)
            if explanation_id
            else None
        )
        if not document or not document.get("steps"):
            return None
        # The step the lesson is at, or, when it waits for the model to write that one, the last
        # step written: the one whose text the student was reading. The lesson's document holds
        # the steps written when it started; the draft, those written since.
        steps, drafts, draft = document["steps"], self.drafts, document.get("draft")
        index = state.current_step if drafts and draft else min(state.current_step, len(steps) - 1)
        step = None
        while step is None and index >= len(steps):
            step = drafts.written_step(draft, index) if drafts and draft else None
            if step is None:
                index -= 1
        if step is None:
            step = steps[index]
        return {
            "question_hash": document["question_hash"],
            "step_number": index + 1,
            "title": step.get("title", ""),
            "content": step.get("content", ""),
        }

    def _leave_generation(self, session_id: str, explanation_id: str | None) -> None:
        """A stopped lesson whose answer is still being written stops following it."""
        if not explanation_id or self.drafts is None:
            return
        document = self.session_repo.get_lesson_document(session_id, explanation_id)
        if document and document.get("draft"):
            self.drafts.leave(document["draft"], explanation_id)

    def lesson_of(self, session_id: str, *, current: bool = False) -> dict[str, Any]:
        """The answer and interaction a student's feedback is about: the lesson that completed
        last (a follow-up's, while the lesson it interrupted waits), else the current one. With
        `current` (feedback on a step), the lesson streaming or paused now, if any."""
        state = self.sessions.get_session(session_id)
        live = state is not None and (state.is_streaming or state.is_paused)
        if state is None:
            context: dict[str, Any] = {}
        elif current and live:
            context = state.conversation_context or {}
        else:
            context = state.feedback_context or state.conversation_context or {}
        if not context.get("answer_id") or not context.get("interaction_id"):
            raise InvalidInput("No hay ninguna explicación sobre la que opinar.")
        return context

    def stop_all(self) -> None:
        """The process is stopping: every lesson stops at its next chunk. Their positions are
        already in their sessions and their leases lapse, so the students resume elsewhere."""
        for lesson in list(self._runs.values()):
            lesson.cancelled = True
        self._runs.clear()

    def hand_off_all(self, timeout: float = 2.0) -> int:
        """The process is stopping gracefully: every lesson streaming here stops at its next
        chunk, its position saved with what it sent, and gives up its lease at once, so the
        student's reconnection to another process goes on from the same character without
        waiting LESSON_LEASE_SECONDS (as after a crash). A lesson that has not announced itself
        yet, and any that starts from now on, is announced paused at its start instead: the
        page resumes it once reconnected elsewhere. Returns how many lessons were handed off."""
        self._handing_off = True
        handed: dict[str, LiveLesson] = {}
        deadline = time.monotonic() + timeout
        while True:
            for lesson in list(self._runs.values()):
                if lesson.last_seq == 0 and lesson.in_flight is None:
                    lesson.pause_requested = True
                else:
                    lesson.cancelled = True
                handed[lesson.run] = lesson
            if all(lesson.finished for lesson in handed.values()):
                break
            if time.monotonic() >= deadline:
                break
            self.runtime.sleep(0.02)
        for lesson in handed.values():
            if not lesson.cancelled:
                continue  # (paused: nothing to give up)
            try:
                # Fenced on its run: a lesson paused, stopped or finished meanwhile is left alone.
                self.session_repo.record_lesson_events(
                    lesson.session_id, [], {"lesson_beat": 0}, expect={"lesson_run": lesson.run}
                )
            except AppError as exc:  # (its lease lapses by itself)
                log.warning("lesson %s not handed off: %s", lesson.explanation_id, exc)
        return len(handed)

    def wait_stopped(self, timeout: float) -> int:
        """Wait, up to `timeout` seconds, for this process's lesson greenlets to end (on a
        stopping process: those begun after the hand-off record their paused start and end).
        How many were still running."""
        deadline = time.monotonic() + timeout
        while self._runs and time.monotonic() < deadline:
            self.runtime.sleep(0.02)
        return len(self._runs)

    # -- taking and releasing a lesson ------------------------------------------------------
    def _pause(self, session_id: str) -> bool:
        """Stop the session's streaming lesson at its next chunk, wherever it runs. False when
        nothing is streaming."""
        for _ in range(3):
            state = self.sessions.get_session(session_id)
            if state is None or not state.is_streaming or state.is_paused:
                return False
            lesson = self._runs.get(state.lesson_run or "")
            if lesson is not None and not lesson.finished:
                lesson.pause_requested = True  # its greenlet stops before its next chunk
                return True
            # Streaming on another process (or one that died): pause it from here, unless it
            # moved on in between, and the fence stops that greenlet at its next event.
            context = state.conversation_context or {}
            paused = self._record(
                session_id,
                None,
                [
                    (
                        "explanation_paused",
                        {
                            "explanation_id": context.get("explanation_id"),
                            "step_number": state.current_step + 1,
                            "position": state.pause_position,
                        },
                    )
                ],
                {"is_paused": True, "is_streaming": False, "lesson_run": None},
                expect={
                    "lesson_run": state.lesson_run,
                    "current_step": state.current_step,
                    "pause_position": state.pause_position,
                    "is_streaming": True,
                },
            )
            if paused:
                return True
        return False

    def _take_over(self, session_id: str) -> LiveLesson | None:
        """Claim the session's paused (or orphaned) lesson for a new greenlet here."""
        run = str(uuid.uuid4())
        state = self.session_repo.claim_lesson(session_id, run, lease_seconds=LESSON_LEASE_SECONDS)
        if state is None:
            return None
        self._cancel_local(None, session_id=session_id)
        context = state.conversation_context or {}
        document = (
            self.session_repo.get_lesson_document(session_id, context["explanation_id"])
            if context.get("explanation_id")
            else None
        )
        if document is None:
            self._record(session_id, None, [], ENDED, expect={"lesson_run": run})
            raise InvalidInput("La explicación en pausa ya no está disponible.")
        answer = StoredAnswer(**document)
        lesson = LiveLesson(
            session_id=session_id,
            explanation_id=context["explanation_id"],
            run=run,
            interaction_id=context.get("interaction_id"),
            answer_id=context.get("answer_id"),
            parent=state.interrupted,
        )
        step, position = state.current_step, state.pause_position
        resumed = (
            "explanation_resumed",
            {
                "explanation_id": lesson.explanation_id,
                "step_number": step + 1,
                "position": position,
            },
        )
        if not self._record(session_id, lesson, [resumed]):
            return None  # taken again in between: that one streams
        self._spawn(lesson, answer, step, position, False)
        return lesson

    def _go_back(self, session_id: str) -> LiveLesson | None:
        """Leave the follow-up question's answer streaming now and continue the lesson it
        interrupted, at its character."""
        state = self.sessions.get_session(session_id)
        if state is None or not state.is_streaming or not state.interrupted:
            return None
        parent = state.interrupted
        context = parent.get("conversation_context") or {}
        document = self.session_repo.get_lesson_document(
            session_id, context.get("explanation_id", "")
        )
        if document is None:
            return None
        lesson = LiveLesson(
            session_id=session_id,
            explanation_id=context["explanation_id"],
            run=str(uuid.uuid4()),
            interaction_id=context.get("interaction_id"),
            answer_id=context.get("answer_id"),
        )
        left = self._snapshot(state)
        events: list[Event] = [
            ("explanation_stopped", self._position_of(left)),
            ("explanation_resumed", self._position_of(parent)),
        ]
        fields = {
            **parent,
            "is_paused": False,
            "is_streaming": True,
            "lesson_run": lesson.run,
            "interrupted": None,
            "feedback_context": None,
        }
        expect = {"lesson_run": state.lesson_run, "is_streaming": True}
        if not self._record(session_id, None, events, fields, expect=expect):
            return None
        self._cancel_local(state.lesson_run)
        self._spawn(
            lesson,
            StoredAnswer(**document),
            parent["current_step"],
            parent["pause_position"],
            False,
        )
        return lesson

    def _cancel_local(self, run: str | None, *, session_id: str | None = None) -> None:
        """Stop this process's greenlet for a run (or every one of a session) right away; the
        fence would stop it at its next event anyway."""
        for lesson in list(self._runs.values()):
            if lesson.run == run or (session_id is not None and lesson.session_id == session_id):
                lesson.cancelled = True

    def _spawn(
        self, lesson: LiveLesson, answer: StoredAnswer, step: int, position: int, fresh: bool
    ) -> None:
        self._runs[lesson.run] = lesson
        if self._handing_off:
            # A lesson starting on a stopping process (its question was being answered when
            # the stop began) is announced paused at its start, to be resumed on another one.
            lesson.pause_requested = True
        self.runtime.spawn(self._run, lesson, answer, step, position, fresh)

    # -- the greenlet ---------------------------------------------------------------------
    def _run(
        self,
        lesson: LiveLesson,
        answer: StoredAnswer,
        first_step: int,
        first_position: int,
        fresh: bool,
    ) -> None:
        LIVE_LESSONS.inc()
        bind_log_ids(session_id=lesson.session_id)  # (a greenlet of its own: its own log ids)
        try:
            self._stream(lesson, answer, first_step, first_position, fresh)
            if fresh and lesson.last_seq == 0 and not lesson.cancelled:
                self._refund_if_dropped(lesson)
        except GenerationFailed as exc:
            log.warning("lesson %s ended: its answer could not be written", lesson.explanation_id)
            self._end_unwritten(lesson, exc)
        except AppError as exc:
            log.warning("lesson %s stopped: %s", lesson.explanation_id, exc)
            self._report(lesson, exc)
        except Exception:
            log.exception("lesson %s failed", lesson.explanation_id)
            self._report(lesson, AppError())
        finally:
            LIVE_LESSONS.dec()
            lesson.finished = True
            self._runs.pop(lesson.run, None)

    def _stream(
        self,
        lesson: LiveLesson,
        answer: StoredAnswer,
        first_step: int,
        first_position: int,
        fresh: bool,
    ) -> None:
        steps = answer.steps
        started = time.monotonic()
        # Announcements wait for the first chunk and go out with it in one atomic record: a
        # lesson taken over in between never announces a step twice.
        pending: list[Event] = []
        if fresh:
            pending.append(
                (
                    "explanation_start",
                    {
                        "explanation_id": lesson.explanation_id,
                        "total_steps": answer.total_steps or len(steps),
                        "estimated_duration": answer.total_duration,
                        "being_written": answer.draft is not None,
                        "question_hash": answer.question_hash,
                        "answer_id": answer.answer_id,
                        "kind": "interruption" if lesson.parent else "lesson",
                        "parent_explanation_id": (
                            lesson.parent["conversation_context"].get("explanation_id")
                            if lesson.parent
                            else None
                        ),
                    },
                )
            )
        index = first_step
        ready = self._step_ready(lesson, answer, index)
        if ready is None:  # paused or stopped while the step was being written
            if not lesson.cancelled:
                self._paused(lesson, index, first_position, pending)
            return
        if not ready:  # the answer ended with the step before (paused at its end)
            self._complete(lesson, answer, pending, [], started)
            return
        while True:
            step = steps[index]
            number = index + 1
            content = step.get("content", "")
            canvas = step.get("canvas") or []
            resume_at = first_position if index == first_step else 0
            if lesson.cancelled:
                return
            if resume_at == 0 and lesson.pause_requested:
                self._paused(lesson, index, 0, pending)  # the step is announced on resume
                return
            if resume_at == 0:
                pending.append(
                    (
                        "step_start",
                        {
                            "explanation_id": lesson.explanation_id,
                            "step_number": number,
                            "title": step.get("title", ""),
                            "content_type": step.get("content_type", "text"),
                            "has_visual": bool(canvas),
                        },
                    )
                )
            step_started = time.monotonic()
            tick = step_started - step_started % TICK_GRID_SECONDS
            ats = [int(command.get("at", 0)) for command in canvas]
            chunks = [c for c in chunks_of(content, self.chunk_chars) if c.end > resume_at]
            for position, chunk in enumerate(chunks):
                if not self._settled(lesson) or lesson.cancelled:
                    return
                # (Not before a step's first chunk: a resume at offset 0 would announce the step
                # again.)
                if lesson.pause_requested and chunk.start > resume_at:
                    self._paused(lesson, index, chunk.start, pending)
                    return
                # A chunk, the drawings due with it and the position after them are one atomic
                # record: a resume after it neither repeats nor skips text or drawings.
                events: list[Event] = [
                    *pending,
                    (
                        "content_chunk",
                        {
                            "explanation_id": lesson.explanation_id,
                            "step_number": number,
                            "chunk": chunk.text,
                            "position": chunk.end,
                            "is_final": position == len(chunks) - 1,
                        },
                    ),
                ]
                events.extend(
                    (
                        "canvas_command",
                        {
                            "explanation_id": lesson.explanation_id,
                            "step_number": number,
                            "command": canvas[command_index],
                        },
                    )
                    for command_index in commands_due(chunk, ats)
                )
                pending = []
                saved = {"current_step": index, "pause_position": chunk.end}
                # Sent by the round trip that records it: the greenlet goes on to sleep, and
                # learns how it went before its next chunk.
                self._submit(lesson, events, saved)
                # A steady cadence: sleep to the next tick, so the time spent sending does not
                # add up; after a stall, carry on from now rather than bursting to catch up.
                tick += self.chunk_interval
                now = time.monotonic()
                if tick < now - self.chunk_interval:
                    tick = now
                self.runtime.sleep(max(0.0, tick - now))
            if not self._settled(lesson) or lesson.cancelled:
                return
            complete: Event = (
                "step_complete",
                {
                    "explanation_id": lesson.explanation_id,
                    "step_number": number,
                    "duration_actual": int((time.monotonic() - step_started) * 1000),
                },
            )
            ready = self._step_ready(lesson, answer, index + 1)
            if ready:
                pending.append(complete)  # sent with the next step's first chunk
                index += 1
                continue
            if ready is None:  # paused or stopped while the next step was being written
                if not lesson.cancelled:
                    self._paused(lesson, index + 1, 0, [*pending, complete])
                return
            self._complete(lesson, answer, pending, [complete], started)
            return

    def _step_ready(self, lesson: LiveLesson, answer: StoredAnswer, index: int) -> bool | None:
        """Whether the answer has a step at `index`, waiting for it while the answer is being
        written; None when the lesson was paused or stopped meanwhile."""
        if answer.draft is None or self.drafts is None:
            return index < len(answer.steps)
        # The lesson's document holds the steps written when it started; a resumed or taken
        # over lesson fetches those written since, in order.
        while len(answer.steps) <= index:
            step = self.drafts.wait_step(
                answer.draft,
                len(answer.steps),
                stop=lambda: lesson.cancelled or lesson.pause_requested,
            )
            if step is False:
                return None
            if not isinstance(step, dict):
                return False
            answer.steps.append(step)
        return True

    def _complete(
        self,
        lesson: LiveLesson,
        answer: StoredAnswer,
        pending: list[Event],
        last: list[Event],
        started: float,
    ) -> None:
        if answer.draft is not None and self.drafts is not None:
            # Stored by now: its id as stored (an answer being rewritten keeps its row's id).
            answer = replace(
                answer, answer_id=self.drafts.answer_id(answer.draft) or answer.answer_id
            )
        complete = self.complete_interaction
        if lesson.interaction_id and complete is not None:
            # Recorded before the student is told the lesson is done; a store that is down for
            # a moment (a failover, a restart) is waited for rather than reported.
            interaction_id, answer_id = lesson.interaction_id, answer.answer_id
            self._retrying(lambda: complete(interaction_id, answer_id))
        self._record(
            lesson.session_id,
            lesson,
            [
                *pending,
                *last,
                (
                    "explanation_complete",
                    {
                        "explanation_id": lesson.explanation_id,
                        "total_duration": int((time.monotonic() - started) * 1000),
                        "steps_completed": len(answer.steps),
                    },
                ),
                (
                    "feedback_request",
                    {
                        "explanation_id": lesson.explanation_id,
                        "answer_id": answer.answer_id,
                    },
                ),
                *self._offer_to_continue(lesson),
            ],
            self._after(lesson),
        )

    def _retrying(self, write: Callable[[], Any]) -> Any:
        """Run `write`, again after a backoff while a store is unavailable, for up to about
        STORE_RETRY_SECONDS; then its ServiceUnavailable stands."""
        delay, waited = 0.25, 0.0
        while True:
            try:
                return write()
            except ServiceUnavailable:
                if waited + delay > STORE_RETRY_SECONDS:
                    raise
                self.runtime.sleep(delay)
                waited += delay
                delay = min(delay * 2, 2.0)

    def _refund_if_dropped(self, lesson: LiveLesson) -> None:
        """A new lesson fenced out before it announced anything: when another question of the
        student's took its place (a burst, a double tap) and it is not kept to go back to, the
        student never sees it and is not charged for it."""
        if not lesson.interaction_id or self.refund_interaction is None:
            return
        state = self.session_repo.get_session(lesson.session_id)
        if state is not None:
            current = (state.conversation_context or {}).get("explanation_id")
            parent = ((state.interrupted or {}).get("conversation_context") or {}).get(
                "explanation_id"
            )
            if lesson.explanation_id in (current, parent):
                return  # (paused, or waiting to be gone back to: it will be seen)
        log.info("lesson %s replaced before it started: refunded", lesson.explanation_id)
        self.refund_interaction(lesson.interaction_id, "replaced by a newer question")

    def _end_unwritten(self, lesson: LiveLesson, exc: GenerationFailed) -> None:
        """The answer being written failed after what the student saw: the lesson ends there
        (nothing to resume) and its charge is given back. A lesson stopped, paused or taken
        over meanwhile is not this greenlet's to end: it says nothing."""
        try:
            state = self.session_repo.get_session(lesson.session_id)
            if state is None or state.lesson_run != lesson.run:
                return
        except AppError:
            pass  # (Redis is failing: refund, and tell the student directly)
        # Given back before the student is told, so what they see next is their balance.
        if lesson.interaction_id and self.refund_interaction is not None:
            self.refund_interaction(lesson.interaction_id, "the answer could not be written")
        try:
            self._record(
                lesson.session_id,
                lesson,
                [("error", exc.to_payload())],
                self._after_failure(lesson),
            )
        except AppError:
            self._send_unrecorded(lesson.session_id, "error", exc.to_payload())

    def _after_failure(self, lesson: LiveLesson) -> dict[str, Any]:
        if lesson.parent is None:
            return dict(ENDED)
        return {**self._after(lesson), "feedback_context": None}

    # -- helpers --------------------------------------------------------------------------
    def _offer_to_continue(self, lesson: LiveLesson) -> list[Event]:
        if lesson.parent is None:
            return []
        return [
            (
                "continue_offer",
                {**self._position_of(lesson.parent), "message": CONTINUE_MESSAGE},
            )
        ]

    def _after(self, lesson: LiveLesson) -> dict[str, Any]:
        """The session once the lesson has completed: feedback is about it, and a follow-up's
        end leaves the lesson it interrupted paused where it was, ready to resume."""
        if lesson.parent is None:
            return {**ENDED, "feedback_context": lesson.context}
        return {
            **lesson.parent,
            "is_paused": True,
            "is_streaming": False,
            "lesson_run": None,
            "interrupted": None,
            "feedback_context": lesson.context,
        }

    def _report(self, lesson: LiveLesson, exc: AppError) -> None:
        """Tell the student the lesson stopped, and leave it paused where it is: whatever was
        recorded but not sent (a reply lost in a timeout) is sent first, so a resume continues
        exactly after what the student saw. When Redis does not answer, the error goes out
        unrecorded and the pause is recorded once Redis is back (within STORE_RETRY_SECONDS;
        after that its lease has lapsed and a resume takes the lesson over anyway)."""
        try:
            self._report_paused(lesson, exc)
        except AppError:
            self._send_unrecorded(lesson.session_id, "error", exc.to_payload())
            waited = 0.0
            while waited < STORE_RETRY_SECONDS:
                self.runtime.sleep(0.5)
                waited += 0.5
                try:
                    self._report_paused(lesson, None)
                    return
                except AppError:
                    continue

    def _report_paused(self, lesson: LiveLesson, exc: AppError | None) -> None:
        state = self.session_repo.get_session(lesson.session_id)
        # (From the start of the kept events when this greenlet sent none: its first
        # record, with the lesson's announcements, may have been kept and not sent.)
        unsent = [
            (event, payload)
            for event, payload in self.session_repo.lesson_events_after(
                lesson.session_id, lesson.last_seq
            )
            if payload.get("explanation_id") == lesson.explanation_id
        ]
        # By the route the lesson's events take, before the events recorded next.
        with self._send_locks.held(lesson.session_id):
            for event, payload in unsent:
                self.runtime.emit_to_session(
                    lesson.session_id,
                    event,
                    compact_json(payload),
                    connection_id=state.connection_id if state else None,
                )
        events: list[Event] = [("error", exc.to_payload())] if exc is not None else []
        if state is None or state.lesson_run != lesson.run:
            if events:  # taken over (or ended) meanwhile: only the error is news
                self._record(lesson.session_id, None, events)
            return
        events.append(("explanation_paused", self._position_of(self._snapshot(state))))
        paused = self._record(
            lesson.session_id,
            None,
            events,
            {"is_paused": True, "is_streaming": False, "lesson_run": None},
            expect={"lesson_run": lesson.run},
        )
        if not paused and exc is not None:  # taken over meanwhile: only the error is news
            self._record(lesson.session_id, None, events[:1])

    def _send_unrecorded(self, session_id: str, event: str, payload: dict[str, Any]) -> None:
        """Tell the student something Redis could not record (no seq), by every route."""
        self.runtime.emit_to_session(session_id, event, compact_json(payload), connection_id=None)

    def _paused(
        self, lesson: LiveLesson, step_index: int, position: int, pending: list[Event]
    ) -> None:
        self._record(
            lesson.session_id,
            lesson,
            [
                *pending,
                (
                    "explanation_paused",
                    {
                        "explanation_id": lesson.explanation_id,
                        "step_number": step_index + 1,
                        "position": position,
                    },
                ),
            ],
            {
                "current_step": step_index,
                "pause_position": position,
                "is_paused": True,
                "is_streaming": False,
                "lesson_run": None,
            },
        )

    def _record(
        self,
        session_id: str,
        lesson: LiveLesson | None,
        events: list[Event],
        session_fields: dict[str, Any] | None = None,
        *,
        expect: dict[str, Any] | None = None,
    ) -> bool:
        """Record events (and session fields) and send them to the student. A lesson's events
        are fenced by its run: once the lesson was paused, stopped or taken over, nothing is
        recorded or sent and the greenlet is told to stop (False)."""
        if lesson is not None:
            self._submit(lesson, events, session_fields)
            return self._settled(lesson)
        encoded = self._encode(events)
        with self._send_locks.held(session_id):
            recorded = self.session_repo.record_lesson_events(
                session_id, encoded, session_fields, expect=expect
            )
            if recorded is None:
                return False
            self._send(session_id, events, encoded, recorded)
        return True

    @staticmethod
    def _encode(events: list[Event]) -> list[LessonEvent]:
        # Each payload is encoded once: recorded as it is, sent with its seq spliced in.
        return [(event, compact_json(payload)) for event, payload in events]

    def _send(
        self,
        session_id: str,
        events: list[Event],
        encoded: list[LessonEvent],
        recorded: RecordedEvents,
    ) -> None:
        for (event, payload), (_, data), seq in zip(events, encoded, recorded.seqs, strict=True):
            payload["seq"] = seq
            self.runtime.emit_to_session(
                session_id, event, _with_seq(str(data), seq), connection_id=recorded.connection_id
            )

    def _submit(
        self, lesson: LiveLesson, events: list[Event], session_fields: dict[str, Any] | None
    ) -> None:
        """Hand a lesson's events to the next round trip, which records and sends them
        together with the other lessons' due now (see `_flush`). One at a time per lesson:
        the previous one is settled first."""
        if lesson.in_flight is not None:
            self._settled(lesson)
        now = time.monotonic()
        renew = now - lesson.renewed_at >= LEASE_RENEWAL_SECONDS
        if renew:
            lesson.renewed_at = now
        record = _LessonRecord(lesson, events, self._encode(events), session_fields, renew)
        with self._batch_lock:
            batch = self._batch
            if batch is None:
                batch = self._batch = _RecordBatch(done=self.runtime.event())
                self.runtime.spawn(self._flush, batch)
            batch.records.append(record)
        record.done = batch.done
        lesson.in_flight = record

    def _settled(self, lesson: LiveLesson) -> bool:
        """Wait for the lesson's record in flight, if any: False when it was fenced out (the
        lesson was paused, stopped or taken over), its failure raised."""
        record = lesson.in_flight
        if record is None:
            return True
        if record.outcome is None:
            record.done.wait()
        lesson.in_flight = None
        if record.outcome is None:  # (the round trip was interrupted before its outcome)
            raise AppError()
        if isinstance(record.outcome, Exception):
            # (each lesson its own copy, with its own traceback)
            raise copy.copy(record.outcome) from record.outcome
        if not record.outcome:
            lesson.cancelled = True
        return bool(record.outcome)

    def _flush(self, batch: _RecordBatch) -> None:
        """One round trip for the records of many lessons, then each one sent. The sessions'
        send locks are held from before the round trip until their events are sent, so each
        session's events leave this process in seq order."""
        with self._batch_lock:
            if self._batch is batch:
                self._batch = None  # records from now on go to the next round trip
        # (In one order, so that two round trips in flight never wait on each other.)
        sessions = sorted({record.lesson.session_id for record in batch.records})
        held: list[str] = []
        try:
            for session_id in sessions:
                self._send_locks.acquire(session_id)
                held.append(session_id)
            try:
                results = self.session_repo.record_lesson_events_many(
                    [record.as_record() for record in batch.records]
                )
            except Exception as exc:  # noqa: BLE001 - every lesson waiting gets the failure
                for record in batch.records:
                    record.outcome = exc
                return
            for record, recorded in zip(batch.records, results, strict=True):
                if recorded is None or isinstance(recorded, Exception):
                    record.outcome = recorded if recorded is not None else False
                    continue
                try:
                    self._send(record.lesson.session_id, record.events, record.encoded, recorded)
                except Exception as exc:  # noqa: BLE001 - that lesson reports it and resends
                    record.outcome = exc
                    continue
                if recorded.seqs:
                    record.lesson.last_seq = recorded.seqs[-1]
                record.outcome = True
        finally:
            for session_id in held:
                self._send_locks.release(session_id)
            batch.done.set()

    def missed_events(self, session_id: str, last_seq: int) -> list[tuple[str, dict[str, Any]]]:
        """What a client that saw events up to `last_seq` missed (kept for the session's TTL)."""
        return self.session_repo.lesson_events_after(session_id, last_seq)
