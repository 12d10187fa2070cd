"""ask_question and interrupt (thin: validate, run the question pipeline, start the lesson
stream)."""

from __future__ import annotations

from flask import current_app
from flask_socketio import SocketIO, emit
from pydantic import BaseModel, ConfigDict, Field

from app.controllers.validation import parse_model
from app.errors import AiUnavailable, AppError
from app.models.ask import HAS_LETTER_OR_DIGIT, MAX_CONTEXT_BYTES, AskRequest
from app.socket_events.connection import current_socket
from app.utils.phrases import ESTIMATED_MS, pick_phrase


class AskQuestionIn(BaseModel):
    """The seed's `ask_question {question, context?}`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    question: str = Field(min_length=1, max_length=20_000, pattern=HAS_LETTER_OR_DIGIT)
    context: dict | None = Field(default=None, description=f"under {MAX_CONTEXT_BYTES} bytes")


def register_question_handlers(socketio: SocketIO) -> None:
    @socketio.on("ask_question")
    def on_ask_question(data=None):
        ask(data, follow_up=False)

    @socketio.on("interrupt")
    def on_interrupt(data=None):
        ask(data, follow_up=True)


def ask(data: object, *, follow_up: bool) -> None:
    """A question streamed as a lesson. Asked while a lesson streams (or, as an `interrupt`,
    while one is paused), its answer interrupts that lesson, which waits at its character."""
    socket = current_socket(fresh_token=True)
    body = parse_model(AskQuestionIn, data)
    request = parse_model(AskRequest, body.model_dump(exclude_none=True))
    container = current_app.extensions["pizarra"]

    def waiting(category: str = "searching") -> None:
        phrase = pick_phrase(category, socket.last_phrase)
        socket.last_phrase = phrase
        emit(
            "waiting_phrase",
            {"phrase": phrase, "category": category, "estimated_time": ESTIMATED_MS[category]},
        )

    # A question asked during a lesson is a doubt about the step in view.
    step = container.streaming.step_in_view(socket.session_id, follow_up=follow_up)
    try:
        charged = container.questions_pipeline.answer_and_charge(
            socket.principal,
            request,
            session_id=socket.session_id,
            completed=False,
            on_lookup=waiting,
            on_generate=lambda: waiting("thinking"),
            follow_up_of=step,
        )
    except AiUnavailable as exc:
        if (exc.details or {}).get("reason") == "provider":
            waiting("problem")  # the seed's phrase, then the error with similar questions
        raise
    try:
        container.streaming.start(
            socket.session_id,
            charged.answer,
            interaction_id=charged.interaction_id,
            follow_up=follow_up,
        )
    except AppError:
        # Charged, but the lesson could not start (the session expired, Redis failed).
        container.questions_pipeline.refund(socket.user_id, charged, "the lesson could not start")
        raise
