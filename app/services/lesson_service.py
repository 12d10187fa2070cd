"""A question asked over Socket.IO, from the question to the lesson: the doubt about the step in
view when a lesson is on, the question pipeline (stored, rephrased or written now, charged),
then the lesson's stream; a charge for a lesson that cannot start is given back."""

from __future__ import annotations

import time
from collections.abc import Callable

from app.auth.verifier import Principal
from app.errors import AiUnavailable, AppError
from app.models.ask import AskRequest
from app.services.question_service import QuestionService
from app.services.streaming_service import StreamingService


class LessonService:
    def __init__(self, *, questions: QuestionService, streaming: StreamingService):
        self.questions = questions
        self.streaming = streaming
        self._answering = 0  # questions of this process between their arrival and their lesson

    def wait_answered(self, timeout: float, sleep: Callable[[float], None]) -> int:
        """The process is stopping: give the questions being answered up to `timeout` seconds
        to start their lessons (announced paused, to be resumed elsewhere). How many were
        still being answered."""
        deadline = time.monotonic() + timeout
        while self._answering and time.monotonic() < deadline:
            sleep(0.05)
        return self._answering

    def ask(
        self,
        principal: Principal,
        request: AskRequest,
        *,
        session_id: str,
        follow_up: bool,
        waiting: Callable[[str], None],
    ) -> str:
        """Answer a question as a lesson; its explanation id. Asked while a lesson streams (or,
        as a `follow_up`, while one is paused), it interrupts that lesson, which waits at its
        character. `waiting(category)` shows a waiting phrase: `searching` the store,
        `thinking` while the answer is written, `problem` when the AI provider fails."""
        self._answering += 1
        try:
            return self._ask(principal, request, session_id, follow_up, waiting)
        finally:
            self._answering -= 1

    def _ask(
        self,
        principal: Principal,
        request: AskRequest,
        session_id: str,
        follow_up: bool,
        waiting: Callable[[str], None],
    ) -> str:
        # A question asked during a lesson is a doubt about the step in view.
        step = self.streaming.step_in_view(session_id, follow_up=follow_up)
        try:
            charged = self.questions.answer_and_charge(
                principal,
                request,
                session_id=session_id,
                completed=False,
                on_lookup=lambda: waiting("searching"),
                on_generate=lambda: waiting("thinking"),
                follow_up_of=step,
            )
        except AiUnavailable as exc:
            if (exc.details or {}).get("reason") == "provider":
                waiting("problem")  # the seed's phrase, then the error with similar questions
            raise
        try:
            explanation_id = self.streaming.start(
                session_id,
                charged.answer,
                interaction_id=charged.interaction_id,
                follow_up=follow_up,
            )
        except AppError:
            # Charged, but the lesson could not start (the session expired, Redis failed).
            self.questions.refund(principal.user_id, charged, "the lesson could not start")
            raise
        if not charged.later:  # (a charge taken later counts the use with it)
            self.questions.count_use(charged.answer)  # (while the lesson's first chunk goes out)
        return explanation_id
